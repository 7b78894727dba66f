"""Settings: parsed once into a frozen, typed object and passed explicitly.

Layers, later wins: ``config/hotline.toml`` (every default; ``$HOTLINE_DEFAULTS`` names another)
<- ``$HOTLINE_IMAGE_CONFIG`` (a packaging's own defaults, e.g. the container image's paths) <- the
site file (``--config``, or ``$HOTLINE_SITE_CONFIG`` when no ``--config`` is given) <-
``HOTLINE_<SECTION>_<KEY>`` environment variables (one key each).  So what a package ships stays a
default: the site file wins over it.

Each section is a frozen dataclass below; the loader is generic over them, so a new section is a
new dataclass and a field on :class:`Settings`.  A wrong or missing key raises
:class:`SettingsError` whose message is one line naming the key and what was expected.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ENV_PREFIX = "HOTLINE_"
#: Environment variables with the prefix that are not section keys.
RESERVED_ENV = frozenset({"HOTLINE_DEFAULTS", "HOTLINE_IMAGE_CONFIG", "HOTLINE_SITE_CONFIG"})


class SettingsError(Exception):
    """A configuration value is missing, unknown or of the wrong type."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"config error: {key}: {problem}")
        self.key = key
        self.problem = problem


class Secret(str):
    """A string that never shows itself in ``repr``/``str`` formatting of settings."""

    def __repr__(self) -> str:
        return "Secret('***')"

    def reveal(self) -> str:
        """The secret's value, for the one place that must send it."""
        return str.__str__(self)


@dataclasses.dataclass(frozen=True, kw_only=True)
class AmiSettings:
    """How to reach Asterisk's manager interface."""

    host: str
    port: int
    username: str
    secret: Secret
    ping_interval_s: float
    ping_timeout_s: float
    action_timeout_s: float
    connect_timeout_s: float
    reconnect_min_s: float
    reconnect_max_s: float
    fully_booted_timeout_s: float


@dataclasses.dataclass(frozen=True, kw_only=True)
class DialplanSettings:
    """Names the shipped dialplan uses, and the templates for dial strings."""

    inbound_context: str
    hold_exten: str
    connect_context: str
    connect_exten_template: str
    callback_context: str
    enqueue_user_event: str
    agent_failed_user_event: str
    callback_result_user_event: str
    agent_device_template: str
    citizen_dial_template: str
    hotline_caller_id: str
    ring_timeout_s: int
    callback_timeout_s: int
    priority_variable: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class LogSettings:
    """Where and how the service logs."""

    level: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class HealthSettings:
    """The health file: present and fresh only while AMI is connected (for container checks)."""

    file: str
    interval_s: float


@dataclasses.dataclass(frozen=True, kw_only=True)
class SimulatorSettings:
    """The built-in AMI-speaking PBX simulator (``hotline simulate-pbx``, ``hotline demo``)."""

    host: str
    port: int
    username: str
    secret: Secret
    agent_answer_delay_s: float
    caller_patience_s: float


def _minutes_of_day(text: str, key: str) -> int:
    """``"08:30"`` -> 510; ``"24:00"`` is allowed as the end of a day."""
    hours, sep, minutes = text.partition(":")
    if sep and hours.isdigit() and minutes.isdigit() and len(minutes) == 2:
        value = int(hours) * 60 + int(minutes)
        if int(minutes) < 60 and value <= 24 * 60:
            return value
    raise SettingsError(key, f'expected a time of day like "08:00", got {text!r}')


