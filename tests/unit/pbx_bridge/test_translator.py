"""The translator's resync: the picture rebuilt from a CoreShowChannels listing."""

from __future__ import annotations

from hotline.events import CallArrived, CallEnded, EndReason
from hotline.pbx_bridge.codec import AmiMessage, decode_frame
from hotline.pbx_bridge.translator import AmiTranslator, device_of
from hotline.settings import load_settings

DIALPLAN = load_settings(environ={}).dialplan


def listing(
    channel: str, uniqueid: str, linkedid: str, context: str, exten: str, duration: str, bridge: str = ""
) -> AmiMessage:
    text = (
        f"Event: CoreShowChannel\r\nActionID: x\r\nChannel: {channel}\r\nCallerIDNum: 13800000001\r\n"
        f"CallerIDName: 张三\r\nContext: {context}\r\nExten: {exten}\r\nUniqueid: {uniqueid}\r\n"
        f"Linkedid: {linkedid}\r\nDuration: {duration}\r\nBridgeId: {bridge}"
    )
    return decode_frame(text.encode())


def test_resync_ends_vanished_calls_and_announces_the_waiting_ones() -> None:
    translator = AmiTranslator(DIALPLAN)
    translator.feed(
        decode_frame(b"Event: Newchannel\r\nChannel: Local/1@x-00000001;1\r\nUniqueid: 9.1\r\nLinkedid: 9.1")
    )
    events = translator.resync(
        [
            listing(
                "Local/13800000001@caller-sim-00000002;1",
                "10.1",
                "10.1",
                "hotline-inbound",
                "hold",
                "00:02:05",
            ),
            listing(
                "Local/13800000001@caller-sim-00000002;2", "10.2", "10.1", "caller-sim", "138", "00:02:05"
            ),
            listing(
                "Local/13800000002@caller-sim-00000003;1",
                "11.1",
                "11.1",
                "hotline-connect",
                "agent-1001",
                "00:00:40",
                bridge="b1",
            ),
            listing("Local/1001@agents-00000004;1", "11.3", "11.1", "agents", "", "00:00:30", bridge="b1"),
        ]
    )
    assert events[0] == CallEnded("9.1", 0, "", EndReason.LOST_DURING_DISCONNECT)
    (arrived,) = [e for e in events if isinstance(e, CallArrived)]
    assert arrived.call_id == "10.1" and arrived.resynced and arrived.waited_s == 125.0
    assert arrived.caller_name == "张三"
    assert translator.live_calls == {"10.1", "11.1"}


def test_device_of_strips_asterisks_channel_suffix() -> None:
    assert device_of("Local/1001@agents-00000002;1") == "Local/1001@agents"
    assert device_of("PJSIP/1001-0000001a") == "PJSIP/1001"
    assert device_of("PJSIP/1001") == "PJSIP/1001"
