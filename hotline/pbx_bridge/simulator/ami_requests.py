"""Reading AMI requests the way Asterisk's manager does.

Lines end in ``\\n`` or ``\\r\\n``, a blank line ends a request, keys match in any case and
values lose their leading blanks (``astman_get_header``).
"""

from __future__ import annotations

from hotline.pbx_bridge.codec import AmiMessage
from hotline.pbx_bridge.simulator.model import Headers

#: A request line longer than this is dropped, as Asterisk does.
MAX_LINE = 64 * 1024


class RequestReader:
    """Splits client bytes into requests the way Asterisk does: lines, a blank line ends one."""

    __slots__ = ("_buffer", "_lines")

    def __init__(self) -> None:
        self._buffer = b""
        self._lines: list[bytes] = []

    def feed(self, data: bytes) -> list[list[bytes]]:
        parts = (self._buffer + data).split(b"\n")
        self._buffer = parts.pop()
        if len(self._buffer) > MAX_LINE:
            self._buffer = b""
        requests: list[list[bytes]] = []
        for raw in parts:
            line = raw.rstrip(b"\r")
            if line:
                if len(line) <= MAX_LINE:
                    self._lines.append(line)
            else:
                # Even a blank line with nothing before it is a (headerless) request.
                requests.append(self._lines)
                self._lines = []
        return requests


def header(msg: AmiMessage, key: str) -> str:
    """Asterisk's ``astman_get_header``: key in any case, value without leading blanks."""
    wanted = key.lower()
    for k, v in msg.headers:
        if k.lower() == wanted:
            return v.strip()
    return ""


def header_all(msg: AmiMessage, key: str) -> list[str]:
    """Every value of ``key`` (in any case), without leading blanks."""
    wanted = key.lower()
    return [v.strip() for k, v in msg.headers if k.lower() == wanted]


def action_id_headers(action_id: str | None) -> Headers:
    """The ``ActionID`` header of a reply, or none when the request had none."""
    return [("ActionID", action_id)] if action_id is not None else []
