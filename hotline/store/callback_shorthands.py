"""Callback writes that both stores express through their own ``update_callback``.

Kept once here so SQLite (:class:`hotline.store.queue_tables.QueueTables`) and PostgreSQL
(:class:`hotline.store.postgres.queue_tables.PgQueueTables`) cannot drift apart on what an
attempt or a completion means.
"""

from __future__ import annotations

from hotline.store.errors import StoreError
from hotline.store.records import CallbackAttempt, CallbackStatus


class CallbackShorthands:
    """``record_callback_attempt`` and ``complete_callback`` on top of ``update_callback``."""

    async def update_callback(
        self,
        callback_id: int,
        *,
        at: float,
        status: CallbackStatus | None = None,
        due_at: float | None = None,
        outcome: str | None = None,
        attempt: CallbackAttempt | None = None,
    ) -> None:
        raise NotImplementedError  # each store writes it in its own SQL

    async def record_callback_attempt(
        self,
        attempt: CallbackAttempt,
        *,
        status: CallbackStatus,
        due_at: float | None = None,
        outcome: str | None = None,
    ) -> None:
        """Shorthand: append ``attempt`` and set the callback's status (and next due time)."""
        await self.update_callback(
            attempt.callback_id, at=attempt.at, status=status, due_at=due_at, outcome=outcome, attempt=attempt
        )

    async def complete_callback(
        self, callback_id: int, *, status: CallbackStatus, outcome: str, at: float
    ) -> None:
        """Final status (done, failed, cancelled) and outcome."""
        if not status.is_final:
            raise StoreError(f"complete_callback needs a final status, got {status.value}")
        await self.update_callback(callback_id, at=at, status=status, outcome=outcome)
