"""The PBX bridge's exceptions: one small hierarchy, each carrying the facts."""

from __future__ import annotations


class AmiError(Exception):
    """Base of every error the PBX bridge raises."""


class NotConnectedError(AmiError):
    """An action was asked for while no logged-in AMI connection exists; nothing was sent."""

    def __init__(self, action: str) -> None:
        super().__init__(f"{action}: not connected to Asterisk; nothing sent")
        self.action = action


class ConnectionLostError(AmiError):
    """The connection went away while an action waited for its response."""

    def __init__(self, action: str, action_id: str, reason: str) -> None:
        super().__init__(f"{action} ({action_id}): connection lost ({reason}); it is never re-sent")
        self.action = action
        self.action_id = action_id
        self.reason = reason


class ActionTimeoutError(AmiError):
    """Asterisk did not answer an action in time."""

    def __init__(self, action: str, action_id: str, timeout_s: float) -> None:
        super().__init__(f"{action} ({action_id}): no response within {timeout_s:g} s")
        self.action = action
        self.action_id = action_id
        self.timeout_s = timeout_s


class ActionFailedError(AmiError):
    """Asterisk answered ``Response: Error``; ``message`` is Asterisk's own text."""

    def __init__(self, action: str, action_id: str, message: str) -> None:
        super().__init__(f"{action} ({action_id}) refused by Asterisk: {message}")
        self.action = action
        self.action_id = action_id
        self.message = message


class AuthenticationError(AmiError):
    """Login was refused (wrong user or secret); the secret is never part of the message."""

    def __init__(self, username: str, message: str) -> None:
        super().__init__(f"AMI login as {username!r} refused: {message}")
        self.username = username
        self.message = message
