"""The citizens' number normaliser: every accepted spelling of a number maps to one canonical
number, anything that is not a number is refused with a reason, and the canonical numbers are
still masked in log lines."""

from __future__ import annotations

import re

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from hotline.log import mask_personal_data, mask_text
from hotline.tickets.phone import InvalidPhoneNumber, dial_digits, normalise_number

_CANONICAL = re.compile(r"1[3-9]\d{9}|[48]00\d{7}|0(?:10|2\d|[3-9]\d\d)[2-9]\d{6,7}(?:转\d{1,6})?")
_FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


@st.composite
def mobiles(draw: st.DrawFn) -> str:
    return "1" + draw(st.sampled_from("3456789")) + draw(st.text("0123456789", min_size=9, max_size=9))


@st.composite
def landlines(draw: st.DrawFn) -> tuple[str, str, str]:
    """(area code without its 0, local number, extension or '')."""
    area = draw(
        st.one_of(
            st.just("10"),
            st.builds(lambda d: "2" + d, st.sampled_from("0123456789")),
            st.builds(
                lambda a, b, c: a + b + c,
                *(st.sampled_from(s) for s in ("3456789", "0123456789", "0123456789")),
            ),
        )
    )
    assume(area not in {"400", "800"})  # service numbers' prefixes, not area codes
    lengths = [8] if len(area) == 2 else [7, 8]
    size = draw(st.sampled_from(lengths))
    local = draw(st.sampled_from("23456789")) + draw(
        st.text("0123456789", min_size=size - 1, max_size=size - 1)
    )
    extension = draw(st.one_of(st.just(""), st.text("0123456789", min_size=1, max_size=6)))
    return area, local, extension


def _grouped(draw: st.DrawFn, digits: str) -> str:
    """``digits`` cut into groups joined by spaces or dashes (or nothing)."""
    out = []
    i = 0
    while i < len(digits):
        size = draw(st.integers(1, len(digits) - i))
        out.append(digits[i : i + size])
        i += size
    return "".join(
        part + (draw(st.sampled_from(["", " ", "-", " - ", "  "])) if n < len(out) - 1 else "")
        for n, part in enumerate(out)
    )


@st.composite
def spellings(draw: st.DrawFn) -> tuple[str, str]:
    """(a spelling people use, its canonical number)."""
    if draw(st.booleans()):
        number = draw(mobiles())
        canonical = number
        body = _grouped(draw, number)
        prefix = draw(st.sampled_from(["", "+86", "+86 ", "0086", "0086-", "86", "86 ", "0"]))
        text = prefix + body
    else:
        area, local, extension = draw(landlines())
        canonical = f"0{area}{local}" + (f"转{extension}" if extension else "")
        style = draw(st.sampled_from(["plain", "brackets", "country", "country0"]))
        local_text = _grouped(draw, local)
        sep = draw(st.sampled_from(["", " ", "-"]))
        if style == "plain":
            text = f"0{area}{sep}{local_text}"
        elif style == "brackets":
            text = f"(0{area}){draw(st.sampled_from(['', ' ']))}{local_text}"
        else:
            cc = draw(st.sampled_from(["+86", "0086", "86"]))
            zero = "(0)" if style == "country0" else ""
            text = f"{cc} {zero}{area}{sep}{local_text}"
        if extension:
            text += draw(st.sampled_from(["转", " 转 ", " ext ", " ext.", "x", " #", ","])) + extension
    if draw(st.booleans()):
        text = text.translate(_FULL_WIDTH)  # typed with a Chinese input method
    pad = draw(st.sampled_from(["", " ", "\t"]))
    return pad + text + pad, canonical


@given(spellings())
@example(("139-0000-0001", "13900000001"))  # issue 8, bug 2: the follow-up number with dashes
@example(("+86 (0)10 6234-5678", "01062345678"))
@example(("024-86661234 转 123", "02486661234转123"))
@example(("03002000000转0", "03002000000转0"))  # not "-0": a dash also groups digits
def test_every_spelling_maps_to_the_canonical_number(case: tuple[str, str]) -> None:
    text, canonical = case
    assert normalise_number(text) == canonical
    assert normalise_number(canonical) == canonical  # canonical is a fixed point
    assert dial_digits(canonical).isdigit()


@given(st.text(max_size=30))
@example("13800000000' OR '1'='1")
@example("13800000000\r\nAction: Originate")
@example("１３８００００００００ OR 1=1")
def test_nothing_that_is_not_a_number_is_accepted(text: str) -> None:
    letters = [c for c in text if c.isalpha() and c.lower() not in "ext转分机"]
    try:
        canonical = normalise_number(text)
    except InvalidPhoneNumber as exc:
        assert "not a diallable number" in str(exc)
        digits = re.sub(r"\D", "", text)
        assert len(digits) < 7 or digits not in str(exc)  # the refusal never repeats the number
        return
    assert not letters, f"accepted {text!r} as {canonical}"
    assert _CANONICAL.fullmatch(canonical)
    assert set(dial_digits(canonical)) <= set("0123456789")


@given(st.one_of(mobiles(), landlines().map(lambda a: f"0{a[0]}{a[1]}" + (f"转{a[2]}" if a[2] else ""))))
def test_canonical_numbers_are_masked_in_logs(canonical: str) -> None:
    main = dial_digits(canonical)
    assume(len(main) >= 10)
    line = mask_personal_data(
        None, "info", {"event": "x", "citizen_number": canonical, "note": f"号码 {canonical}"}
    )
    assert main not in repr(line)
    assert main not in mask_text(f"call back {canonical} today")


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("12345", "a mobile number is 11 digits"),
        ("1390000000", "a mobile number is 11 digits"),
        ("86661234", "needs its area code"),
        ("024-0666-1234", "a landline is 0"),
        ("+1 415 555 0100", "only mainland numbers"),
        ("13900000001 转 12", "has no extension"),
        ("13800000000' OR '1'='1", "only digits"),
        ("", "empty"),
    ],
)
def test_refusals_say_why(text: str, why: str) -> None:
    with pytest.raises(InvalidPhoneNumber, match=why):
        normalise_number(text)
