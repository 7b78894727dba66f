"""``hotline agent`` and ``hotline wallboard``: line interfaces on the MQTT contract.

The agent's desktop shows its state and each offer's screen-pop as it rings, and takes one-key
commands from stdin (``?`` lists them).  The wallboard prints the queue's figures as they come,
every agent's state and the supervisors' alerts.  Both are plain clients of the contract
(:mod:`hotline.bus.desktop`): nothing here knows the service's insides.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
import threading
from collections.abc import Mapping
from typing import Any, TextIO

from hotline.bus.desktop import AgentDesktop, BoardClient, NoReply

AGENT_HELP = """keys (then Enter):
  l            log in                    o            log out
  r            ready                     p REASON     pause (e.g. p lunch)
  w            end wrap-up               e REASON     escalate the last offered call
  t TICKET     link the last call to a ticket (12345-YYYYMMDD-NNNNNN)
  ?            this help                 q            quit"""


def describe_state(state: Mapping[str, Any]) -> str:
    """``1001 paused (lunch) since 12:01:30``."""
    since = str(state.get("since") or "")
    clock = since[11:19] if len(since) >= 19 else since
    reason = f" ({state['reason']})" if state.get("reason") else ""
    return f"{state.get('agent')} {state.get('state')}{reason} since {clock}"


def describe_offer(offer: Mapping[str, Any]) -> str:
    """The screen-pop, several lines."""
    kind = offer.get("kind")
    head = f"RINGING: {kind} call {offer.get('call_id') or offer.get('callback_id')}"
    lines = [
        "=" * 60,
        head,
        f"  caller   {offer.get('number') or '(unknown)'}",
        f"  priority {offer.get('priority')}"
        + (f"  flags {', '.join(offer['flags'])}" if offer.get("flags") else ""),
    ]
    if offer.get("waited_s") is not None:
        lines.append(f"  waited   {float(offer['waited_s']):.0f} s")
    if kind == "callback":
        lines.append(f"  callback {offer.get('callback_kind')} attempt {offer.get('attempt')}")
    tickets = offer.get("tickets") or []
    if tickets:
        lines.append("  tickets:")
        for t in tickets:
            mark = "OPEN " if t.get("open") else "     "
            due = f" due {t['due']}" if t.get("due") else ""
            lines.append(f"    {mark}{t.get('number')}  {t.get('state')}  {t.get('classification')}{due}")
    elif offer.get("tickets_error"):
        lines.append(f"  tickets: unavailable ({offer['tickets_error']})")
    else:
        lines.append("  tickets: none")
    lines.append("=" * 60)
    return "\n".join(lines)


def describe_stats(stats: Mapping[str, Any]) -> str:
    """The wallboard's figures in a few lines."""
    waiting = stats.get("waiting") or {}
    agents = stats.get("agents") or {}
    sl = stats.get("service_level")
    asa = stats.get("asa_s")
    abandon = stats.get("abandon_rate")
    busy = sum(int(agents.get(k, 0)) for k in ("offered", "busy_inbound", "busy_callback"))
    return "\n".join(
        [
            f"[{str(stats.get('at', ''))[11:19]}] waiting {stats.get('waiting_total', 0)} "
            f"(urgent {waiting.get('escalated', 0)}, normal {waiting.get('normal', 0)})  "
            f"longest {float(stats.get('longest_wait_s') or 0):.0f} s  "
            f"callbacks due {stats.get('callbacks_due', 0)}",
            f"  agents: ready {agents.get('ready', 0)}  busy {busy}  wrap-up {agents.get('wrap_up', 0)}  "
            f"paused {agents.get('paused', 0)}  logged out {agents.get('logged_out', 0)}",
            f"  service level {'-' if sl is None else f'{sl:.1%}'} "
            f"within {stats.get('service_level_threshold_s')} s"
            f"  ASA {'-' if asa is None else f'{asa:.1f} s'}"
            f"  abandoned {'-' if abandon is None else f'{abandon:.1%}'}"
            f"  answered {stats.get('calls_answered', 0)}"
            + ("" if stats.get("pbx_connected", True) else "  PBX DISCONNECTED"),
        ]
    )


