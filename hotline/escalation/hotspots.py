"""Hot spots (热点): many callers, one incident.

New tickets are counted per *slot*: the level-3 classification (问题表现) and a place token (district
and street, from the ticket's location).  When a ticket arrives, the count of the slot's tickets in
the last ``window_s`` (an hour) is compared with that slot's baseline: the mean count in the same
window of the day over the last ``baseline_days`` (4 weeks).  With the baseline as a Poisson mean
(floored at ``min_rate`` so a quiet slot is not "infinitely" surprised by two tickets), the tail
probability P(X >= count) below ``p_threshold`` (and at least ``min_count`` tickets) opens an
incident: the tickets in the window are linked to it, and so is every later ticket of the slot
until the slot has been quiet for ``quiet_close_s``.

Pure: tickets in (time passed in), incidents out.  Memory: the slot's ticket times over the
baseline period (pruned as time moves on).
"""

from __future__ import annotations

import bisect
import math
import re
from collections import deque
from dataclasses import dataclass, field, replace

_DAY_S = 86_400.0

# A district name holds no 省/市 (so "沈阳市沈河区" gives "沈河区"), a street none of 省/市/区/县.
_DISTRICT = re.compile(r"((?:(?![省市])[\u4e00-\u9fff]){1,6}?(?:自治县|新区|区|县|旗))")
#: Words ending in 区 that are not districts ("小区门口" names no district).
_NOT_DISTRICTS = (
    "小区",
    "社区",
    "园区",
    "景区",
    "校区",
    "辖区",
    "片区",
    "城区",
    "郊区",
    "市区",
    "山区",
    "住宅区",
    "塌陷区",
    "聚集区",
)
_STREET = re.compile(r"((?:(?![省市区县])[\u4e00-\u9fff]){1,10}?(?:大街|大道|胡同|路|街|巷|道|镇|乡|村))")


def place_token(location: str) -> str:
    """The district and street of a location ("沈河区青年大街 123 号" -> "沈河区青年大街").

    Only the district when no street is named, only the street when no district is; empty when
    neither (such a ticket is not counted: it names no place).
    """
    text = "".join(location.split())
    district_match = next(
        (m for m in _DISTRICT.finditer(text) if not m.group(1).endswith(_NOT_DISTRICTS)), None
    )
    district = district_match.group(1) if district_match else ""
    rest = text[district_match.end() :] if district_match else text
    street_match = _STREET.search(rest)
    street = street_match.group(1) if street_match else ""
    return district + street


def poisson_tail(count: int, mean: float) -> float:
    """P(X >= count) for X ~ Poisson(mean), summed from the tail (exact for tiny probabilities)."""
    if count <= 0:
        return 1.0
    if mean <= 0:
        return 0.0
    log_term = -mean + count * math.log(mean) - math.lgamma(count + 1)
    term = math.exp(log_term)
    total = 0.0
    i = count
    while term > 0.0 and (term > total * 1e-16 or i < count + 5):
        total += term
        i += 1
        term *= mean / i
        if i > count + 10_000:  # pragma: no cover - a mean this large never reaches here
            break
    return min(total, 1.0)


@dataclass(frozen=True, slots=True)
class HotspotConfig:
    """The detector's knobs (``[escalation]`` hotspot_* settings)."""

    window_s: float = 3600.0
    baseline_days: int = 28
    p_threshold: float = 1e-6
    min_count: int = 5
    min_rate: float = 0.1  # floor of the baseline mean per window
    quiet_close_s: float = 3600.0

    def __post_init__(self) -> None:
        if self.window_s <= 0 or self.baseline_days < 1 or self.min_count < 2:
            raise ValueError(f"bad hot-spot config {self!r}")
        if not 0 < self.p_threshold < 1 or self.min_rate <= 0 or self.quiet_close_s <= 0:
            raise ValueError(f"bad hot-spot config {self!r}")


@dataclass(frozen=True, slots=True)
class Slot:
    """Where tickets are counted: a level-3 classification and a place token."""

    classification: str
    place: str

    @property
    def label(self) -> str:
        """``classification@place`` for logs and the store."""
        return f"{self.classification}@{self.place}"


@dataclass(frozen=True, slots=True)
class Incident:
    """One detected hot spot and the tickets linked to it."""

    incident_id: str
    slot: Slot
    opened_at: float
    count: int  # tickets in the window when it opened
    baseline: float  # the Poisson mean it was compared with
    p_value: float
    ticket_ids: tuple[str, ...] = ()
    last_ticket_at: float = 0.0
    closed_at: float | None = None


@dataclass(frozen=True, slots=True)
class IncidentDetected:
    """A new incident (``incident.detected``): alert the supervisors, link its tickets."""

    incident: Incident


@dataclass(frozen=True, slots=True)
class TicketJoinedIncident:
    """A later ticket of an open incident's slot: link it."""

    incident_id: str
    ticket_id: str
    at: float


