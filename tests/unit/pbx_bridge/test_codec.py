"""The sans-I/O AMI codec: framing, decoding, and refusing to encode injected headers."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.pbx_bridge.codec import (
    AmiFramer,
    HeaderInjectionError,
    RemoteProtocolError,
    decode_frame,
    encode_action,
    frame_name,
)
from hotline.pbx_bridge.translator import AmiTranslator
from hotline.settings import load_settings

NAME_EVENT = (
    "Event: UserEvent\r\nChannel: Local/1@x-00000001;1\r\nCallerIDNum: 13800000003\r\n"
    "CallerIDName: 李四\r\nUserEvent: HotlineEnqueue\r\nChannel: dup\r\n\r\n"
).encode()


def test_banner_is_taken_off_and_frames_split() -> None:
    framer = AmiFramer()
    frames = framer.feed(
        b"Asterisk Call Manager/11.0.0\r\nResponse: Success\r\nActionID: a\r\n\r\nEvent: X\r\n"
    )
    assert framer.banner == "Asterisk Call Manager/11.0.0"
    assert frames == [b"Response: Success\r\nActionID: a"]
    assert framer.feed(b"\r\n") == [b"Event: X"]


@pytest.mark.parametrize("cut", range(1, len(NAME_EVENT)))
def test_a_chinese_name_split_across_reads_is_decoded_whole(cut: int) -> None:
    # panoramisk 1.4 decodes each chunk alone with errors='ignore' and loses the character.
    framer = AmiFramer()
    frames = framer.feed(NAME_EVENT[:cut]) + framer.feed(NAME_EVENT[cut:])
    assert len(frames) == 1
    message = decode_frame(frames[0])
    assert message.get("CallerIDName") == "李四"
    assert message.get_all("Channel") == ["Local/1@x-00000001;1", "dup"]
    assert message.get_last("Channel") == "dup"


def test_gbk_bytes_are_decoded_not_dropped() -> None:
    message = decode_frame("Event: Newchannel\r\nCallerIDName: 王五".encode("gbk"))
    assert message.recoded
    assert message.get("CallerIDName") == "王五"


def test_oversized_frame_is_dropped_and_the_framer_recovers() -> None:
    framer = AmiFramer(max_frame=1024)
    framer.feed(b"Asterisk Call Manager/11.0.0\r\n")
    with pytest.raises(RemoteProtocolError):
        framer.feed(b"X" * 2048)
    assert framer.feed(b"Event: Ping\r\n\r\n") == [b"Event: Ping"]


def test_frame_name_reads_only_the_first_line() -> None:
    assert frame_name(b"Event: VarSet\r\nPrivilege: x") == b"VarSet"
    assert frame_name(b"Response: Error\r\nMessage: y") == b"Response"
    assert frame_name(b"garbage") == b""


def test_encode_action_keeps_order_and_repeats() -> None:
    data = encode_action(
        "Originate", "id-1", [("Channel", "Local/1001@agents"), ("Variable", "A=1"), ("Variable", "B=2")]
    )
    assert data == (
        b"Action: Originate\r\nActionID: id-1\r\nChannel: Local/1001@agents\r\n"
        b"Variable: A=1\r\nVariable: B=2\r\n\r\n"
    )


@pytest.mark.parametrize("bad", ["x\r\nAction: Originate", "x\nAction: Hangup", "x\rY", "nul\x00"])
def test_injected_values_are_refused(bad: str) -> None:
    with pytest.raises(HeaderInjectionError) as info:
        encode_action("Setvar", "id-2", [("Channel", "Local/1@x"), ("Value", bad)])
    assert info.value.action == "Setvar" and info.value.key == "Value"


@pytest.mark.parametrize("key", ["Bad Key", "X:Y", "", "A\r\nB"])
def test_bad_header_names_are_refused(key: str) -> None:
    with pytest.raises(HeaderInjectionError):
        encode_action("Setvar", "id-3", [(key, "v")])


@given(st.text(max_size=200))
def test_any_value_either_encodes_to_one_header_line_or_is_refused(value: str) -> None:
    try:
        data = encode_action("Setvar", "id-4", [("Value", value)])
    except HeaderInjectionError:
        assert any(c in value for c in "\r\n\x00")
        return
    frames = AmiFramer().feed(data)
    assert len(frames) == 1
    assert decode_frame(frames[0]).get_all("Value") == [value]
    assert frames[0].count(b"\r\n") == 2  # Action, ActionID, Value: three lines


_translator_dialplan = load_settings(environ={}).dialplan


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=600), max_size=20))
def test_arbitrary_bytes_never_crash_the_framer_or_translator(chunks: list[bytes]) -> None:
    framer = AmiFramer(max_frame=4096)
    translator = AmiTranslator(_translator_dialplan)
    for chunk in chunks:
        try:
            frames = framer.feed(chunk)
        except RemoteProtocolError:
            continue
        for frame in frames:
            translator.feed_frame(frame)


_header = st.tuples(
    st.sampled_from(
        [
            "Event",
            "Channel",
            "Uniqueid",
            "Linkedid",
            "DestChannel",
            "DestLinkedid",
            "Context",
            "UserEvent",
            "Variable",
            "Value",
            "Cause",
            "BridgeUniqueid",
            "DialStatus",
            "Reason",
            "ActionID",
            "Response",
            "CallerIDName",
            "X",
        ]
    ),
    st.one_of(
        st.sampled_from(
            [
                "Hangup",
                "DialBegin",
                "DialEnd",
                "UserEvent",
                "BridgeEnter",
                "VarSet",
                "OriginateResponse",
                "Newchannel",
                "HotlineEnqueue",
                "hotline-connect",
                "hotline-callback",
                "HOTLINE_CALLBACK_ID",
                "1.1",
                "abc",
                "",
            ]
        ),
        st.text(max_size=2000),
    ),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(_header, max_size=12), max_size=30))
def test_malformed_events_with_missing_keys_never_crash_the_translator(
    frames: list[list[tuple[str, str]]],
) -> None:
    translator = AmiTranslator(_translator_dialplan)
    for headers in frames:
        raw = (
            "".join(f"{k}: {v}\r\n" for k, v in headers)
            .replace("\r\n\r\n", "\r\n")
            .encode("utf-8", "replace")
        )
        translator.feed_frame(raw.rstrip(b"\r\n"))
