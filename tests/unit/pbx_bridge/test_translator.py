"""The translator's resync: the picture rebuilt from a CoreShowChannels listing."""

from __future__ import annotations

from hotline.events import (
    CallAbandoned,
    CallArrived,
    CallbackLegCreated,
    CallBridged,
    CallEnded,
    DeviceReachability,
    DeviceStateChanged,
    EndReason,
)
from hotline.pbx_bridge.codec import AmiMessage, decode_frame
from hotline.pbx_bridge.translator import AmiTranslator, device_of
from hotline.settings import load_settings

DIALPLAN = load_settings(environ={}).dialplan


def listing(
    channel: str,
    uniqueid: str,
    linkedid: str,
    context: str,
    exten: str,
    duration: str,
    bridge: str = "",
    callback_id: str | None = None,
) -> AmiMessage:
    # With manager.conf channelvars, Asterisk closes every channel block with ChanVariable lines
    # (an unset variable shows with an empty value).
    chanvar = "" if callback_id is None else f"ChanVariable: HOTLINE_CALLBACK_ID={callback_id}\r\n"
    text = (
        f"Event: CoreShowChannel\r\nActionID: x\r\nChannel: {channel}\r\nCallerIDNum: 13800000001\r\n"
        f"CallerIDName: 张三\r\nContext: {context}\r\nExten: {exten}\r\nUniqueid: {uniqueid}\r\n"
        f"Linkedid: {linkedid}\r\n{chanvar}Duration: {duration}\r\nBridgeId: {bridge}"
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
    assert arrived.caller_name == "张三" and arrived.ringing_agent == ""
    assert translator.live_calls == {"10.1", "11.1"}
    # The call answered while we were away is reported as bridged, after the arrivals, naming
    # the caller's leg (the one whose Uniqueid is the Linkedid): a take-over spies the other.
    assert events[-1] == CallBridged(
        "11.1",
        "b1",
        ("Local/13800000002@caller-sim-00000003;1", "Local/1001@agents-00000004;1"),
        caller_channel="Local/13800000002@caller-sim-00000003;1",
    )


def test_resync_reports_a_call_found_ringing_an_agent_and_its_abandon_later() -> None:
    translator = AmiTranslator(DIALPLAN)
    events = translator.resync(
        [
            listing(
                "Local/138@caller-sim-00000003;1", "11.1", "11.1", "hotline-connect", "agent-1005", "00:00:40"
            ),
            listing("Local/1005@agents-00000004;1", "11.3", "11.1", "agents", "1005", "00:00:05"),
        ]
    )
    assert len(events) == 1 and isinstance(events[0], CallArrived)
    assert (events[0].call_id, events[0].ringing_agent, events[0].waited_s) == ("11.1", "1005", 40.0)
    # The caller hangs up while it rings: still known as the waiting leg.
    hangup = (
        b"Event: Hangup\r\nChannel: Local/138@caller-sim-00000003;1\r\n"
        b"Uniqueid: 11.1\r\nLinkedid: 11.1\r\nCause: 16"
    )
    assert isinstance(translator.feed(decode_frame(hangup))[0], CallAbandoned)


def test_resync_names_our_callbacks_legs_before_their_bridge() -> None:
    translator = AmiTranslator(DIALPLAN)
    events = translator.resync(
        [
            listing(
                "Local/1001@agents-0000000f;1", "20.1", "20.1", "agents", "1001", "00:01:00", "b2", "cb-7"
            ),
            listing(
                "Local/1001@agents-0000000f;2", "20.2", "20.1", "hotline-callback", "139", "00:01:00", "", ""
            ),
            listing(
                "Local/139@caller-sim-00000010;1", "20.3", "20.1", "caller-sim", "139", "00:00:50", "b2", ""
            ),
        ]
    )
    assert events == [
        CallbackLegCreated("20.1", "cb-7", "Local/1001@agents-0000000f;1"),
        CallBridged("20.1", "b2", ("Local/1001@agents-0000000f;1", "Local/139@caller-sim-00000010;1")),
    ]


def test_device_of_strips_asterisks_channel_suffix() -> None:
    assert device_of("Local/1001@agents-00000002;1") == "Local/1001@agents"
    assert device_of("PJSIP/1001-0000001a") == "PJSIP/1001"
    assert device_of("PJSIP/1001") == "PJSIP/1001"


# -- SIP phones: PeerStatus / ContactStatus / DeviceStateList ------------------------------


def _frame(text: str) -> AmiMessage:
    return decode_frame(text.replace("\n", "\r\n").encode())


def test_peer_status_says_whether_the_endpoint_can_be_dialled() -> None:
    translator = AmiTranslator(DIALPLAN)
    events = [
        translator.feed(
            _frame(
                "Event: PeerStatus\nPrivilege: system,all\nChannelType: PJSIP\n"
                f"Peer: PJSIP/1002\nPeerStatus: {s}"
            )
        )
        for s in ("Unreachable", "Reachable", "Unregistered", "Registered", "Rejected")
    ]
    assert events == [
        [DeviceReachability("PJSIP/1002", False, "PeerStatus Unreachable")],
        [DeviceReachability("PJSIP/1002", True, "PeerStatus Reachable")],
        [DeviceReachability("PJSIP/1002", False, "PeerStatus Unregistered")],
        [DeviceReachability("PJSIP/1002", True, "PeerStatus Registered")],
        [],  # says nothing about reachability
    ]


def test_contact_status_names_the_endpoints_device() -> None:
    translator = AmiTranslator(DIALPLAN)

    def contact(status: str) -> list[object]:
        return list(
            translator.feed(
                _frame(
                    "Event: ContactStatus\nPrivilege: system,all\nURI: sip:1001@127.0.0.1:5061\n"
                    f"ContactStatus: {status}\nAOR: 1001\nEndpointName: 1001\nRoundtripUsec: 0"
                )
            )
        )

    assert contact("NonQualified") == [DeviceReachability("PJSIP/1001", True, "ContactStatus NonQualified")]
    assert contact("Unreachable") == [DeviceReachability("PJSIP/1001", False, "ContactStatus Unreachable")]
    assert contact("Removed") == [DeviceReachability("PJSIP/1001", False, "ContactStatus Removed")]
    assert contact("Updated") == []
    assert contact("Unknown") == []


def test_device_state_list_items_become_states_and_the_list_frame_is_skipped() -> None:
    translator = AmiTranslator(DIALPLAN)
    items = [
        _frame("Event: DeviceStateChange\nActionID: a-2\nDevice: PJSIP/1001\nState: UNAVAILABLE"),
        _frame("Event: DeviceStateChange\nActionID: a-2\nDevice: PJSIP/1002\nState: NOT_INUSE"),
        _frame("Event: DeviceStateListComplete\nActionID: a-2\nEventList: Complete\nListItems: 2"),
    ]
    assert translator.device_states(items) == [
        DeviceStateChanged("PJSIP/1001", "UNAVAILABLE"),
        DeviceStateChanged("PJSIP/1002", "NOT_INUSE"),
    ]
    # The same items arriving as events (with their ActionID) are not changes.
    assert translator.feed(items[0]) == []


def test_resync_keeps_the_ivr_priority_shown_by_channelvars() -> None:
    """After a restart the translator knows nothing: manager.conf ``channelvars = ...,HOTLINE_IVR``
    shows the IVR's value on the caller's channel, so an urgent caller stays urgent."""
    text = (
        "Event: CoreShowChannel\r\nActionID: x\r\nChannel: Local/13800000001@caller-sim-00000002;1\r\n"
        "CallerIDNum: 13800000001\r\nCallerIDName: x\r\nContext: hotline-inbound\r\nExten: hold\r\n"
        "Uniqueid: 10.1\r\nLinkedid: 10.1\r\nChanVariable: HOTLINE_CALLBACK_ID=\r\n"
        "ChanVariable: HOTLINE_IVR=urgent\r\nDuration: 00:00:41\r\nBridgeId: "
    )
    (arrived,) = AmiTranslator(DIALPLAN).resync([decode_frame(text.encode())])
    assert isinstance(arrived, CallArrived) and arrived.priority == "urgent" and arrived.waited_s == 41.0
