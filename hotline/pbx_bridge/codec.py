"""Sans-I/O AMI codec: bytes in -> whole messages out; actions in -> checked bytes out.

No sockets here (the h11 way): :class:`AmiFramer` is fed whatever ``recv()`` returned and hands
back complete messages, so a UTF-8 character split across two reads is decoded whole (panoramisk
1.4 decodes every chunk on its own with ``errors='ignore'`` and silently loses it).  Headers keep
their wire order and their repeats: Asterisk repeats ``Channel``/``Uniqueid`` inside one
``UserEvent``, and a dict would keep the wrong one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from hotline.pbx_bridge.errors import AmiError

BANNER_PREFIX = b"Asterisk Call Manager/"
FRAME_END = b"\r\n\r\n"
#: A message larger than this without a terminator is garbage; drop it and resynchronise.
DEFAULT_MAX_FRAME = 256 * 1024

_KEY_RE = re.compile(r"[A-Za-z0-9_\-]+\Z")
_FORBIDDEN = ("\r", "\n", "\x00")


class AmiProtocolError(AmiError):
    """Base of every AMI-level error."""


class RemoteProtocolError(AmiProtocolError):
    """The peer sent something that is not AMI (oversized frame, garbage)."""


class LocalProtocolError(AmiProtocolError):
    """We were about to send something that must not go on the wire."""


class HeaderInjectionError(LocalProtocolError):
    """A header key or value holds CR, LF or NUL (or the key is not a header name).

    Nothing is sent: a caller name such as ``"x\\r\\nAction: Originate"`` must never become a
    second action.
    """

    def __init__(self, action: str, key: str, reason: str) -> None:
        super().__init__(f"refusing to send {action}: header {key!r} {reason}")
        self.action = action
        self.key = key
        self.reason = reason


@dataclass(frozen=True, slots=True)
class AmiMessage:
    """One decoded AMI message (event or response), headers in wire order, repeats kept."""

    headers: tuple[tuple[str, str], ...]
    #: True when the bytes were not valid UTF-8 and had to be decoded otherwise.
    recoded: bool = False

    def get(self, key: str, default: str = "") -> str:
        """The first value of ``key`` (exact spelling), or ``default``."""
        for k, v in self.headers:
            if k == key:
                return v
        return default

    def get_any(self, *keys: str, default: str = "") -> str:
        """The first value of the first of ``keys`` present (events spell keys differently)."""
        for key in keys:
            for k, v in self.headers:
                if k == key:
                    return v
        return default

    def get_all(self, key: str) -> list[str]:
        """Every value of ``key``, in wire order."""
        return [v for k, v in self.headers if k == key]

    def get_last(self, key: str, default: str = "") -> str:
        """The last value of ``key`` (for repeated headers, the user-supplied one)."""
        found = default
        for k, v in self.headers:
            if k == key:
                found = v
        return found

    def __contains__(self, key: object) -> bool:
        return any(k == key for k, _ in self.headers)

    @property
    def event(self) -> str | None:
        """The event name, or None for a response."""
        first_key, first_value = self.headers[0] if self.headers else ("", "")
        if first_key == "Event":
            return first_value
        value = self.get("Event")
        return value or None

    @property
    def response(self) -> str | None:
        """The response status (Success, Error, Goodbye, ...), or None for an event."""
        value = self.get("Response")
        return value or None

    @property
    def action_id(self) -> str | None:
        """The ActionID this message answers, if any."""
        value = self.get("ActionID")
        return value or None


def frame_name(frame: bytes) -> bytes:
    """The event or response name of a raw frame, without decoding the rest (the hot path)."""
    if frame.startswith(b"Event: "):
        end = frame.find(b"\r\n")
        return frame[7:end] if end >= 0 else frame[7:]
    if frame.startswith(b"Response: "):
        return b"Response"
    return b""


def decode_frame(frame: bytes) -> AmiMessage:
    """Decode one whole frame (without its terminating blank line) into an :class:`AmiMessage`.

    UTF-8 first; bytes that are not UTF-8 are tried as GB18030 (older Chinese PBX setups), and
    as a last resort decoded with replacement characters.  It never raises.
    """
    recoded = False
    try:
        text = frame.decode("utf-8")
    except UnicodeDecodeError:
        recoded = True
        try:
            text = frame.decode("gb18030")
        except UnicodeDecodeError:
            text = frame.decode("utf-8", "replace")
    headers: list[tuple[str, str]] = []
    for line in text.split("\r\n"):
        key, sep, value = line.partition(": ")
        if not sep:
            key, sep, value = line.partition(":")
            if not sep:
                if line:
                    headers.append(("", line))  # body line of a Follows response
                continue
        headers.append((key, value))
    return AmiMessage(tuple(headers), recoded)


class AmiFramer:
    """Splits a byte stream into whole AMI frames.

    Feed it bytes exactly as they arrived; it returns complete frames (bytes, terminator
    removed).  The banner line is taken off the front and kept in :attr:`banner`.
    """

    __slots__ = ("_buffer", "_max_frame", "banner", "dropped_bytes")

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        self._buffer = b""
        self._max_frame = max_frame
        self.banner: str | None = None
        self.dropped_bytes = 0

    def feed(self, data: bytes) -> list[bytes]:
        """Add received bytes; return the frames they complete.

        Raises :class:`RemoteProtocolError` (after dropping the junk, so the framer stays
        usable) when more than ``max_frame`` bytes arrive without a frame end.
        """
        buffer = self._buffer + data if self._buffer else data
        if self.banner is None:
            line_end = buffer.find(b"\r\n")
            if line_end < 0:
                if len(buffer) > self._max_frame:
                    self._buffer = b""
                    self.dropped_bytes += len(buffer)
                    raise RemoteProtocolError("no AMI banner within the first frame limit")
                self._buffer = buffer
                return []
            first = buffer[:line_end]
            if first.startswith(BANNER_PREFIX):
                self.banner = first.decode("utf-8", "replace")
                buffer = buffer[line_end + 2 :]
            else:
                self.banner = ""
        frames = buffer.split(FRAME_END)
        rest = frames.pop()
        if len(rest) > self._max_frame:
            self._buffer = b""
            self.dropped_bytes += len(rest)
            raise RemoteProtocolError(f"frame larger than {self._max_frame} bytes without an end; dropped")
        self._buffer = rest
        # A stray blank line between frames yields an empty or CRLF-led frame; Asterisk
        # itself ignores it.  The common case (no stray line) costs one slice test per frame.
        if all(f[:1] not in (b"\r", b"\n", b"") for f in frames):
            return frames
        return [g for g in (f.lstrip(b"\r\n") for f in frames) if g.strip(b"\r\n")]

    @property
    def pending(self) -> int:
        """Bytes held waiting for the rest of their frame."""
        return len(self._buffer)


def check_header(action: str, key: str, value: str) -> None:
    """Raise :class:`HeaderInjectionError` unless ``key: value`` is one safe header line."""
    if not isinstance(key, str) or not _KEY_RE.match(key):
        raise HeaderInjectionError(action, str(key), "is not a valid header name")
    if not isinstance(value, str):
        raise HeaderInjectionError(action, key, f"value is {type(value).__name__}, not str")
    for bad in _FORBIDDEN:
        if bad in value:
            raise HeaderInjectionError(action, key, f"value contains {bad!r}")


def encode_action(action: str, action_id: str, headers: Sequence[tuple[str, str]] = ()) -> bytes:
    """Encode an action; every key and value is checked before a single byte is produced."""
    check_header(action, "Action", action)
    check_header(action, "ActionID", action_id)
    for key, value in headers:
        check_header(action, key, value)
    lines = [f"Action: {action}", f"ActionID: {action_id}"]
    lines.extend(f"{key}: {value}" for key, value in headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


def encode_message(headers: Iterable[tuple[str, str]]) -> bytes:
    """Encode an event or response as Asterisk does (used by the simulator)."""
    return ("".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n").encode("utf-8")
