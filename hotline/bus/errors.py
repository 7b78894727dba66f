"""The bus's errors."""

from __future__ import annotations


class BusError(Exception):
    """Something went wrong on the MQTT side."""


class PayloadError(BusError):
    """A message from outside failed its checks; ``problem`` says which, ``command_id`` is its ``id``
    when that could be read (the error reply names it)."""

    def __init__(self, problem: str, command_id: str | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.command_id = command_id