@dataclasses.dataclass(frozen=True, kw_only=True)
class QueueSettings:
    """The ACD: wrap-up, blending of inbound calls and callbacks, callbacks' defaults."""

    wrap_up_s: float
    inbound_reserve: int
    preempt_callbacks: bool
    agent_choice: str
    service_level_threshold_s: float
    snapshot_interval_s: float
    pbx_grace_s: float
    action_retry_s: float
    return_call_delay_s: float
    callback_hours_start: str
    callback_hours_end: str
    utc_offset_h: float
    callback_max_attempts: int
    callback_retry_spacing_s: float

    def __post_init__(self) -> None:
        start = _minutes_of_day(self.callback_hours_start, "queue.callback_hours_start")
        end = _minutes_of_day(self.callback_hours_end, "queue.callback_hours_end")
        if start >= end:
            raise SettingsError("queue.callback_hours_end", "must be later than callback_hours_start")
        if self.agent_choice not in {"longest_idle", "config_order"}:
            raise SettingsError("queue.agent_choice", 'expected "longest_idle" or "config_order"')
        if self.inbound_reserve < 0:
            raise SettingsError("queue.inbound_reserve", "must be 0 or more")
        if self.callback_max_attempts < 1:
            raise SettingsError("queue.callback_max_attempts", "must be 1 or more")

    def calling_hours_minutes(self) -> tuple[int, int]:
        """The callbacks' calling hours as minutes of the local day: ``(480, 1260)`` for 08:00-21:00."""
        return (
            _minutes_of_day(self.callback_hours_start, "queue.callback_hours_start"),
            _minutes_of_day(self.callback_hours_end, "queue.callback_hours_end"),
        )


@dataclasses.dataclass(frozen=True, kw_only=True)
class StoreSettings:
    """The SQLite database (``hotline.store``): one file, WAL, group commit."""

    path: str
    synchronous: str
    busy_timeout_ms: int
    write_timeout_s: float
    read_timeout_s: float
    max_batch: int

    # -- a province on PostgreSQL (issue 12): ``url`` picks the store; the rest is for PostgreSQL.
    #: ``sqlite:///var/hotline.db`` or ``postgresql://user@host:5432/db`` (no password: it comes
    #: from ``PGPASSWORD``); empty: SQLite at ``path``.
    url: str = ""
    #: This instance (one per city centre and PBX): stamped on its call records and tickets; its
    #: agents, live calls and callbacks are its own.
    instance_id: str = ""
    #: A claimed callback is this instance's while it renews the lease; a dead instance's
    #: callbacks go to another after this long.
    callback_lease_s: float = 30.0
    #: A callback in progress on an instance is never dialled by another; if that instance has
    #: not come back this long after its lease ran out, its ticket goes on the needs-attention list.
    callback_orphan_s: float = 3600.0
    #: Connections to PostgreSQL per instance.
    pool_size: int = 4

    def __post_init__(self) -> None:
        if self.synchronous not in {"off", "normal", "full", "extra"}:
            raise SettingsError("store.synchronous", 'expected "off", "normal", "full" or "extra"')
        if self.max_batch < 1:
            raise SettingsError("store.max_batch", "must be 1 or more")
        _check_store_url(self.url)
        if self.pool_size < 2:
            raise SettingsError("store.pool_size", f"{self.pool_size!r} is out of range; allowed: 2 or more")

    @property
    def is_postgresql(self) -> bool:
        """Whether the store is PostgreSQL (else the SQLite file :attr:`sqlite_path`)."""
        return self.url.startswith(("postgresql://", "postgres://"))

    @property
    def sqlite_path(self) -> str:
        """The SQLite file: ``url``'s path (``sqlite:///rel/path``, ``sqlite:////abs/path``) or ``path``."""
        return self.url[len("sqlite:///") :] if self.url.startswith("sqlite:///") else self.path


def _check_store_url(url: str) -> None:
    """``store.url`` names SQLite or PostgreSQL, and never carries a password (never echoed)."""
    if not url or url.startswith("sqlite:///"):
        if url == "sqlite:///":
            raise SettingsError("store.url", "sqlite:/// needs a file path (sqlite:///var/hotline.db)")
        return
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in ("postgresql", "postgres"):
        raise SettingsError("store.url", "expected sqlite:///path or postgresql://user@host:5432/db")
    userinfo = rest.split("/", 1)[0].rpartition("@")[0]
    if ":" in userinfo:
        raise SettingsError("store.url", "a password in the URL is refused; set PGPASSWORD instead")
    if "/" not in rest or not rest.split("/", 1)[1].split("?")[0]:
        raise SettingsError("store.url", "no database name (postgresql://user@host:5432/db)")


