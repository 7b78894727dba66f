"""Reading the text data files an office edits (taxonomy, department registry), whatever Excel
saved them as.  Pure apart from reading the file.

A file is read as UTF-8 (with or without a byte-order mark) or, when it is not UTF-8, as GB18030
(the superset of GBK and GB2312 that Excel writes on a Chinese Windows).  Anything else — a file
that is UTF-8 up to a stray byte, UTF-16, binary — is refused naming the file and the line.
"""

from __future__ import annotations

import codecs
from pathlib import Path

from hotline.tickets.errors import TicketError

UTF8 = "utf-8"
UTF8_BOM = "utf-8-sig"
GB18030 = "gb18030"


class DataFileError(TicketError):
    """A data file that cannot be read or decoded (names the file and, when known, the line)."""

    def __init__(self, path: str, problem: str, line: int | None = None) -> None:
        where = f"{path}: line {line}" if line is not None else path
        super().__init__(f"{where}: {problem}")
        self.path = path
        self.problem = problem
        self.line = line


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def decode_data(data: bytes, source: str) -> tuple[str, str]:
    """``(text, encoding)`` of a data file's bytes, or :class:`DataFileError`."""
    if data.startswith(codecs.BOM_UTF8):
        try:
            return data[len(codecs.BOM_UTF8) :].decode(UTF8), UTF8_BOM
        except UnicodeDecodeError as exc:
            raise DataFileError(
                source, f"not valid UTF-8 (byte 0x{data[exc.start + 3]:02x})", _line_of(data, exc.start + 3)
            ) from exc
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise DataFileError(source, "UTF-16 text: save it as UTF-8 or GB18030/GBK (CSV)", 1)
    nul = data.find(b"\0")
    if nul >= 0:
        raise DataFileError(source, "not a text file (NUL byte)", _line_of(data, nul))
    try:
        return data.decode(UTF8), UTF8
    except UnicodeDecodeError as exc:
        first_bad = exc.start
        if any(b >= 0x80 for b in data[:first_bad]):
            # Chinese text in UTF-8 before the bad byte: a damaged UTF-8 file, not a GBK one.
            raise DataFileError(
                source, f"not valid UTF-8 (byte 0x{data[first_bad]:02x})", _line_of(data, first_bad)
            ) from exc
    try:
        return data.decode(GB18030), GB18030
    except UnicodeDecodeError as exc:
        raise DataFileError(
            source,
            f"neither UTF-8 nor GB18030/GBK text (byte 0x{data[exc.start]:02x})",
            _line_of(data, exc.start),
        ) from exc


def read_data_file(path: Path) -> tuple[str, str]:
    """``(text, encoding)`` of a data file, or :class:`DataFileError` (unreadable, undecodable)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataFileError(str(path), f"cannot read: {exc.strerror or exc}") from exc
    return decode_data(data, str(path))
