"""Structured logging: one JSON object per line on stdout, personal data masked.

Every line has ``timestamp`` (ISO 8601, UTC), ``level``, ``event`` and whatever context is bound
with ``structlog.contextvars`` (``call_id``, ``agent_id``, ``ticket_id``).  The masking processor
runs last before rendering, on every value of every line, so a phone number or a caller name is
masked whatever key it hides under.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

# Chinese mobile numbers (11 digits, 1[3-9]...), optionally with +86/0086; landlines with an
# area code (0xx-xxxxxxxx).  The look-arounds keep Uniqueids ("1795839282.2") and epoch
# timestamps from being taken for numbers.
_PHONE_RE = re.compile(
    r"(?<![\d.])(?:(?:\+|00)86[- ]?)?(1[3-9]\d{9})(?![\d.])"
    r"|(?<![\d.])(0\d{2,3}-?\d{7,8})(?![\d.])"
)
# A caller ID as Asterisk writes it: "name" <number>
_CALLERID_RE = re.compile(r'"([^"]*)"(\s*<)')
#: Keys whose values are personal names, whatever their spelling.
_NAME_KEY_RE = re.compile(r"name$|^(contact|citizen|complainant)$", re.IGNORECASE)
#: Keys whose values are phone numbers even when they do not look like a mobile number.
_NUMBER_KEY_RE = re.compile(r"(caller|citizen|phone|mobile|number|dnis|ani)", re.IGNORECASE)
_SAFE_KEYS = frozenset({"event", "level", "timestamp", "call_id", "agent_id", "ticket_id", "logger"})


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
    whole = match.group(0)
    number = match.group(1) or match.group(2)
    return whole.replace(number, mask_number(number))


def mask_text(text: str) -> str:
    """Mask phone numbers and caller-ID names inside free text."""
    if '"' in text:
        text = _CALLERID_RE.sub(lambda m: f'"{mask_name(m.group(1))}"{m.group(2)}', text)
    return _PHONE_RE.sub(_mask_phone_match, text)


def _mask_value(key: str, value: Any) -> Any:
    if isinstance(value, str):
        if key and key not in _SAFE_KEYS:
            if _NAME_KEY_RE.search(key):
                return mask_name(value)
            if _NUMBER_KEY_RE.search(key) and value.strip().lstrip("+").isdigit():
                return mask_number(value)
        return mask_text(value)
    if isinstance(value, dict):
        return {k: _mask_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_mask_value(key, v) for v in value)
    return value


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