@dataclasses.dataclass(frozen=True, kw_only=True)
class TicketSettings:
    """Tickets: numbering, classification and calendar data, workflow limits, follow-up calls."""

    number_prefix: str
    taxonomy_file: str
    calendar_dir: str
    timezone: str
    duplicate_match_level: int
    return_window_days: int
    max_extensions: int
    max_extension_days: int
    follow_up_delay_s: float
    departments_file: str
    short_text_max_chars: int
    long_text_max_chars: int

    def __post_init__(self) -> None:
        if not 1 <= self.duplicate_match_level <= 4:
            raise SettingsError("tickets.duplicate_match_level", "must be 1 to 4")
        try:
            import zoneinfo

            zoneinfo.ZoneInfo(self.timezone)
        except (ValueError, zoneinfo.ZoneInfoNotFoundError) as exc:
            raise SettingsError("tickets.timezone", f"unknown time zone {self.timezone!r}") from exc


@dataclasses.dataclass(frozen=True, kw_only=True)
class SlaSettings:
    """The SLA watcher: how often it sweeps the deadlines."""

    sweep_interval_s: float
    sweep_batch: int
    sweep_timeout_s: float


@dataclasses.dataclass(frozen=True, kw_only=True)
class ReportSettings:
    """``hotline report``."""

    top_classifications: int
    interval_min: int
    short_abandon_s: float
    service_level_target: float
    overdue_limit: int

    def __post_init__(self) -> None:
        if self.top_classifications < 1:
            raise SettingsError("report.top_classifications", "must be 1 or more")
        if self.interval_min not in (15, 30, 60):
            raise SettingsError("report.interval_min", "must be 15, 30 or 60")
        if self.short_abandon_s < 0:
            raise SettingsError("report.short_abandon_s", "must be 0 or more")
        if not 0 < self.service_level_target <= 1:
            raise SettingsError("report.service_level_target", "must be a fraction in (0, 1]")
        if self.overdue_limit < 1:
            raise SettingsError("report.overdue_limit", "must be 1 or more")


# -- escalation (issue 11) ------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class RosterTierConfig:
    """One tier of the escalation roster (``[[escalation.roster]]``), lowest first."""

    role: str
    supervisor: str
    ack_timeout_s: float
    device: str = ""


@dataclasses.dataclass(frozen=True, kw_only=True)
class EscalationSettings:
    """Urgent and sensitive calls: signals, the supervisors' roster, hot spots, recording."""

    enabled: bool
    secret: Secret  # HMAC key of the watch list and repeat-call counts: numbers are never stored
    keywords_file: str
    taxonomy_flags_file: str
    ivr_urgent_values: tuple[str, ...]
    ivr_sensitive_values: tuple[str, ...]
    repeat_calls: int
    repeat_window_s: float
    repeat_level: str
    overdue_level: str
    long_wait_s: float
    record_flagged_calls: bool
    recording_template: str
    hotspot_window_s: float
    hotspot_baseline_days: int
    hotspot_p_threshold: float
    hotspot_min_count: int
    hotspot_min_rate: float
    hotspot_quiet_close_s: float
    hotspot_max_false_alarms_per_month: int
    roster: tuple[RosterTierConfig, ...] = ()

    def __post_init__(self) -> None:
        for key in ("repeat_level", "overdue_level"):
            if getattr(self, key) not in {"urgent", "sensitive"}:
                raise SettingsError(f"escalation.{key}", 'expected "urgent" or "sensitive"')
        if self.enabled and not self.secret.reveal():
            raise SettingsError("escalation.secret", "must not be empty")
        if self.repeat_calls < 2:
            raise SettingsError("escalation.repeat_calls", "must be 2 or more")
        for key in ("repeat_window_s", "long_wait_s", "hotspot_window_s"):
            if getattr(self, key) <= 0:
                raise SettingsError(f"escalation.{key}", "must be positive")
        for key in ("hotspot_min_rate", "hotspot_quiet_close_s"):
            if getattr(self, key) <= 0:
                raise SettingsError(f"escalation.{key}", "must be positive")
        if not 0 < self.hotspot_p_threshold < 1:
            raise SettingsError("escalation.hotspot_p_threshold", "must be between 0 and 1")
        if self.hotspot_baseline_days < 1:
            raise SettingsError("escalation.hotspot_baseline_days", "must be 1 or more")
        if self.hotspot_min_count < 2:
            raise SettingsError("escalation.hotspot_min_count", "must be 2 or more")
        if self.enabled and not self.roster:
            raise SettingsError("escalation.roster", "needs at least one tier ([[escalation.roster]])")
        for i, tier in enumerate(self.roster):
            if tier.ack_timeout_s <= 0:
                raise SettingsError(f"escalation.roster[{i}].ack_timeout_s", "must be positive")
        if "{call}" not in self.recording_template:
            raise SettingsError("escalation.recording_template", "must contain {call}")


