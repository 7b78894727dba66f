"""Where the real Asterisk captures live, and how to read them as they arrived."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

_DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "ami-transcripts"
TRANSCRIPTS = Path(os.environ.get("HOTLINE_TRANSCRIPTS", _DEFAULT))


def transcript_files() -> list[Path]:
    """Every ``*.recv.ami`` capture; a new one dropped in the folder is picked up."""
    return sorted(TRANSCRIPTS.glob("*.recv.ami"))


def require_transcripts() -> None:
    if not transcript_files():
        pytest.skip(f"no AMI captures at {TRANSCRIPTS} (set HOTLINE_TRANSCRIPTS)")


def recv_chunks(path: Path) -> list[bytes]:
    """The capture cut into the ``recv()`` chunks it really arrived in (from the index file)."""
    data = path.read_bytes()
    index = path.with_name(path.name.replace(".recv.ami", ".recv-index.tsv"))
    if not index.exists():
        return [data]
    chunks: list[bytes] = []
    for line in index.read_text().splitlines():
        parts = line.split("\t")
        if len(parts) < 4 or not parts[2].isdigit():
            continue  # the header line
        offset, length = int(parts[2]), int(parts[3])
        chunks.append(data[offset : offset + length])
    assert b"".join(chunks) == data, f"index of {path.name} does not cover the capture"
    return chunks
