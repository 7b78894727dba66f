"""The service's per-key locks: one holder per key at a time, other keys free, nothing kept."""

from __future__ import annotations

import asyncio

import pytest

from hotline.tickets.locks import KeyedLocks


async def test_one_holder_per_key_and_the_lock_is_dropped_when_free() -> None:
    locks = KeyedLocks()
    inside: list[str] = []
    order: list[str] = []

    async def hold(key: str, name: str) -> None:
        async with locks.hold(key):
            inside.append(key)
            assert inside.count(key) == 1  # nobody else holds this key
            order.append(name)
            await asyncio.sleep(0.01)
            inside.remove(key)

    await asyncio.gather(hold("a", "a1"), hold("a", "a2"), hold("b", "b1"), hold("a", "a3"))
    assert [n for n in order if n.startswith("a")] == ["a1", "a2", "a3"]  # in turn, in arrival order
    assert order.index("b1") < order.index("a2")  # another key does not wait
    assert len(locks) == 0


async def test_an_error_or_a_cancelled_waiter_leaves_nothing_behind() -> None:
    locks = KeyedLocks()
    with pytest.raises(RuntimeError):
        async with locks.hold("a"):
            raise RuntimeError("boom")
    assert len(locks) == 0

    release = asyncio.Event()

    async def holder() -> None:
        async with locks.hold("a"):
            await release.wait()

    first = asyncio.create_task(holder())
    await asyncio.sleep(0)
    waiter = asyncio.create_task(holder())
    await asyncio.sleep(0)
    waiter.cancel()  # gives up while waiting for the lock
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert len(locks) == 1
    release.set()
    await first
    assert len(locks) == 0
    async with locks.hold("a"):  # still usable
        pass