@dataclasses.dataclass(frozen=True, kw_only=True)
class MqttSettings:
    """``[mqtt]``: the broker the agents' desktops, supervisors and wallboards use (``hotline.bus``)."""

    enabled: bool
    host: str
    port: int
    username: str
    password: Secret
    tls: bool
    tls_ca_file: str
    topic_prefix: str
    client_id: str
    keepalive_s: int
    connect_timeout_s: float
    publish_timeout_s: float
    reconnect_min_s: float
    reconnect_max_s: float
    stats_interval_s: float
    presence_grace_s: float
    max_payload_bytes: int
    outbox_poll_s: float

    def __post_init__(self) -> None:
        if not 1 <= self.port <= 65535:
            raise SettingsError("mqtt.port", "must be 1 to 65535")
        prefix = self.topic_prefix
        if not prefix or prefix.startswith("/") or prefix.endswith("/") or any(c in prefix for c in "#+\0"):
            raise SettingsError("mqtt.topic_prefix", "no wildcards, no leading or trailing /")
        if not self.client_id:
            raise SettingsError("mqtt.client_id", "must not be empty")
        if not 5 <= self.keepalive_s <= 3600:
            raise SettingsError("mqtt.keepalive_s", "must be 5 to 3600")
        positive = (
            "connect_timeout_s",
            "publish_timeout_s",
            "reconnect_min_s",
            "stats_interval_s",
            "outbox_poll_s",
        )
        for name in positive:
            if getattr(self, name) <= 0:
                raise SettingsError(f"mqtt.{name}", "must be more than 0")
        if self.reconnect_max_s < self.reconnect_min_s:
            raise SettingsError("mqtt.reconnect_max_s", "must be at least reconnect_min_s")
        if self.presence_grace_s < 0:
            raise SettingsError("mqtt.presence_grace_s", "must be 0 or more")
        if not 64 <= self.max_payload_bytes <= 1_048_576:
            raise SettingsError("mqtt.max_payload_bytes", "must be 64 to 1048576")


@dataclasses.dataclass(frozen=True, kw_only=True)
class AgentConfig:
    """One agent (``[[agents]]``): its id, the device it answers on, its skills/groups."""

    id: str
    device: str
    skills: tuple[str, ...] = ()
    autologin: bool = False


@dataclasses.dataclass(frozen=True, kw_only=True)
class Settings:
    """Every setting of the service."""

    ami: AmiSettings
    dialplan: DialplanSettings
    log: LogSettings
    health: HealthSettings
    simulator: SimulatorSettings
    queue: QueueSettings
    store: StoreSettings
    tickets: TicketSettings
    sla: SlaSettings
    report: ReportSettings
    mqtt: MqttSettings
    escalation: EscalationSettings
    agents: tuple[AgentConfig, ...] = ()


def default_config_path() -> Path:
    """The shipped defaults: ``$HOTLINE_DEFAULTS`` or ``config/hotline.toml`` beside the package."""
    env = os.environ.get("HOTLINE_DEFAULTS")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / "config" / "hotline.toml"


