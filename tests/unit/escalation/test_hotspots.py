"""Hot spots: a generated month of background tickets, then an injected burst.

The background: eight weeks of tickets (about 1,500 a day, a daily profile, slots of very unequal
size); the first four weeks only feed the baseline, the last four are watched.  The burst: 25
tickets about a burst water main in one street within 40 minutes.  It must be detected within 10
minutes of its start; the background alone must raise no more incidents than the configured
false-alarm allowance (``[escalation] hotspot_max_false_alarms_per_month``).
"""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import pytest

from hotline.escalation.hotspots import (
    HotspotConfig,
    HotspotDetector,
    IncidentClosed,
    IncidentDetected,
    TicketJoinedIncident,
    place_token,
    poisson_tail,
)
from hotline.settings import load_settings

DAY = 86_400.0
START = 1_790_000_000.0 - (1_790_000_000.0 % DAY) - 8 * 3600  # a local (UTC+8) midnight
TAXONOMY = Path(__file__).resolve().parents[3] / "config" / "taxonomy.csv"
DISTRICTS = ["和平区", "沈河区", "大东区", "皇姑区", "铁西区", "浑南区", "于洪区", "苏家屯区"]
STREETS = [
    "中山路",
    "青年大街",
    "北京街",
    "太原街",
    "南京北街",
    "文化路",
    "长江街",
    "黄河大街",
    "建设大路",
    "民主路",
]
# Hourly profile of a 12345 day (calls peak mid-morning and early afternoon).
PROFILE = [1, 1, 1, 1, 1, 2, 4, 8, 14, 16, 15, 12, 9, 12, 14, 13, 11, 9, 7, 6, 5, 4, 3, 2]


def _config() -> HotspotConfig:
    esc = load_settings().escalation
    return HotspotConfig(
        window_s=esc.hotspot_window_s,
        baseline_days=esc.hotspot_baseline_days,
        p_threshold=esc.hotspot_p_threshold,
        min_count=esc.hotspot_min_count,
        min_rate=esc.hotspot_min_rate,
        quiet_close_s=esc.hotspot_quiet_close_s,
    )


def _classes() -> list[str]:
    codes = []
    for line in TAXONOMY.read_text(encoding="utf-8").splitlines():
        parts = line.split(",")
        if len(parts) == 5 and parts[2] == "3":
            codes.append(parts[0])
    return codes


def _background(days: int, per_day: float, seed: int) -> list[tuple[float, str, str]]:
    """(at, classification, location) sorted by time: Poisson arrivals split over unequal slots."""
    rng = random.Random(seed)
    slots = [(c, d + s) for c in _classes() for d in DISTRICTS for s in STREETS]
    weights = [rng.lognormvariate(0.0, 1.5) for _ in slots]
    cumulative = list(itertools.accumulate(weights))
    total_profile = sum(PROFILE)
    tickets: list[tuple[float, str, str]] = []
    for day in range(days):
        for hour, share in enumerate(PROFILE):
            rate = per_day * share / total_profile  # tickets in this hour
            t = START + day * DAY + hour * 3600.0
            end = t + 3600.0
            while True:
                t += rng.expovariate(rate / 3600.0)
                if t >= end:
                    break
                code, place = rng.choices(slots, cum_weights=cumulative)[0]
                tickets.append((t, code, f"{place}{rng.randint(1, 300)}号"))
    return tickets


@pytest.fixture(scope="module")
def background() -> list[tuple[float, str, str]]:
    return _background(days=56, per_day=1500.0, seed=12345)


def _detector(
    background: list[tuple[float, str, str]],
) -> tuple[HotspotDetector, list[tuple[float, str, str]]]:
    detector = HotspotDetector(_config())
    watch_from = START + 28 * DAY
    watched = []
    for at, code, location in background:
        if at < watch_from:
            detector.seed(code, location, at)
        else:
            watched.append((at, code, location))
    return detector, watched


