"""The in-process fan-out of journal notifications."""

from metaserver.changes.notifier import EventWaiter, Notifier


async def test_notify_wakes_the_namespace_waiters_with_the_sequence_number():
    n = Notifier("postgresql://unused")
    n._on_notify(None, 0, "tessera_journal", "7:3")
    assert n.latest_seq(7) is None  # nobody waits on namespace 7: nothing kept
    ev, other = EventWaiter(), EventWaiter()
    n.register(7, ev)
    n.register(8, other)
    n.register(8, other)  # twice: still one waiter
    assert n.waiting == 2
    n._on_notify(None, 0, "tessera_journal", "7:5")
    n._on_notify(None, 0, "tessera_journal", "7:4")  # out of order: the highest wins
    assert n.latest_seq(7) == 5 and ev.seq == 5 and ev.event.is_set() and not ev.recheck
    assert not other.event.is_set()
    n._on_notify(None, 0, "tessera_journal", "garbage")
    n.unregister(7, ev)
    n.unregister(7, ev)  # twice: no harm, the count stays right
    assert n.latest_seq(7) is None and n.waiting == 1


class _SelfRemoving:
    """A waiter that unregisters itself when woken, as a notify-endpoint connection does."""

    def __init__(self, notifier: Notifier, ns_id: int) -> None:
        self.notifier, self.ns_id, self.woken = notifier, ns_id, []

    def wake(self, seq):
        self.woken.append(seq)
        self.notifier.unregister(self.ns_id, self)


async def test_waiters_may_unregister_while_being_woken():
    n = Notifier("postgresql://unused")
    waiters = [_SelfRemoving(n, 1) for _ in range(50)]
    for w in waiters:
        n.register(1, w)
    n._on_notify(None, 0, "tessera_journal", "1:9")
    assert all(w.woken == [9] for w in waiters) and n.waiting == 0


async def test_wake_all_asks_every_waiter_to_recheck():
    n = Notifier("postgresql://unused")
    a, b = EventWaiter(), EventWaiter()
    n.register(1, a)
    n.register(2, b)
    n.begin_shutdown()
    assert n.closing and a.recheck and b.recheck and a.event.is_set() and b.event.is_set()


async def test_a_big_fan_out_is_woken_in_slices_each_waiter_once():
    # the event loop runs other work between slices; a waiter gone before its slice is skipped
    import asyncio

    from metaserver.changes.notifier import WAKE_SLICE

    n = Notifier("postgresql://unused")
    waiters = [_SelfRemoving(n, 1) for _ in range(2 * WAKE_SLICE + 10)]
    for w in waiters:
        n.register(1, w)
    n._on_notify(None, 0, "tessera_journal", "1:9")
    assert sum(bool(w.woken) for w in waiters) == WAKE_SLICE  # the first slice, at once
    gone = next(w for w in waiters if not w.woken)
    n.unregister(1, gone)  # e.g. its connection closed before its slice came
    n._on_notify(None, 0, "tessera_journal", "1:10")  # a second commit while the first fans out
    for _ in range(5):
        await asyncio.sleep(0)
    assert gone.woken == []
    # each was woken once: by whichever commit's slice reached it first (it then unregistered)
    rest = [w for w in waiters if w is not gone]
    assert all(len(w.woken) == 1 for w in rest) and n.waiting == 0
    assert {w.woken[0] for w in rest} == {9, 10}
