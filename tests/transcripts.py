"""Where the real Asterisk captures live, and how to read them as they arrived.

The captures are read from ``../shared/ami-transcripts`` (or ``$AMI_CAPTURES_DIR``) when that
folder exists, so a capture dropped there is picked up without code changes; ``tests/captures``
holds a copy of them, so a clone on its own (CI) replays them too.  A capture in the shared folder
wins over the copy of the same name.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

_SHARED = Path(__file__).resolve().parents[2] / "shared" / "ami-transcripts"
#: The shared folder of captures (may not exist on a machine with only the repository).
TRANSCRIPTS = Path(os.environ.get("AMI_CAPTURES_DIR", _SHARED))
#: The copy kept in the repository.
VENDORED = Path(__file__).resolve().parent / "captures"


def _folders() -> list[Path]:
    return [folder for folder in (TRANSCRIPTS, VENDORED) if folder.is_dir()]


def capture(name: str) -> Path:
    """The file ``name`` (``03-inbound-to-agent.recv.ami``...) from the first folder that has it."""
    for folder in _folders():
        if (folder / name).exists():
            return folder / name
    pytest.skip(f"no capture {name} in {TRANSCRIPTS} or {VENDORED}")


#: Sub-folders of captures taken on other PBX set-ups (``pjsip/``: real SIP softphones).
SUBFOLDERS = ("pjsip",)


def transcript_files() -> list[Path]:
    """Every ``*.recv.ami`` capture (top level and :data:`SUBFOLDERS`), each name once; a new one
    dropped in a folder is picked up."""
    found: dict[str, Path] = {}
    for folder in _folders():
        for sub in ("", *SUBFOLDERS):
            for path in sorted((folder / sub).glob("*.recv.ami")):
                found.setdefault(f"{sub}/{path.name}" if sub else path.name, path)
    return [found[name] for name in sorted(found)]


def require_transcripts() -> None:
    if not transcript_files():
        pytest.skip(f"no AMI captures at {TRANSCRIPTS} or {VENDORED} (set AMI_CAPTURES_DIR)")


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