def test_the_background_month_stays_within_the_false_alarm_allowance(
    background: list[tuple[float, str, str]],
) -> None:
    detector, watched = _detector(background)
    incidents = []
    for n, (at, code, location) in enumerate(watched):
        incidents += [
            e for e in detector.observe(f"T{n}", code, location, at) if isinstance(e, IncidentDetected)
        ]
    allowance = load_settings().escalation.hotspot_max_false_alarms_per_month
    print(
        f"\nhot spots, background month: {len(watched)} tickets, {detector.evaluations} tests, "
        f"{len(incidents)} incidents (allowance {allowance})"
    )
    assert len(watched) > 35_000
    assert len(incidents) <= allowance


def test_a_burst_in_one_street_is_detected_within_ten_minutes(
    background: list[tuple[float, str, str]],
) -> None:
    detector, watched = _detector(background)
    rng = random.Random(7)
    burst_start = START + 45 * DAY + 10 * 3600.0 + 17 * 60.0  # a busy morning in the watched month
    burst = sorted(burst_start + rng.uniform(0.0, 40 * 60.0) for _ in range(25))
    burst[0] = burst_start
    stream = [(at, code, loc, f"T{n}") for n, (at, code, loc) in enumerate(watched)]
    stream += [(at, "130101", f"沈河区青年大街{100 + i}号", f"B{i}") for i, at in enumerate(burst)]
    stream.sort()
    detected: list[IncidentDetected] = []
    joined: list[TicketJoinedIncident] = []
    for at, code, location, ticket in stream:
        for effect in detector.observe(ticket, code, location, at):
            if isinstance(effect, IncidentDetected):
                detected.append(effect)
            elif isinstance(effect, TicketJoinedIncident):
                joined.append(effect)
    ours = [
        d
        for d in detected
        if d.incident.slot.place == "沈河区青年大街" and d.incident.slot.classification == "130101"
    ]
    assert len(ours) == 1
    incident = ours[0].incident
    delay_min = (incident.opened_at - burst_start) / 60.0
    linked = set(incident.ticket_ids) | {j.ticket_id for j in joined if j.incident_id == incident.incident_id}
    burst_linked = len({t for t in linked if t.startswith("B")})
    print(
        f"\nhot spots, burst: detected {delay_min:.1f} min after its start with {incident.count} tickets "
        f"(baseline {incident.baseline:.2f}/h, p={incident.p_value:.1e}); "
        f"{burst_linked}/25 burst tickets linked"
    )
    assert delay_min <= 10.0
    assert {f"B{i}" for i in range(25)} <= linked


def test_an_incident_closes_after_a_quiet_period() -> None:
    config = HotspotConfig(min_count=3, p_threshold=1e-3, quiet_close_s=600.0)
    detector = HotspotDetector(config)
    effects = []
    for i in range(3):
        effects += detector.observe(f"T{i}", "130101", "沈河区青年大街1号", START + i * 60.0)
    assert any(isinstance(e, IncidentDetected) for e in effects)
    closed = detector.close_quiet(START + 120.0 + 600.0)
    assert len(closed) == 1 and isinstance(closed[0], IncidentClosed) and not detector.open_incidents()


def test_a_ticket_without_a_place_is_not_counted() -> None:
    detector = HotspotDetector(HotspotConfig(min_count=2))
    for i in range(10):
        assert detector.observe(f"T{i}", "130101", "不详", START + i) == []


@pytest.mark.parametrize(
    ("location", "token"),
    [
        ("沈河区青年大街123号", "沈河区青年大街"),
        ("辽宁省沈阳市沈河区青年大街123号", "沈河区青年大街"),
        ("沈阳市和平区中华路12号", "和平区中华路"),
        ("和平区 南京北街 5 号 2 单元", "和平区南京北街"),
        ("中山路88号", "中山路"),
        ("浑南区", "浑南区"),
        ("小区门口", ""),
    ],
)
def test_the_place_token(location: str, token: str) -> None:
    assert place_token(location) == token


def test_the_poisson_tail_is_exact_for_small_probabilities() -> None:
    assert poisson_tail(0, 1.0) == 1.0
    assert poisson_tail(1, 2.0) == pytest.approx(1 - 2.718281828459045**-2.0)
    # P(X >= 5 | 0.1) = sum_{k>=5} e^-0.1 0.1^k / k!  ~ 7.66e-8
    assert poisson_tail(5, 0.1) == pytest.approx(7.66e-8, rel=1e-2)
