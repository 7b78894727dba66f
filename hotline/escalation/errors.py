"""Errors of the escalation rules: each carries the facts a caller needs."""

from __future__ import annotations


class EscalationError(Exception):
    """Base class of everything the escalation rules refuse or cannot load."""


class KeywordDataError(EscalationError):
    """A keyword, negation or exclusion file is missing or malformed."""

    def __init__(self, path: str, line: int, problem: str) -> None:
        super().__init__(f"{path}:{line}: {problem}")
        self.path = path
        self.line = line
        self.problem = problem


class TaxonomyFlagError(EscalationError):
    """The taxonomy flag file names an unknown node or an unknown level."""

    def __init__(self, path: str, line: int, problem: str) -> None:
        super().__init__(f"{path}:{line}: {problem}")
        self.path = path
        self.line = line
        self.problem = problem


class IllegalAlertTransition(EscalationError):
    """An alert was asked to do something its state does not allow (e.g. acknowledged twice)."""

    def __init__(self, alert_id: str, state: str, trigger: str) -> None:
        super().__init__(f"alert {alert_id}: {trigger} not allowed in state {state}")
        self.alert_id = alert_id
        self.state = state
        self.trigger = trigger


class UnknownAlert(EscalationError):
    """No open alert with that id."""

    def __init__(self, alert_id: str) -> None:
        super().__init__(f"no open alert {alert_id}")
        self.alert_id = alert_id