def load_settings(
    path: Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    defaults_path: Path | None = None,
) -> Settings:
    """Read defaults, the image's defaults, the site file (``path``), then environment overrides;
    validate everything."""
    env = os.environ if environ is None else environ
    raw = _read_toml(defaults_path or default_config_path())
    image = env.get("HOTLINE_IMAGE_CONFIG")
    if image:
        _merge(raw, _read_toml(Path(image)), "")
    site = (
        path
        if path is not None
        else (Path(env["HOTLINE_SITE_CONFIG"]) if env.get("HOTLINE_SITE_CONFIG") else None)
    )
    if site is not None:
        _merge(raw, _read_toml(site), "")
    _apply_environment(raw, env)
    settings: Settings = _build(Settings, raw, "")
    check_ranges(settings)
    return settings


# ---- range checks: a value out of range fails start-up in one line (issue 9) ----------------

#: ``log.level`` values.
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
#: Keys that may be 0 although their names say interval/timeout (0 = never / no wait).
_ZERO_ALLOWED = frozenset({"queue.snapshot_interval_s"})
#: Counts that must be at least 1.
_AT_LEAST_ONE = frozenset(
    {
        "store.max_batch",
        "sla.sweep_batch",
        "report.top_classifications",
        "queue.callback_max_attempts",
        "tickets.short_text_max_chars",
        "tickets.long_text_max_chars",
    }
)


def _range_problem(key: str, value: object) -> str | None:
    """What is wrong with ``value`` under ``key`` (None: fine)."""
    name = key.rpartition(".")[2]
    if isinstance(value, bool) or not isinstance(value, int | float):
        if key == "log.level" and value not in LOG_LEVELS:
            return f"{value!r} is not a log level; allowed: {', '.join(LOG_LEVELS)}"
        return None
    if value != value or value in (float("inf"), float("-inf")):
        return f"{value!r} is not a finite number"
    if name == "port" and not 1 <= value <= 65535:
        return f"{value!r} is out of range; allowed: 1-65535"
    if key in _AT_LEAST_ONE and value < 1:
        return f"{value!r} is out of range; allowed: 1 or more"
    if name.endswith(("interval_s", "timeout_s", "timeout_ms")) or name in {
        "reconnect_min_s",
        "reconnect_max_s",
        "service_level_threshold_s",
    }:
        if key in _ZERO_ALLOWED:
            return None if value >= 0 else f"{value!r} is out of range; allowed: 0 (never) or more"
        return None if value > 0 else f"{value!r} is out of range; allowed: more than 0"
    if name.endswith(("_s", "_days", "_extensions", "_reserve")) and value < 0:
        return f"{value!r} is out of range; allowed: 0 or more"
    if key == "queue.utc_offset_h" and not -12 <= value <= 14:
        return f"{value!r} is out of range; allowed: -12 to 14"
    return None