@dataclass(frozen=True, slots=True)
class IncidentClosed:
    """The slot was quiet for ``quiet_close_s``: the incident stops taking tickets."""

    incident: Incident


HotspotEffect = IncidentDetected | TicketJoinedIncident | IncidentClosed


@dataclass(slots=True)
class _SlotHistory:
    times: list[float] = field(default_factory=list)  # sorted; the baseline period plus the window
    recent: deque[tuple[float, str]] = field(default_factory=deque)  # (at, ticket) in the window


class HotspotDetector:
    """Sliding-window counts per slot against the same window over the last weeks."""

    def __init__(self, config: HotspotConfig, *, id_prefix: str = "INC") -> None:
        self.config = config
        self._slots: dict[Slot, _SlotHistory] = {}
        self._open: dict[Slot, Incident] = {}
        self._id_prefix = id_prefix
        self._seq = 0
        self.evaluations = 0  # how many tests were made (for the false-alarm rate)

    def slot_of(self, classification: str, location: str) -> Slot | None:
        """The slot of a ticket (level-3 code = the first 6 digits), or None without a place."""
        place = place_token(location)
        code = classification[:6]
        if not place or len(code) < 6:
            return None
        return Slot(code, place)

    def seed(self, classification: str, location: str, at: float) -> None:
        """Count a past ticket for the baseline only (history loaded at start)."""
        slot = self.slot_of(classification, location)
        if slot is not None:
            bisect.insort(self._slots.setdefault(slot, _SlotHistory()).times, at)

    def restore(self, incident: Incident, next_seq: int) -> None:
        """Take back an open incident from the store (and the next id number)."""
        if incident.closed_at is None:
            self._open[incident.slot] = incident
        self._seq = max(self._seq, next_seq)

    def restore_seq(self, last_seq: int) -> None:
        """Continue incident ids after ``last_seq`` (the highest stored)."""
        self._seq = max(self._seq, last_seq)

    def open_incidents(self) -> list[Incident]:
        """The incidents still taking tickets."""
        return list(self._open.values())

    def baseline(self, slot: Slot, now: float) -> float:
        """Mean count of the slot in the same window of the day over the baseline days (unfloored)."""
        history = self._slots.get(slot)
        if history is None:
            return 0.0
        total = 0
        for day in range(1, self.config.baseline_days + 1):
            end = now - day * _DAY_S
            lo = bisect.bisect_right(history.times, end - self.config.window_s)
            hi = bisect.bisect_right(history.times, end)
            total += hi - lo
        return total / self.config.baseline_days

    def observe(self, ticket_id: str, classification: str, location: str, at: float) -> list[HotspotEffect]:
        """A new ticket: count it, join an open incident, or open a new one."""
        effects: list[HotspotEffect] = self.close_quiet(at)
        slot = self.slot_of(classification, location)
        if slot is None:
            return effects
        history = self._slots.setdefault(slot, _SlotHistory())
        bisect.insort(history.times, at)
        history.recent.append((at, ticket_id))
        while history.recent and history.recent[0][0] <= at - self.config.window_s:
            history.recent.popleft()
        self._prune(history, at)
        incident = self._open.get(slot)
        if incident is not None:
            joined = replace(incident, ticket_ids=(*incident.ticket_ids, ticket_id), last_ticket_at=at)
            self._open[slot] = joined
            effects.append(TicketJoinedIncident(incident.incident_id, ticket_id, at))
            return effects
        count = len(history.recent)
        if count < self.config.min_count:
            return effects
        self.evaluations += 1
        mean = max(self.baseline(slot, at), self.config.min_rate)
        p_value = poisson_tail(count, mean)
        if p_value >= self.config.p_threshold:
            return effects
        self._seq += 1
        incident = Incident(
            incident_id=f"{self._id_prefix}-{self._seq:06d}",
            slot=slot,
            opened_at=at,
            count=count,
            baseline=mean,
            p_value=p_value,
            ticket_ids=tuple(t for _, t in history.recent),
            last_ticket_at=at,
        )
        self._open[slot] = incident
        effects.append(IncidentDetected(incident))
        return effects

    def close_quiet(self, now: float) -> list[HotspotEffect]:
        """Close every open incident whose slot has been quiet for ``quiet_close_s``."""
        closed: list[HotspotEffect] = []
        for slot, incident in list(self._open.items()):
            if now - incident.last_ticket_at >= self.config.quiet_close_s:
                del self._open[slot]
                closed.append(IncidentClosed(replace(incident, closed_at=now)))
        return closed

    def _prune(self, history: _SlotHistory, now: float) -> None:
        horizon = now - self.config.baseline_days * _DAY_S - self.config.window_s
        if history.times and history.times[0] < horizon:
            cut = bisect.bisect_left(history.times, horizon)
            del history.times[:cut]
