"""Structured logging: one JSON object per line on stdout, personal data masked.

Every line has ``timestamp`` (ISO 8601, UTC), ``level``, ``event`` and whatever context is bound
with ``structlog.contextvars`` (``call_id``, ``agent_id``, ``ticket_id``).  The masking processor
runs last before rendering, on every value of every line, so a phone number or a caller name is
masked whatever key it hides under.
"""

from __future__ import annotations

import functools
import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

# Chinese numbers in the spellings people and PBXs use.  Mobiles (11 digits, 1[3-9]...) may carry a
# country code (+86, 0086 or a bare 86) or a trunk prefix 0, and may be grouped 3-4-4 with dashes
# or spaces ("138-0000-0001", "138 0000 0001").  Landlines need an area code (0 + 2-3 digits,
# possibly in parentheses, or after +86/0086 without its 0) and a local number of 7-8 digits that
# does not start with 0 or 1.  A number must stand alone: no digit right before it (nor a digit
# and a dot) and no digit (nor a dot and a digit) right after it, so Uniqueids ("1795839282.2"),
# epoch timestamps, ISO timestamps and ticket numbers ("12345-20261128-000042") are left alone.
_PHONE_RE = re.compile(
    r"(?<!\d)(?<!\d\.)"
    r"(?:"
    r"(?P<mpre>(?:\+|00)?86[- ]?|0)?(?P<mobile>1[3-9]\d[- ]?\d{4}[- ]?\d{4})"
    r"|(?P<lpre>(?:\+|00)86[- ]?[(（]?0?[1-9]\d{1,2}[)）]?[- ]?"
    r"|[(（]0[1-9]\d{1,2}[)）] ?"
    r"|0[1-9]\d{1,2}[- ]?)"
    r"(?P<local>[2-9]\d{2,3}[- ]?\d{4})"
    r")"
    r"(?!\d|\.\d)"
)
#: Turns every ASCII digit into a star.
_STARS = str.maketrans("0123456789", "**********")
# A caller ID as Asterisk writes it: "name" <number>
_CALLERID_RE = re.compile(r'"([^"]*)"(\s*<)')
#: Keys whose values are personal names, whatever their spelling ...
_NAME_KEY_RE = re.compile(r"name$|^(contact|citizen|complainant)$", re.IGNORECASE)
#: ... except the names of things.
_THING_NAME_KEY_RE = re.compile(
    r"(event|host|file|task|thread|logger|module|func|class|channel|device|queue|skill|department)_?name$",
    re.IGNORECASE,
)
#: Keys whose values are phone numbers even when they do not look like a Chinese number: the
#: caller's and the callee's, Asterisk's CallerIDNum/ConnectedLineNum, dial targets and extensions
#: (which hold the citizen's number on a callback).  Only values made of digits and separators
#: with 7 to 15 digits are masked under them, so an agent's extension ("1005"), the hotline's own
#: number ("12345") and a ticket number ("12345-20261128-000042") stay readable.
_NUMBER_KEY_RE = re.compile(
    r"caller|callee|citizen|phone|mobile|number|connected|contact|exten|dest|dial|num$"
    r"|(?:^|_)(?:ani|dnis|cid)(?:_|$)",
    re.IGNORECASE,
)
_SAFE_KEYS = frozenset({"event", "level", "timestamp", "call_id", "agent_id", "ticket_id", "logger"})
_PHONE_CHARS = frozenset("0123456789+-() （）")
_MIN_KEYED_DIGITS = 7  # fewer: an extension or a service number, nobody's personal number
_MAX_KEYED_DIGITS = 15  # more: not a phone number (E.164 has at most 15 digits)
_OTHER, _NAME, _NUMBER = 0, 1, 2


def mask_number(number: str) -> str:
    """Keep the first 3 and last 4 digits: ``13800000001`` -> ``138****0001``."""
    digits = number.strip()
    if len(digits) <= 7:
        return digits[:1] + "*" * max(len(digits) - 1, 0)
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


def mask_name(name: str) -> str:
    """Keep the first character of a name: ``李四`` -> ``李*``."""
    name = name.strip()
    if not name or name in {"<unknown>", "unknown"}:
        return name
    return name[0] + "*" * max(len(name) - 1, 1)