def check_ranges(settings: Settings) -> None:
    """Raise :class:`SettingsError` for the first value out of its range (ports 1-65535,
    intervals and timeouts > 0, counts >= 1, durations >= 0, ``log.level`` from
    :data:`LOG_LEVELS`); the message names the key, the value and what is allowed."""
    for section in dataclasses.fields(Settings):
        value = getattr(settings, section.name)
        if not dataclasses.is_dataclass(value):
            continue
        for field in dataclasses.fields(value):
            key = f"{section.name}.{field.name}"
            problem = _range_problem(key, getattr(value, field.name))
            if problem is not None:
                raise SettingsError(key, problem)
    ami = settings.ami
    if ami.reconnect_max_s < ami.reconnect_min_s:
        raise SettingsError(
            "ami.reconnect_max_s",
            f"{ami.reconnect_max_s!r} is less than ami.reconnect_min_s ({ami.reconnect_min_s!r})",
        )


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        raise SettingsError(str(path), "file not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(str(path), f"not valid TOML ({exc})") from exc


def _merge(base: dict[str, Any], top: Mapping[str, Any], prefix: str) -> None:
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _merge(base[key], value, f"{prefix}{key}.")
        else:
            base[key] = value


def _section_fields(cls: type[Any]) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _apply_environment(raw: dict[str, Any], environ: Mapping[str, str]) -> None:
    sections = _section_fields(Settings)
    for name, text in environ.items():
        if not name.startswith(ENV_PREFIX) or name in RESERVED_ENV:
            continue
        rest = name[len(ENV_PREFIX) :].lower()
        section, _, key = rest.partition("_")
        kind = sections.get(section)
        if kind is None or not (dataclasses.is_dataclass(kind) and isinstance(kind, type)):
            raise SettingsError(name, f"no settings section {section!r} (sections: {', '.join(sections)})")
        fields = _section_fields(kind)
        if key not in fields:
            raise SettingsError(name, f"no key {key!r} in section [{section}]")
        raw.setdefault(section, {})[key] = _from_env_text(text, fields[key], f"{section}.{key}")


def _from_env_text(text: str, kind: Any, key: str) -> Any:
    if kind is bool:
        lowered = text.strip().lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
        raise SettingsError(key, f"expected true or false, got {text!r}")
    if kind is int:
        try:
            return int(text)
        except ValueError as exc:
            raise SettingsError(key, f"expected an integer, got {text!r}") from exc
    if kind is float:
        try:
            return float(text)
        except ValueError as exc:
            raise SettingsError(key, f"expected a number, got {text!r}") from exc
    if typing.get_origin(kind) is tuple:
        return [part.strip() for part in text.split(",") if part.strip()]
    return text


def _describe(kind: Any) -> str:
    if kind is Secret:
        return "a string"
    if kind is str:
        return "a string"
    if kind is bool:
        return "true or false"
    if kind is int:
        return "an integer"
    if kind is float:
        return "a number"
    if typing.get_origin(kind) is tuple:
        return f"a list of {_describe(typing.get_args(kind)[0])}s"
    if dataclasses.is_dataclass(kind):
        return "a table"
    return str(kind)


def _convert(value: Any, kind: Any, key: str) -> Any:
    origin = typing.get_origin(kind)
    if origin is types.UnionType or origin is typing.Union:
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        if value is None:
            return None
        return _convert(value, args[0], key)
    if dataclasses.is_dataclass(kind) and isinstance(kind, type):
        if not isinstance(value, Mapping):
            raise SettingsError(key, f"expected a table, got {type(value).__name__}")
        return _build(kind, value, f"{key}.")
    if origin is tuple:
        item_kind = typing.get_args(kind)[0]
        if not isinstance(value, list | tuple):
            raise SettingsError(key, f"expected {_describe(kind)}, got {value!r}")
        return tuple(_convert(item, item_kind, f"{key}[{i}]") for i, item in enumerate(value))
    if kind is bool:
        if not isinstance(value, bool):
            raise SettingsError(key, f"expected true or false, got {value!r}")
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise SettingsError(key, f"expected an integer, got {value!r}")
        return value
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SettingsError(key, f"expected a number, got {value!r}")
        return float(value)
    if kind is Secret:
        if not isinstance(value, str):
            raise SettingsError(key, "expected a string")  # never echo a secret
        return Secret(value)
    if kind is str:
        if not isinstance(value, str):
            raise SettingsError(key, f"expected a string, got {value!r}")
        return value
    raise SettingsError(key, f"unsupported setting type {kind!r}")  # pragma: no cover - programming error


def _build(cls: type[Any], raw: Mapping[str, Any], prefix: str) -> Any:
    fields = _section_fields(cls)
    for key in raw:
        if key not in fields:
            where = prefix.rstrip(".") or "top level"
            raise SettingsError(f"{prefix}{key}", f"unknown key (in {where}; known: {', '.join(fields)})")
    values: dict[str, Any] = {}
    for name, kind in fields.items():
        if name not in raw:
            field = next(f for f in dataclasses.fields(cls) if f.name == name)
            if field.default is not dataclasses.MISSING or field.default_factory is not dataclasses.MISSING:
                continue
            raise SettingsError(f"{prefix}{name}", f"missing; expected {_describe(kind)}")
        values[name] = _convert(raw[name], kind, f"{prefix}{name}")
    return cls(**values)
