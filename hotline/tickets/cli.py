"""CLI: ``hotline tickets list|show|create|transition|link``, ``hotline taxonomy``.

:func:`register` adds the subcommands to the main parser; each sets ``func`` to a handler
``(args, settings) -> exit code``.  Output goes to stdout; errors to stderr with exit code 1 (refused,
not found), 2 (bad input or configuration) or 3 (probable duplicate: nothing created).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import zoneinfo
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from datetime import date, datetime
from pathlib import Path

from hotline.log import configure_logging, mask_name, mask_number
from hotline.settings import Settings
from hotline.store import StoreError
from hotline.store.factory import AnyStore
from hotline.store.factory import open_store as open_any_store
from hotline.store.postgres import PgStore
from hotline.tickets.datafile import UTF8, read_data_file
from hotline.tickets.departments import parse_departments
from hotline.tickets.errors import IllegalTransition, TicketError, TicketNotFound
from hotline.tickets.model import (
    Action,
    Channel,
    DeadlineKind,
    LinkRole,
    Satisfaction,
    TicketState,
    TicketType,
)
from hotline.tickets.phone import normalise_number
from hotline.tickets.service import Created, TicketService, TicketView, resolve_data_path
from hotline.tickets.taxonomy import Level, Taxonomy, parse_taxonomy

EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_DUPLICATE = 3
#: ``--centre`` on a single-centre SQLite store.
CENTRE_NEEDS_POSTGRESQL = (
    "hotline: --centre: the SQLite store holds one centre; it needs [store] url = postgresql://…"
)

Handler = Callable[[argparse.Namespace, Settings], int]


def open_store(settings: Settings) -> AbstractAsyncContextManager[AnyStore]:
    """The configured store."""
    return open_any_store(settings.store)


def _run(settings: Settings, body: Callable[[TicketService], Awaitable[int]]) -> int:
    # stdout carries the command's output: the log lines go to stderr.
    configure_logging(settings.log.level, stream=sys.stderr)

    async def main() -> int:
        async with open_store(settings) as store:
            return await body(TicketService.from_settings(settings, store))

    try:
        return asyncio.run(main())
    except IllegalTransition as exc:
        print(f"refused: {exc}", file=sys.stderr)
        print(f"  from: {exc.from_state}  to: {exc.to_state}  why: {exc.why}", file=sys.stderr)
        return EXIT_REFUSED
    except TicketNotFound as exc:
        print(f"hotline: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    except (TicketError, StoreError) as exc:
        print(f"hotline: {exc}", file=sys.stderr)
        return EXIT_USAGE


def _one_line(handler: Handler) -> Handler:
    """``handler`` with bad input refused in one line on stderr and exit 2 (no traceback)."""

    def run(args: argparse.Namespace, settings: Settings) -> int:
        try:
            return handler(args, settings)
        except (TicketError, StoreError) as exc:
            print(f"hotline: {exc}", file=sys.stderr)
            return EXIT_USAGE

    return run


def _zone(settings: Settings) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(settings.tickets.timezone)


def _fmt(at: float | None, tz: zoneinfo.ZoneInfo) -> str:
    return "-" if at is None else datetime.fromtimestamp(at, tz).strftime("%Y-%m-%d %H:%M")


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a date like 2026-11-28, got {text!r}") from exc


# ---- tickets --------------------------------------------------------------------------------------


def _list(args: argparse.Namespace, settings: Settings) -> int:
    if args.needs_attention:
        return _list_attention(args, settings)
    caller = normalise_number(args.caller, field="--caller") if args.caller else None

    async def body(service: TicketService) -> int:
        store = service.store
        if args.centre is not None and not isinstance(store, PgStore):
            print(CENTRE_NEEDS_POSTGRESQL, file=sys.stderr)
            return EXIT_USAGE
        tickets = await store.list_tickets(
            state=TicketState(args.state) if args.state else None,
            open_only=args.open,
            citizen_number=caller,
            accepted_on=args.day,
            limit=args.limit,
            **({"centre": args.centre} if args.centre is not None else {}),
        )
        if not tickets:
            print("no tickets")
            return 0
        for t in tickets:
            flags = "".join(
                [
                    " 督办" if t.supervision_count else "",
                    " 延期" if t.extension_count else "",
                    " provisional" if t.provisional else "",
                    f" dup-of:{t.duplicate_of}" if t.duplicate_of else "",
                ]
            )
            print(
                f"{t.number}  {t.state.value:<11} {t.ticket_type.label:<4} {t.classification}  "
                f"{t.department}  {t.description[:24]}{flags}"
            )
        return 0

    return _run(settings, body)


def _list_attention(args: argparse.Namespace, settings: Settings) -> int:
    tz = _zone(settings)

    async def body(service: TicketService) -> int:
        entries = await service.needing_attention(args.limit)
        if not entries:
            print("no tickets need attention")
            return 0
        for ticket, reason, since, callback_id in entries:
            via = f"  callback {callback_id}" if callback_id is not None else ""
            print(f"{ticket.number}  {ticket.state.value:<11} since {_fmt(since, tz)}  {reason}{via}")
        return 0

    return _run(settings, body)


def _print_view(view: TicketView, service: TicketService, tz: zoneinfo.ZoneInfo, reveal: bool) -> None:
    t = view.ticket
    name = t.citizen_name if reveal else mask_name(t.citizen_name)
    number = t.citizen_number if reveal else mask_number(t.citizen_number)
    label = (
        service.taxonomy.label(t.classification) if t.classification in service.taxonomy else t.classification
    )
    rows = [
        ("ticket", t.number),
        ("state", f"{t.state.value} ({t.state.label})"),
        ("type", f"{t.ticket_type.value} ({t.ticket_type.label})"),
        ("channel", t.channel.value),
        ("accepted", _fmt(t.created_at, tz)),
        ("classification", f"{t.classification} {label}"),
        ("department", t.department),
        ("occurred", t.occurred or "-"),
        ("location", t.location),
        ("what happened", t.description),
        ("situation now", t.current_situation or "-"),
        ("request", t.request),
        ("respondent", t.respondent or "-"),
        ("citizen", f"{name or '-'} {number or ''}".strip()),
        ("supervision", str(t.supervision_count)),
        ("extensions", f"{t.extension_count} ({t.extension_days} working days)"),
        ("satisfaction", t.satisfaction.value if t.satisfaction else "-"),
    ]
    if t.duplicate_of:
        rows.append(("probable duplicate of", t.duplicate_of))
    if t.provisional:
        rows.append(("provisional", "a deadline runs into a year without calendar data (weekends only)"))
    for key, value in rows:
        print(f"{key:>15}: {value}")
    print("\ndeadlines:")
    for c in view.deadlines:
        status = (
            f"met {_fmt(c.met_at, tz)}"
            if c.met_at is not None
            else (
                "BREACHED" if c.breached_at is not None else ("warned" if c.warned_at is not None else "open")
            )
        )
        extra = f" +{c.extension_days}wd" if c.extension_days else ""
        prov = " provisional" if c.provisional else ""
        print(f"  round {c.round} {c.kind.value:<16} due {c.due_on} 24:00{extra}  {status}{prov}")
    print("\naudit trail:")
    for tr in view.transitions:
        src = tr.from_state.value if tr.from_state else "-"
        detail = " ".join(f"{k}={v}" for k, v in tr.detail)
        print(
            f"  {tr.seq:>3} {_fmt(tr.at, tz)} {tr.actor:<8} {tr.action.value:<15} "
            f"{src} -> {tr.to_state.value}"
            f"{'  ' + tr.reason if tr.reason else ''}{'  [' + detail + ']' if detail else ''}"
        )
    print("\nlinked calls:")
    if not view.links:
        print("  none")
    for link in view.links:
        print(f"  {link.call_id:<24} {link.role.value:<10} {_fmt(link.at, tz)} by {link.actor}")


def _show(args: argparse.Namespace, settings: Settings) -> int:
    async def body(service: TicketService) -> int:
        _print_view(await service.get(args.number), service, _zone(settings), args.reveal)
        return 0

    return _run(settings, body)


def _create(args: argparse.Namespace, settings: Settings) -> int:
    from hotline.tickets.service import TicketDraft

    draft = TicketDraft(
        ticket_type=TicketType(args.type),
        channel=Channel(args.channel),
        classification=args.classification,
        location=args.location,
        description=args.description,
        request=args.request,
        occurred=args.occurred,
        current_situation=args.situation,
        respondent=args.respondent,
        citizen_name=args.name,
        citizen_number=args.number,
    )

    async def body(service: TicketService) -> int:
        outcome = await service.create(
            draft,
            actor=args.actor,
            call_id=args.call,
            allow_duplicate=args.allow_duplicate,
            external_call=args.external_call,
        )
        if isinstance(outcome, Created):
            t = outcome.ticket
            print(f"created {t.number} ({t.ticket_type.label}, {t.department})")
            for c in outcome.deadlines:
                print(f"  {c.kind.value:<16} due {c.due_on} 24:00{'  provisional' if c.provisional else ''}")
            return 0
        print("probable duplicate: the caller has an open ticket of the same classification:")
        for t in outcome.existing:
            print(f"  {t.number}  {t.state.value}  {t.description[:30]}")
        if outcome.linked:
            print(f"the call {args.call} was linked to {outcome.existing[0].number} (repeat); ", end="")
        else:
            print("link the call to it (hotline tickets link NUMBER CALL_ID --role repeat) or ", end="")
        print("create anyway with --allow-duplicate")
        return EXIT_DUPLICATE

    return _run(settings, body)


def _transition(args: argparse.Namespace, settings: Settings) -> int:
    action = Action(args.action)

    async def body(service: TicketService) -> int:
        if action is Action.EVALUATE and args.follow_up:
            ticket = await service.record_follow_up(
                args.number, Satisfaction(args.satisfaction), actor=args.actor, reason=args.reason
            )
        else:
            ticket = await service.transition(
                args.number,
                action,
                actor=args.actor,
                reason=args.reason,
                days=args.days,
                deadline=DeadlineKind(args.deadline) if args.deadline else None,
                department=args.department,
                satisfaction=Satisfaction(args.satisfaction) if args.satisfaction else None,
            )
        print(f"{ticket.number}: {ticket.state.value} ({ticket.state.label}), audit seq {ticket.version}")
        return 0

    return _run(settings, body)


def _link(args: argparse.Namespace, settings: Settings) -> int:
    async def body(service: TicketService) -> int:
        link = await service.link(
            args.number, args.call_id, LinkRole(args.role), actor=args.actor, external=args.external
        )
        print(f"linked call {link.call_id} to {args.number} as {link.role.value}")
        return 0

    return _run(settings, body)


# ---- taxonomy ---------------------------------------------------------------------------------


def taxonomy_summary(taxonomy: Taxonomy) -> list[str]:
    """The lines ``hotline taxonomy check`` prints for a valid taxonomy."""
    counts = taxonomy.counts()
    lines = [f"{taxonomy.source}: valid"]
    for level in Level:
        lines.append(f"  level {level.value} {level.label:<4} {counts[level]:>5}")
    lines.append(f"  departments      {len(taxonomy.departments()):>5}")
    return lines


def _taxonomy_check(args: argparse.Namespace, settings: Settings) -> int:
    configure_logging(settings.log.level, stream=sys.stderr)
    path: Path = args.file or resolve_data_path(settings.tickets.taxonomy_file)
    registry_path: Path = args.departments or resolve_data_path(settings.tickets.departments_file)
    text, encoding = read_data_file(path)  # DataFileError: one line, exit 2
    if encoding != UTF8:
        print(f"{path}: read as {encoding}")
    taxonomy, problems = parse_taxonomy(text, str(path))
    registry_text, registry_encoding = read_data_file(registry_path)
    if registry_encoding != UTF8:
        print(f"{registry_path}: read as {registry_encoding}")
    registry, registry_problems = parse_departments(registry_text, str(registry_path))
    problems += [f"{registry_path}: {p}" for p in registry_problems]
    if not registry_problems:
        problems += registry.problems_with(taxonomy)
    if problems:
        print(f"{path}: {len(problems)} problem(s)")
        for problem in problems:
            print(f"  {problem}")
        counts = taxonomy.counts()
        print("counts so far: " + ", ".join(f"level {lv.value}: {counts[lv]}" for lv in Level))
        return EXIT_REFUSED
    print("\n".join(taxonomy_summary(taxonomy)))
    unused = registry.unused(taxonomy)
    print(f"  registry         {len(registry):>5}  ({registry_path}; {len(unused)} named by no item)")
    return 0


# ---- registration -----------------------------------------------------------------------------


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``tickets`` and ``taxonomy`` to the ``hotline`` command."""
    tickets = subparsers.add_parser("tickets", help="tickets (工单): list, show, create, transition, link")
    sub = tickets.add_subparsers(dest="tickets_command", required=True)

    p = sub.add_parser("list", help="newest tickets first")
    p.add_argument("--state", choices=[s.value for s in TicketState])
    p.add_argument("--open", action="store_true", help="only tickets not closed")
    p.add_argument("--caller", metavar="NUMBER", help="only this citizen's tickets")
    p.add_argument("--day", type=_day, help="accepted on this day (YYYY-MM-DD)")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--centre", help="only the tickets this instance took (PostgreSQL; default: the province)")
    p.add_argument(
        "--needs-attention",
        action="store_true",
        help="open tickets a person must look at (e.g. a follow-up number that cannot be dialled)",
    )
    p.set_defaults(func=_one_line(_list))

    p = sub.add_parser("show", help="a ticket with its deadlines, audit trail and calls")
    p.add_argument("number", help="e.g. 12345-20261128-000042")
    p.add_argument("--reveal", action="store_true", help="show the citizen's name and number unmasked")
    p.set_defaults(func=_one_line(_show))

    p = sub.add_parser("create", help="accept (受理) a new matter")
    p.add_argument("--type", required=True, choices=[t.value for t in TicketType])
    p.add_argument("--channel", default=Channel.PHONE.value, choices=[c.value for c in Channel])
    p.add_argument("--class", dest="classification", required=True, help="responsibility item code (level 4)")
    p.add_argument("--location", required=True)
    p.add_argument("--description", required=True, help="what happened")
    p.add_argument("--request", required=True, help="what the citizen asks for")
    p.add_argument("--occurred", default="", help="when it happened")
    p.add_argument("--situation", default="", help="the current state of affairs")
    p.add_argument("--respondent", default="", help="the party complained about")
    p.add_argument("--name", default="", help="the citizen's name")
    p.add_argument("--number", default="", help="the citizen's phone number")
    p.add_argument("--call", help="the Linkedid of the call that opened it (one of the call records)")
    p.add_argument(
        "--external-call",
        action="store_true",
        help="--call is a call taken elsewhere (not in the call records)",
    )
    p.add_argument("--actor", default="cli", help="who records it (agent id)")
    p.add_argument("--allow-duplicate", action="store_true", help="create even if a probable duplicate")
    p.set_defaults(func=_one_line(_create))

    p = sub.add_parser("transition", help="apply a workflow action")
    p.add_argument("number")
    p.add_argument("action", choices=[a.value for a in Action if a is not Action.ACCEPT])
    p.add_argument("--actor", default="cli")
    p.add_argument("--reason", default="")
    p.add_argument("--days", type=int, help="extend: working days")
    p.add_argument("--deadline", choices=[k.value for k in DeadlineKind], help="extend: which deadline")
    p.add_argument("--department", help="dispatch: the department")
    p.add_argument("--satisfaction", choices=[s.value for s in Satisfaction], help="evaluate: the answer")
    p.add_argument(
        "--follow-up",
        action="store_true",
        help="evaluate: record the follow-up outcome (then close or reopen)",
    )
    p.set_defaults(func=_one_line(_transition))

    p = sub.add_parser("link", help="link a call to a ticket")
    p.add_argument("number")
    p.add_argument("call_id", help="the call's Linkedid")
    p.add_argument("--role", default=LinkRole.REPEAT.value, choices=[r.value for r in LinkRole])
    p.add_argument("--external", action="store_true", help="a call taken elsewhere (not in the call records)")
    p.add_argument("--actor", default="cli")
    p.set_defaults(func=_one_line(_link))

    taxonomy = subparsers.add_parser("taxonomy", help="the four-level classification")
    tsub = taxonomy.add_subparsers(dest="taxonomy_command", required=True)
    p = tsub.add_parser("check", help="validate the taxonomy file and print counts per level")
    p.add_argument("--file", type=Path, help="another file than tickets.taxonomy_file")
    p.add_argument("--departments", type=Path, help="another file than tickets.departments_file")
    p.set_defaults(func=_one_line(_taxonomy_check))