def _mask_phone_match(match: re.Match[str]) -> str:
    mobile = match.group("mobile")
    if mobile is not None:  # keep the prefix, the first 3 and the last 4 digits, and separators
        return (match.group("mpre") or "") + mobile[:3] + mobile[3:-4].translate(_STARS) + mobile[-4:]
    local = match.group("local")  # keep the area code and the last 4 digits
    return match.group("lpre") + local[:-4].translate(_STARS) + local[-4:]


def mask_text(text: str) -> str:
    """Mask phone numbers and caller-ID names inside free text."""
    if '"' in text:
        text = _CALLERID_RE.sub(lambda m: f'"{mask_name(m.group(1))}"{m.group(2)}', text)
    return _PHONE_RE.sub(_mask_phone_match, text)


@functools.lru_cache(maxsize=1024)
def _key_kind(key: str) -> int:
    """Whether a key names a name, a number or anything else (keys repeat: cached)."""
    if not key or key in _SAFE_KEYS:
        return _OTHER
    if _NAME_KEY_RE.search(key) and not _THING_NAME_KEY_RE.search(key):
        return _NAME
    if _NUMBER_KEY_RE.search(key):
        return _NUMBER
    return _OTHER


def _mask_digits(text: str) -> str:
    """Digits as stars but the last 4 (and the first 3 of 10 or more), separators kept.

    Only for 7 to 15 digits: anything else is returned as it is.
    """
    total = sum(c.isdigit() for c in text)
    if not _MIN_KEYED_DIGITS <= total <= _MAX_KEYED_DIGITS:
        return text
    head = 3 if total >= 10 else 0
    out = []
    seen = 0
    for c in text:
        if c.isdigit():
            out.append(c if seen < head or seen >= total - 4 else "*")
            seen += 1
        else:
            out.append(c)
    return "".join(out)


def _mask_keyed_number(text: str) -> str:
    """A value under a number key: a number in any spelling is masked, other text as free text."""
    masked = mask_text(text)
    if masked != text or not _PHONE_CHARS.issuperset(text.strip()):
        return masked
    return _mask_digits(text)


def _mask_int(kind: int, value: int) -> Any:
    """An int that may be a phone number: ``caller=13800000001``."""
    if value < 10 ** (_MIN_KEYED_DIGITS - 1):  # most ints: counts, seconds, small ids
        return value
    text = str(int(value))
    masked = _mask_digits(text) if kind == _NUMBER else _PHONE_RE.sub(_mask_phone_match, text)
    return masked if masked != text else value


def _mask_key(key: Any) -> Any:
    """A dict's key may be a number too (``{"13800000001": 2}``)."""
    if isinstance(key, str):
        return mask_text(key)
    if isinstance(key, int) and not isinstance(key, bool):
        return _mask_int(_OTHER, key)
    return key


def _mask_value(key: str, value: Any) -> Any:
    if isinstance(value, str):
        kind = _key_kind(key)
        if kind == _NAME:
            return mask_name(value)
        if kind == _NUMBER:
            return _mask_keyed_number(value)
        return mask_text(value)
    if value is None or isinstance(value, bool | float):
        return value
    if isinstance(value, int):
        return _mask_int(_key_kind(key), value)
    if isinstance(value, dict):
        return {_mask_key(k): _mask_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_value(key, v) for v in value]
    if isinstance(value, tuple):  # a named tuple too: the JSON renderer writes an array either way
        return tuple(_mask_value(key, v) for v in value)
    if isinstance(value, frozenset):
        return frozenset(_mask_value(key, v) for v in value)
    if isinstance(value, set):
        return {_mask_value(key, v) for v in value}
    if hasattr(value, "__structlog__"):
        return value
    # Anything else the JSON renderer would write as its repr(): mask that repr now.
    return mask_text(repr(value))


def mask_personal_data(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: mask numbers and names in every value of the line."""
    for key, value in list(event_dict.items()):
        event_dict[key] = _mask_value(key, value)
    return event_dict


def processors() -> list[Any]:
    """The processor chain (without the renderer), shared by the service and tests."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
        structlog.processors.format_exc_info,
        mask_personal_data,
    ]


def configure_logging(level: str = "info", stream: TextIO | None = None) -> None:
    """Send JSON lines to ``stream`` (stdout by default) at ``level`` and above."""
    numeric = logging.getLevelNamesMapping().get(level.upper())
    if numeric is None:
        raise ValueError(f"unknown log level {level!r}")
    structlog.configure(
        processors=[*processors(), structlog.processors.JSONRenderer(ensure_ascii=False)],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.WriteLoggerFactory(file=stream or sys.stdout),
        cache_logger_on_first_use=False,
    )
