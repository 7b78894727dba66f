"""Per-key locks for the ticket service's in-process writers (one ticket's operations take turns,
so a retry after a version conflict is rare); across processes the store's version check rules."""

from __future__ import annotations

import asyncio


class _KeyLock:
    """A key's lock and how many tasks hold it or wait for it."""

    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0


class _Hold:
    """``async with`` one key's lock (a plain class: this runs for every ticket created)."""

    __slots__ = ("_entries", "_entry", "_key")

    def __init__(self, entries: dict[str, _KeyLock], key: str) -> None:
        self._entries = entries
        self._key = key

    async def __aenter__(self) -> None:
        entry = self._entries.get(self._key)
        if entry is None:
            entry = self._entries[self._key] = _KeyLock()
        entry.users += 1
        self._entry = entry
        try:
            await self._entry.lock.acquire()
        except BaseException:
            self._leave()
            raise

    async def __aexit__(self, *exc_info: object) -> None:
        self._entry.lock.release()
        self._leave()

    def _leave(self) -> None:
        self._entry.users -= 1
        if self._entry.users == 0:
            del self._entries[self._key]


class KeyedLocks:
    """One :class:`asyncio.Lock` per key, created on demand and dropped when nobody holds it."""

    def __init__(self) -> None:
        self._locks: dict[str, _KeyLock] = {}

    def hold(self, key: str) -> _Hold:
        """Hold the key's lock for the block (``async with locks.hold(key): ...``)."""
        return _Hold(self._locks, key)

    def __len__(self) -> int:
        return len(self._locks)
