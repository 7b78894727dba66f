"""The AMI simulator over real loopback TCP, spoken to by a bare client (bytes + AmiFramer)."""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from collections.abc import AsyncIterator, Callable

import pytest

from hotline.pbx_bridge.codec import AmiFramer, AmiMessage, decode_frame, encode_action
from hotline.pbx_bridge.simulator import (
    AgentBehaviour,
    CitizenBehaviour,
    PbxSimulator,
    PbxUnavailableError,
)
from tests.transcripts import capture, require_transcripts

SCALE = 0.02  # 50 times faster than real time
STORY = ("Newchannel", "DialBegin", "DialEnd", "BridgeEnter", "Hangup", "UserEvent", "OriginateResponse")


class RawAmi:
    """A minimal AMI client: writes action bytes, reads frames with the project's AmiFramer."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.framer = AmiFramer()
        self.pending: list[AmiMessage] = []
        self.seen: list[AmiMessage] = []
        self.raw = bytearray()
        self._ids = itertools.count(1)

    @classmethod
    async def connect(cls, port: int) -> RawAmi:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    def send(self, action: str, *headers: tuple[str, str]) -> str:
        action_id = f"t-{next(self._ids):04d}"
        self.writer.write(encode_action(action, action_id, headers))
        return action_id

    def send_raw(self, data: bytes) -> None:
        self.writer.write(data)

    async def _fill(self) -> None:
        data = await self.reader.read(65536)
        if not data:
            raise EOFError
        self.raw += data
        self.pending.extend(decode_frame(frame) for frame in self.framer.feed(data))

    async def next(self, within: float = 2.0) -> AmiMessage:
        async with asyncio.timeout(within):
            while not self.pending:
                await self._fill()
        message = self.pending.pop(0)
        self.seen.append(message)
        return message

    async def until(self, predicate: Callable[[AmiMessage], bool], within: float = 2.0) -> AmiMessage:
        async with asyncio.timeout(within):
            while True:
                message = await self.next(within)
                if predicate(message):
                    return message

    async def response(self, action_id: str, within: float = 2.0) -> AmiMessage:
        return await self.until(lambda m: m.event is None and m.action_id == action_id, within)

    async def event(self, name: str, within: float = 2.0, **headers: str) -> AmiMessage:
        return await self.until(
            lambda m: m.event == name and all(m.get(k) == v for k, v in headers.items()), within
        )

    async def list_items(self, action_id: str, complete: str) -> list[AmiMessage]:
        start = await self.response(action_id)
        assert (start.get("Response"), start.get("EventList")) == ("Success", "start")
        items: list[AmiMessage] = []
        while True:
            message = await self.until(lambda m: m.action_id == action_id)
            if message.event == complete:
                assert message.get("EventList") == "Complete"
                assert message.get("ListItems") == str(len(items))
                return items
            items.append(message)

    async def login(
        self, username: str = "hotline", secret: str = "hotline-secret", *extra: tuple[str, str]
    ) -> None:
        action_id = self.send("Login", ("Username", username), ("Secret", secret), *extra)
        response = await self.response(action_id)
        assert response.get("Message") == "Authentication accepted"

    async def eof(self, within: float = 2.0) -> bool:
        try:
            async with asyncio.timeout(within):
                while True:
                    await self._fill()
        except (EOFError, ConnectionResetError):
            return True
        except TimeoutError:
            return False

    async def drain_quiet(self, quiet: float = 0.1) -> list[AmiMessage]:
        """Everything until nothing arrives for ``quiet`` seconds."""
        got = []
        while True:
            try:
                got.append(await self.next(quiet))
            except TimeoutError:
                return got

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except ConnectionError:
            pass


@pytest.fixture
async def sim() -> AsyncIterator[PbxSimulator]:
    simulator = PbxSimulator(
        time_scale=SCALE, caller_patience_s=None, readonly_users={"monitor": "monitor-secret"}
    )
    async with simulator:
        yield simulator
    assert simulator.errors == []


@pytest.fixture
async def ami(sim: PbxSimulator) -> AsyncIterator[RawAmi]:
    client = await RawAmi.connect(sim.port)
    await client.login()
    yield client
    await client.close()


def waiting_channel(sim: PbxSimulator, linkedid: str) -> str:
    return next(c.name for c in sim.live_channels() if c.uniqueid == linkedid)


# -- connection and login --------------------------------------------------------------


async def test_banner_login_fullybooted_and_successfulauth(sim: PbxSimulator) -> None:
    client = await RawAmi.connect(sim.port)
    action_id = client.send("Login", ("Username", "hotline"), ("Secret", "hotline-secret"))
    response = await client.response(action_id)
    assert bytes(client.raw).startswith(b"Asterisk Call Manager/11.0.0\r\nResponse: Success\r\n")
    assert [k for k, _ in response.headers] == ["Response", "ActionID", "Message"]
    booted = await client.next()
    assert [k for k, _ in booted.headers] == ["Event", "Privilege", "Uptime", "LastReload", "Status"]
    auth = await client.next()
    assert (auth.event, auth.get("AccountID"), auth.get("Privilege")) == (
        "SuccessfulAuth",
        "hotline",
        "security,all",
    )
    assert re.fullmatch(r"IPV4/TCP/127\.0\.0\.1/\d+", auth.get("RemoteAddress"))
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000", auth.get("EventTV"))
    await client.close()


async def test_wrong_secret_is_refused_about_a_second_later_then_closed() -> None:
    async with PbxSimulator(time_scale=0.2) as sim:
        client = await RawAmi.connect(sim.port)
        started = time.monotonic()
        action_id = client.send("Login", ("Username", "hotline"), ("Secret", "wrong-secret"))
        response = await client.response(action_id)
        elapsed = time.monotonic() - started
        assert (response.get("Response"), response.get("Message")) == ("Error", "Authentication failed")
        assert 0.15 <= elapsed < 1.0  # one simulated second
        assert await client.eof()
        await client.close()
        assert sim.errors == []


async def test_actions_before_login_are_denied(sim: PbxSimulator) -> None:
    client = await RawAmi.connect(sim.port)
    for action in ("Ping", "Originate", "CoreShowChannels"):
        action_id = client.send(action, ("Channel", "Local/1001@agents"))
        response = await client.response(action_id)
        assert (response.get("Response"), response.get("Message")) == ("Error", "Permission denied")
    assert all(m.event is None for m in client.seen)  # no events before login
    await client.close()


async def test_ping_pong_with_a_timestamp(ami: RawAmi) -> None:
    action_id = ami.send("Ping")
    response = await ami.response(action_id)
    assert response.headers[:3] == (("Response", "Success"), ("ActionID", action_id), ("Ping", "Pong"))
    assert re.fullmatch(r"\d{10}\.\d{6}", response.get("Timestamp"))


async def test_logoff_says_goodbye_and_closes(ami: RawAmi) -> None:
    action_id = ami.send("Logoff")
    response = await ami.response(action_id)
    assert (response.get("Response"), response.get("Message")) == ("Goodbye", "Thanks for all the fish.")
    assert await ami.eof()


async def test_malformed_requests_are_answered_like_asterisk(ami: RawAmi, sim: PbxSimulator) -> None:
    ami.send_raw(b"this is not an AMI header line\r\n\r\n")
    response = await ami.until(lambda m: m.event is None)
    assert response.headers == (("Response", "Error"), ("Message", "Missing action in request"))
    bad = await ami.event("RequestBadFormat")
    assert bad.get("RequestType") == "Action: NONE"
    ami.send_raw(b"ActionID: no-action-1\r\nFoo: bar\r\n\r\n")
    assert (await ami.response("no-action-1")).get("Message") == "Missing action in request"
    action_id = ami.send("FooBarBaz")
    response = await ami.response(action_id)
    assert response.get("Message") == (
        "Invalid/unknown command: FooBarBaz. Use Action: ListCommands to show available commands."
    )
    assert (await ami.event("RequestBadFormat")).get("RequestType") == "Action: FooBarBaz"
    # Asterisk is lenient: lower-case keys, no space after the colon, bare LF line ends.
    ami.send_raw(b"action: ping\r\nactionid: lowercase-1\r\n\r\n")
    ami.send_raw(b"Action:Ping\r\nActionID:nospace-1\r\n\r\n")
    ami.send_raw(b"Action: Ping\nActionID: bare-lf-1\n\n")
    for action_id in ("lowercase-1", "nospace-1", "bare-lf-1"):
        assert (await ami.response(action_id)).get("Ping") == "Pong"
    ami.send_raw(b"Action: Ping\r\n\r\n")
    pong = await ami.until(lambda m: m.event is None)
    assert "ActionID" not in pong and pong.get("Ping") == "Pong"
    assert sim.actions_received[-1].get("Action") == "Ping"


async def test_errors_about_missing_channels(ami: RawAmi) -> None:
    missing = "Local/99999@caller-sim-deadbeef;1"
    cases = [
        (
            "Redirect",
            [
                ("Channel", missing),
                ("Context", "hotline-connect"),
                ("Exten", "agent-1001"),
                ("Priority", "1"),
            ],
        ),
        ("Redirect", [("Context", "hotline-connect"), ("Exten", "agent-1001"), ("Priority", "1")]),
        ("Hangup", [("Channel", missing)]),
        ("Getvar", [("Channel", missing), ("Variable", "FOO")]),
        ("Setvar", [("Channel", missing), ("Variable", "FOO"), ("Value", "1")]),
        ("Status", [("Channel", missing)]),
        ("Originate", [("Context", "hotline-inbound"), ("Exten", "12345"), ("Priority", "1")]),
        ("Originate", [("Channel", "garbage"), ("Context", "hotline-inbound"), ("Exten", "12345")]),
        ("Originate", [("Channel", "Local/1@caller-sim"), ("Exten", "12345"), ("Priority", "abc")]),
    ]
    expected = [
        f"Channel does not exist: {missing}",
        "Channel not specified",
        "No such channel",
        "No such channel",
        "No such channel",
        "No such channel",
        "Channel not specified",
        "Invalid channel",
        "Invalid priority",
    ]
    for (action, headers), message in zip(cases, expected, strict=True):
        response = await ami.response(ami.send(action, *headers))
        assert (response.get("Response"), response.get("Message")) == ("Error", message), action


async def test_read_only_user_may_not_act(sim: PbxSimulator) -> None:
    client = await RawAmi.connect(sim.port)
    await client.login("monitor", "monitor-secret")
    assert (await client.response(client.send("Ping"))).get("Ping") == "Pong"
    for action in ("Originate", "Hangup", "CoreShowChannels", "Command"):
        response = await client.response(client.send(action, ("Channel", "x")))
        assert response.get("Message") == "Permission denied"
        assert (await client.event("RequestNotAllowed")).get("RequestType") == f"Action: {action}"
    await client.close()


async def test_events_off_at_login_sends_responses_only(sim: PbxSimulator) -> None:
    client = await RawAmi.connect(sim.port)
    await client.login("hotline", "hotline-secret", ("Events", "off"))
    sim.place_inbound_call("13800000001", "张三")
    assert (await client.response(client.send("Ping"))).get("Ping") == "Pong"
    assert [m for m in client.seen if m.event] == []
    response = await client.response(client.send("Events", ("EventMask", "on")))
    assert response.get("Events") == "On"
    await client.close()


# -- calls ---------------------------------------------------------------------------------


async def test_inbound_call_tells_the_same_story_as_capture_02(sim: PbxSimulator, ami: RawAmi) -> None:
    require_transcripts()
    linkedid = sim.place_inbound_call("13800000001", "张三")
    await ami.event("MusicOnHoldStart")
    citizen = next(c.name for c in sim.live_channels() if c.name.endswith(";2"))
    await ami.response(ami.send("Hangup", ("Channel", citizen)))
    await ami.event("Hangup", Channel=waiting_channel_name(linkedid, citizen))
    real = [decode_frame(f) for f in AmiFramer().feed(capture("02-inbound-enqueue.recv.ami").read_bytes())]
    assert [m.event for m in ami.seen if m.event in STORY] == [m.event for m in real if m.event in STORY]
    enqueue = next(m for m in ami.seen if m.event == "UserEvent")
    assert len(enqueue.get_all("Channel")) == len(enqueue.get_all("Uniqueid")) == 2
    assert {m.get("Linkedid") for m in ami.seen if "Linkedid" in m} == {linkedid}
    assert "张三".encode() in ami.raw  # UTF-8 on the wire


def waiting_channel_name(linkedid: str, citizen: str) -> str:
    return citizen[:-1] + "1"


async def test_redirect_to_an_agent_who_answers(sim: PbxSimulator, ami: RawAmi) -> None:
    linkedid = sim.place_inbound_call("13800000003", "李四", priority="urgent")
    await ami.event("MusicOnHoldStart")
    channel = waiting_channel(sim, linkedid)
    redirect = ami.send(
        "Redirect",
        ("Channel", channel),
        ("Context", "hotline-connect"),
        ("Exten", "agent-1001"),
        ("Priority", "1"),
    )
    assert (await ami.response(redirect)).get("Message") == "Redirect successful"
    end = await ami.event("DialEnd", Channel=channel)
    assert end.get("DialStatus") == "ANSWER"
    second = await ami.event("BridgeEnter", Channel=channel)
    assert second.get("BridgeNumChannels") == "2"
    listing = await ami.list_items(ami.send("CoreShowChannels"), "CoreShowChannelsComplete")
    assert len(listing) == 4 and all(m.action_id == listing[0].action_id for m in listing)
    assert {m.get("BridgeId") for m in listing if m.get("Channel").endswith(";1")} == {
        second.get("BridgeUniqueid")
    }
    bridges = await ami.list_items(ami.send("BridgeList"), "BridgeListComplete")
    assert [b.get("BridgeNumChannels") for b in bridges] == ["2"]
    devices = await ami.list_items(ami.send("DeviceStateList"), "DeviceStateListComplete")
    assert ("Local/1001@agents", "INUSE") in {(d.get("Device"), d.get("State")) for d in devices}
    status = await ami.list_items(ami.send("Status", ("Channel", channel)), "StatusComplete")
    assert status[0].get("BridgeID") == second.get("BridgeUniqueid")
    value = await ami.response(ami.send("Getvar", ("Channel", channel), ("Variable", "HOTLINE_IVR")))
    assert (value.get("Variable"), value.get("Value")) == ("HOTLINE_IVR", "urgent")


async def test_agent_without_answer_sends_the_caller_back_on_hold(sim: PbxSimulator, ami: RawAmi) -> None:
    linkedid = sim.place_inbound_call("13800000004", "王五")
    await ami.event("MusicOnHoldStart")
    channel = waiting_channel(sim, linkedid)
    setvar = ami.send("Setvar", ("Channel", channel), ("Variable", "RING_TIMEOUT"), ("Value", "5"))
    assert (await ami.response(setvar)).get("Message") == "Variable Set"
    assert (await ami.event("VarSet", Variable="RING_TIMEOUT")).get("Value") == "5"
    ami.send(
        "Redirect",
        ("Channel", channel),
        ("Context", "hotline-connect"),
        ("Exten", "agent-1999"),
        ("Priority", "1"),
    )
    end = await ami.event("DialEnd", Channel=channel)
    assert end.get("DialStatus") == "NOANSWER"
    failed = await ami.event("UserEvent", UserEvent="HotlineAgentFailed")
    assert (failed.get("Agent"), failed.get("DialStatus")) == ("1999", "NOANSWER")
    assert (await ami.event("MusicOnHoldStart")).get("Channel") == channel
    assert linkedid in sim.live_calls()


async def test_agent_behaviour_changed_at_run_time(sim: PbxSimulator, ami: RawAmi) -> None:
    sim.set_agent_behaviour("1002", AgentBehaviour.answering(after_s=2, talk_s=3))
    linkedid = sim.place_inbound_call("13800000006", "郑十一")
    await ami.event("MusicOnHoldStart")
    channel = waiting_channel(sim, linkedid)
    ami.send(
        "Redirect",
        ("Channel", channel),
        ("Context", "hotline-connect"),
        ("Exten", "agent-1002"),
        ("Priority", "1"),
    )
    begin = await ami.event("DialBegin", Channel=channel)
    answered = await ami.event("DialEnd", Channel=channel)
    assert answered.get("DialStatus") == "ANSWER"
    assert float(answered.get("Uniqueid")) > 0 and begin.get("DestChannel") == answered.get("DestChannel")
    hangups = [await ami.event("Hangup") for _ in range(4)]  # the agent hangs up after talking
    assert {m.get("Cause") for m in hangups} == {"16"}
    assert sim.live_calls() == []


async def test_callback_that_succeeds(sim: PbxSimulator, ami: RawAmi) -> None:
    sim.set_citizen_behaviour("13900000002", CitizenBehaviour.answer(after_s=1, talk_s=5))
    originate = ami.send(
        "Originate",
        ("Channel", "Local/1001@agents"),
        ("Context", "hotline-callback"),
        ("Exten", "13900000002"),
        ("Priority", "1"),
        ("CallerID", "12345"),
        ("Async", "true"),
        ("Variable", "HOTLINE_CALLBACK_ID=cb-7"),
        ("Variable", "TICKET_ID=T-20261128-0001"),
        ("Variable", "HOTLINE_CITIZEN_DIAL=Local/13900000002@caller-sim"),
    )
    assert (await ami.response(originate)).get("Message") == "Originate successfully queued"
    response = await ami.event("OriginateResponse")
    assert (response.get("ActionID"), response.get("Response"), response.get("Reason")) == (
        originate,
        "Success",
        "4",
    )
    await ami.event("BridgeEnter", BridgeNumChannels="2")
    result = await ami.event("UserEvent", UserEvent="HotlineCallbackResult")
    assert (result.get("Ticket"), result.get("CallbackId"), result.get("DialStatus")) == (
        "T-20261128-0001",
        "cb-7",
        "ANSWER",
    )
    await ami.until(lambda m: m.event == "Hangup" and m.get("Channel").startswith("Local/1001"))


@pytest.mark.parametrize(
    ("channel", "exten", "response", "reason", "citizen_status"),
    [
        ("Local/1001@agents", "13900000404", "Success", "4", "BUSY"),
        ("Local/1001@agents", "13900000408", "Success", "4", "NOANSWER"),
        ("Local/1001@agents", "13900000503", "Success", "4", "CONGESTION"),
        ("Local/1999@agents", "13900000002", "Failure", "3", None),
        ("Local/1888@agents", "13900000002", "Failure", "5", None),
        ("Local/13900000503@citizen-congestion", "1001", "Failure", "8", None),
        ("Local/13900000777@citizen-hangup", "1001", "Failure", "0", None),
        ("Local/13900000000@no-such-context", "1001", "Failure", "0", None),
        ("NoSuchTech/1234", "1001", "Failure", "0", None),
    ],
)
async def test_callback_failures(
    ami: RawAmi, channel: str, exten: str, response: str, reason: str, citizen_status: str | None
) -> None:
    context = "agents" if exten == "1001" else "hotline-callback"
    originate = ami.send(
        "Originate",
        ("Channel", channel),
        ("Context", context),
        ("Exten", exten),
        ("Priority", "1"),
        ("CallerID", "12345"),
        ("Async", "true"),
        ("Variable", "TICKET_ID=T-1,CALLBACK_TIMEOUT=6"),
    )
    assert (await ami.response(originate)).get("Message") == "Originate successfully queued"
    result = await ami.event("OriginateResponse")
    assert (result.get("Response"), result.get("Reason")) == (response, reason)
    if response == "Failure":
        assert (result.get("Channel"), result.get("Uniqueid")) == (channel, "<unknown>")
    if citizen_status is not None:
        done = await ami.event("UserEvent", UserEvent="HotlineCallbackResult")
        assert done.get("DialStatus") == citizen_status


async def test_synchronous_originate_answers_when_the_call_is_up(ami: RawAmi) -> None:
    ok = ami.send("Originate", ("Channel", "Local/1001@agents"), ("Application", "Wait"), ("Data", "1"))
    assert (await ami.response(ok)).get("Message") == "Originate successfully queued"
    failed = ami.send("Originate", ("Channel", "Local/1888@agents"), ("Application", "Wait"), ("Data", "1"))
    assert (await ami.response(failed)).get("Message") == "Originate failed"


async def test_command_has_harmless_answers(ami: RawAmi) -> None:
    ok = await ami.response(ami.send("Command", ("Command", "core show channels count")))
    assert ok.get("Message") == "Command output follows" and len(ok.get_all("Output")) == 3
    bad = await ami.response(ami.send("Command", ("Command", "core show nosuchthing")))
    assert bad.get("Response") == "Error" and bad.get("Output").startswith("No such command")


# -- faults ----------------------------------------------------------------------------------


async def test_restart_like_capture_10(sim: PbxSimulator, ami: RawAmi) -> None:
    sim.place_inbound_call("13800000010", "孙八")
    await ami.event("MusicOnHoldStart")
    restart = asyncio.create_task(sim.restart(down_s=1.5))
    shutdown = await ami.event("Shutdown")
    assert shutdown.headers[2:] == (("Shutdown", "Cleanly"), ("Restart", "True"))
    assert await ami.eof()
    assert sim.live_calls() == []
    with pytest.raises(PbxUnavailableError):
        sim.place_inbound_call("13800000011", "周九")
    await asyncio.sleep(1.5 * SCALE * 0.5)  # inside the refusing part of the down time
    with pytest.raises(ConnectionError):
        probe = await RawAmi.connect(sim.port)
        await probe.next(within=1)
    await restart
    client = await RawAmi.connect(sim.port)
    await client.login()
    first, second = await client.next(), await client.next()
    assert first.event == second.event == "FullyBooted"
    assert [k for k, _ in first.headers] != [k for k, _ in second.headers]
    assert first.get("Uptime") == "0"
    linkedid = sim.place_inbound_call("13800000012", "吴十")
    assert linkedid.endswith(".0")  # the Uniqueid sequence starts again
    await client.close()
    late = await RawAmi.connect(sim.port)
    await late.login()
    assert [m.event for m in await late.drain_quiet()].count("FullyBooted") == 1
    await late.close()


async def test_dropped_connections_leave_the_calls_up(sim: PbxSimulator, ami: RawAmi) -> None:
    linkedid = sim.place_inbound_call("13800000001", "张三")
    await ami.event("MusicOnHoldStart")
    sim.drop_connections()
    assert await ami.eof()
    assert sim.live_calls() == [linkedid]
    again = await RawAmi.connect(sim.port)
    await again.login()
    listing = await again.list_items(again.send("CoreShowChannels"), "CoreShowChannelsComplete")
    assert {m.get("Linkedid") for m in listing} == {linkedid}
    assert {(m.get("Context"), m.get("Exten")) for m in listing if m.get("Channel").endswith(";1")} == {
        ("hotline-inbound", "hold")
    }
    await again.close()


async def test_half_open_connection_stays_silent_until_re_enabled(sim: PbxSimulator, ami: RawAmi) -> None:
    await ami.drain_quiet()
    sim.stop_answering()
    ami.send("Ping")
    sim.place_inbound_call("13800000001", "张三")
    with pytest.raises(TimeoutError):
        await ami.next(within=0.2)
    sim.stop_answering(False)
    pong = await ami.response(ami.send("Ping"))
    assert pong.get("Ping") == "Pong"


async def test_garbage_reaches_every_client(sim: PbxSimulator, ami: RawAmi) -> None:
    await ami.drain_quiet()
    sim.send_garbage(b"\x00\xffnot ami\r\n\r\n")
    message = await ami.next()
    assert message.recoded and b"\x00\xffnot ami" in ami.raw


async def test_time_scale_speeds_everything_up() -> None:
    async with PbxSimulator(time_scale=0.01, start_epoch=1795839276.0) as sim:
        client = await RawAmi.connect(sim.port)
        await client.login()
        started = time.monotonic()
        linkedid = sim.place_inbound_call("13800000001", "张三", patience_s=30)
        assert linkedid == "1795839276.0"  # the simulated clock starts where it was told
        await client.event("Hangup", within=2.0)  # 30 simulated seconds of patience
        assert time.monotonic() - started < 1.0
        assert linkedid not in sim.live_calls()
        started_sim = sim.now()
        await asyncio.sleep(0.1)
        assert sim.now() - started_sim == pytest.approx(10, rel=0.5)
        await client.close()


async def test_close_leaves_nothing_running() -> None:
    before = set(asyncio.all_tasks())
    sim = PbxSimulator(time_scale=SCALE)
    await sim.start()
    client = await RawAmi.connect(sim.port)
    await client.login()
    sim.place_inbound_call("13800000001", "张三", patience_s=100)
    sim.place_inbound_call("13800000002", "李四")
    await client.event("MusicOnHoldStart")
    await sim.close()
    assert await client.eof()
    await client.close()
    assert set(asyncio.all_tasks()) == before
    assert sim.errors == []
    with pytest.raises(ConnectionError):
        await RawAmi.connect(sim.port)
    assert sim.received and sim.actions_received[0].get("Action") == "Login"