def _parse_key(line: str, last_call: str | None) -> tuple[str, dict[str, str]] | str | None:
    """A command to send, a message to print, or None to quit."""
    key, _, rest = line.strip().partition(" ")
    rest = rest.strip()
    simple = {"l": "login", "o": "logout", "r": "ready", "w": "end_wrap_up"}
    if key in simple:
        return simple[key], {}
    if key == "p":
        return ("pause", {"reason": rest}) if rest else "pause needs a reason: p lunch"
    if key in ("e", "t"):
        if last_call is None:
            return "no call offered yet"
        if not rest:
            return "needs a reason" if key == "e" else "needs a ticket number"
        if key == "e":
            return "escalate", {"call_id": last_call, "reason": rest}
        return "link_ticket", {"call_id": last_call, "ticket": rest}
    if key == "q":
        return None
    return AGENT_HELP


async def _lines(stream: TextIO) -> asyncio.Queue[str | None]:
    """stdin lines, read on a thread (a terminal or a pipe alike); None at end of input."""
    queue: asyncio.Queue[str | None] = asyncio.Queue()
    loop = asyncio.get_running_loop()

    def pump() -> None:
        for line in stream:
            loop.call_soon_threadsafe(queue.put_nowait, line)
        loop.call_soon_threadsafe(queue.put_nowait, None)

    # A daemon thread: a read blocked on a terminal must not hold the process at exit.
    threading.Thread(target=pump, name="stdin-lines", daemon=True).start()
    return queue


async def run_agent(
    host: str, port: int, agent_id: str, password: str, prefix: str, *, out: TextIO = sys.stdout
) -> int:
    """``hotline agent --id ...`` until ``q`` or end of input."""

    def say(text: str) -> None:
        out.write(text + "\n")
        out.flush()

    async with AgentDesktop.connect(host, port, agent_id, password, prefix=prefix) as desk:
        say(f"agent {agent_id} connected to {host}:{port} ({prefix}); ? for keys")
        lines = await _lines(sys.stdin)
        last_call: str | None = None

        async def show() -> None:
            nonlocal last_call
            while True:
                offer_task = asyncio.ensure_future(desk.offers.get())
                change_task = asyncio.ensure_future(desk.changes.get())
                done, pending = await asyncio.wait(
                    {offer_task, change_task}, return_when=asyncio.FIRST_COMPLETED
                )
                for task in pending:
                    task.cancel()
                if offer_task in done:
                    offer = offer_task.result()
                    last_call = offer.get("call_id") or last_call
                    say(describe_offer(offer))
                if change_task in done:
                    kind, data = change_task.result()
                    if kind == "state" and data.get("agent") == agent_id:
                        say(f"state: {describe_state(data)}")
                    elif kind == "status":
                        say(f"service: {data.get('status')}")

        async with asyncio.TaskGroup() as tasks:
            viewer = tasks.create_task(show(), name="agent-view")
            while (line := await lines.get()) is not None:
                if not line.strip():
                    continue
                action = _parse_key(line, last_call)
                if action is None:
                    break
                if isinstance(action, str):
                    say(action)
                    continue
                cmd, fields = action
                try:
                    reply = await desk.send(cmd, fields)
                except NoReply as exc:
                    say(f"{cmd}: {exc}")
                    continue
                say(f"{cmd}: ok" if reply.get("ok") else f"{cmd}: refused: {reply.get('error')}")
            viewer.cancel()
    return 0


async def run_wallboard(
    host: str,
    port: int,
    username: str,
    password: str,
    prefix: str,
    *,
    out: TextIO = sys.stdout,
    updates: int = 0,
) -> int:
    """``hotline wallboard``: print the board as figures arrive; stop after ``updates`` (0 = never)."""
    tty = out.isatty()
    shown = 0
    async with BoardClient.connect(host, port, username, password, prefix=prefix) as board:
        out.write(f"wallboard on {host}:{port} ({prefix})\n")
        out.flush()
        while True:
            kind, data = await board.changes.get()
            if kind == "alert":
                out.write(
                    f"ALERT {data.get('type')}: agent {data.get('agent')} call {data.get('call_id')} "
                    f"{data.get('reason', '')}\n"
                )
            elif kind == "stats":
                text = describe_stats(data)
                states = sorted(board.states.values(), key=lambda s: str(s.get("agent")))
                roster = "  ".join(f"{s.get('agent')}:{s.get('state')}" for s in states)
                if tty:
                    out.write("\x1b[2J\x1b[H")
                out.write(f"{text}\n  {roster}\n")
                shown += 1
            elif kind == "status" and data.get("status") != "online":
                out.write(f"service {data.get('status')} at {dt.datetime.now():%H:%M:%S}\n")
            out.flush()
            if updates and shown >= updates:
                return 0
