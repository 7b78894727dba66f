"""Citizens' phone numbers, normalised at the edge (pure).

What people type, and what PBXs and spreadsheets hand over, comes in many spellings of one
number: ``+86 139-0000-0001``, ``0086 13900000001``, ``86 139 0000 0001``, ``(024) 8666-1234``,
``024-86661234 转 123``, ``+86 24 86661234``, full-width digits from a Chinese input method.
:func:`normalise_number` maps every accepted spelling to one canonical form, and refuses
anything that cannot be dialled with a message saying why (never echoing the number: the
message may reach a log line).

Canonical form (national, digits only):

- a mainland mobile: ``1[3-9]`` + 9 digits (``13900000001``; also accepted with the trunk
  prefix ``0``);
- a landline: ``0``, the area code (``10`` and ``2x``: two digits, with an 8-digit local
  number; ``3``-``9``: three digits, with a 7- or 8-digit local number), the local number (not
  starting with 0 or 1) — ``02486661234``; an extension follows after ``转``
  (``02486661234转123``, 1-6 digits). Not a dash: people group digits with dashes, so
  ``03002000000-0`` is also a spelling of the landline ``030020000000``, and the canonical form
  must read back as itself;
- a national service number ``400``/``800`` + 7 digits (``4008123123``).

:func:`dial_digits` is what a call dials (the extension is left for the agent to ask for).
"""

from __future__ import annotations

import re
import unicodedata

from hotline.tickets.errors import TicketError

_EXTENSION_SPLIT = re.compile(r"\s*(?:转|分机|ext\.?|x|#|,|，)\s*", re.IGNORECASE)
_SEPARATORS = re.compile(r"[\s\-()（）.·]+")
_ALLOWED = re.compile(r"[0-9+\s\-()（）.·]*")
_MOBILE = re.compile(r"1[3-9]\d{9}")
_SERVICE = re.compile(r"[48]00\d{7}")
_MAX_EXTENSION = 6
_SERVICE_PREFIXES = frozenset({"400", "800"})


class InvalidPhoneNumber(TicketError):
    """A phone number that cannot be dialled (the message says why; it never repeats the number)."""

    def __init__(self, field: str, why: str) -> None:
        super().__init__(f"{field}: not a diallable number: {why}")
        self.field = field
        self.why = why


def _landline(digits: str) -> str | None:
    """``digits`` (national, with the trunk 0) as a landline, or None."""
    if len(digits) < 10 or digits[0] != "0" or digits[1] == "0":
        return None
    area = digits[1:3] if digits[1] in "12" else digits[1:4]
    if (digits[1] == "1" and area != "10") or area in _SERVICE_PREFIXES:
        return None  # 400/800 are service numbers' prefixes, never an area code
    local = digits[1 + len(area) :]
    if local[0] in "01":
        return None
    if len(local) == 8 or (len(local) == 7 and len(area) == 3):
        return digits
    return None


def _national(digits: str) -> str:
    """Strip a country code (``0086``, ``86``; ``+`` already gone) and make a landline national."""
    if digits.startswith("0086"):
        digits = digits[4:]
    elif digits.startswith("86") and len(digits) >= 12:
        digits = digits[2:]
    else:
        return digits
    if _MOBILE.fullmatch(digits) or _SERVICE.fullmatch(digits):
        return digits
    return digits if digits.startswith("0") else "0" + digits


def normalise_number(text: str, *, field: str = "citizen number") -> str:
    """The canonical form of a Chinese phone number (see the module docstring), or
    :class:`InvalidPhoneNumber` saying why it cannot be dialled."""
    text = unicodedata.normalize("NFKC", text).strip()
    if not text:
        raise InvalidPhoneNumber(field, "empty")
    parts = _EXTENSION_SPLIT.split(text)
    if len(parts) > 2:
        raise InvalidPhoneNumber(field, "more than one extension")
    main = parts[0]
    extension = parts[1] if len(parts) == 2 else ""
    if not _ALLOWED.fullmatch(main) or (extension and not extension.isdigit()):
        raise InvalidPhoneNumber(
            field, "only digits, spaces, dashes, brackets, a leading + and an extension (转)"
        )
    if "+" in main[1:] or (main.startswith("+") and not main[1:].lstrip().startswith("86")):
        raise InvalidPhoneNumber(field, "only mainland numbers (+86) are dialled")
    groups = [g for g in _SEPARATORS.split(main.lstrip("+")) if g]
    digits = _national("".join(groups))
    if digits.startswith("01") and _MOBILE.fullmatch(digits[1:]):
        digits = digits[1:]  # a mobile dialled with the trunk prefix, as from a landline
    if not extension and len(groups) >= 2 and digits.startswith("0") and _landline(digits) is None:
        # "024-8666-1234-123" or "0245-8666123-12": the last group is an extension
        head = _national("".join(groups[:-1]))
        if _landline(head) is not None and len(groups[-1]) <= _MAX_EXTENSION:
            digits, extension = head, groups[-1]
    if len(extension) > _MAX_EXTENSION:
        raise InvalidPhoneNumber(field, f"an extension has at most {_MAX_EXTENSION} digits")
    if _MOBILE.fullmatch(digits) or _SERVICE.fullmatch(digits):
        if extension:
            raise InvalidPhoneNumber(field, "a mobile or 400/800 number has no extension")
        return digits
    if digits.startswith("0"):
        if _landline(digits) is None:
            raise InvalidPhoneNumber(
                field,
                f"{len(digits)} digits: a landline is 0, an area code (10, 2x, or three digits) and "
                "a local number of 7-8 digits not starting with 0 or 1",
            )
        return f"{digits}转{extension}" if extension else digits
    if digits.startswith("1"):
        raise InvalidPhoneNumber(field, f"{len(digits)} digits: a mobile number is 11 digits starting 13-19")
    raise InvalidPhoneNumber(
        field, f"{len(digits)} digits: a landline needs its area code (0...), a mobile starts with 1"
    )


def dial_digits(canonical: str) -> str:
    """What a call to the canonical number dials (without the extension)."""
    return canonical.partition("转")[0]
