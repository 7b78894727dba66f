"""Escalation (突发应急、敏感事件): signals, alerts to supervisors with acknowledgement, hot spots.

Pure rules, like the queue's router: no awaits, no clock, no I/O except reading the shipped data
files (``config/escalation/``).  :class:`~hotline.escalation.desk.EscalationDesk` takes every
input and returns effects; :mod:`hotline.alerting` carries them out (store, log, timers, the
queue's ``FlagCall``, the bus's alerts).
"""

from hotline.escalation.alerts import Alert, AlertKind, AlertState, Roster, RosterTier
from hotline.escalation.desk import EscalationDesk, EscalationRules, FlagCall
from hotline.escalation.hotspots import HotspotConfig, HotspotDetector, Incident, place_token
from hotline.escalation.keywords import KeywordLists, KeywordMatcher, load_keyword_lists
from hotline.escalation.model import Level, Signal, Source
from hotline.escalation.signals import TaxonomyFlags, WatchList, load_taxonomy_flags, number_digest

__all__ = [
    "Alert",
    "AlertKind",
    "AlertState",
    "EscalationDesk",
    "EscalationRules",
    "FlagCall",
    "HotspotConfig",
    "HotspotDetector",
    "Incident",
    "KeywordLists",
    "KeywordMatcher",
    "Level",
    "Roster",
    "RosterTier",
    "Signal",
    "Source",
    "TaxonomyFlags",
    "WatchList",
    "load_keyword_lists",
    "load_taxonomy_flags",
    "number_digest",
    "place_token",
]
