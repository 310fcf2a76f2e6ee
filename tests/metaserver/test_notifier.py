"""The in-process fan-out of journal notifications."""

from metaserver.notifier import Notifier


async def test_notify_records_latest_seq_only_while_waited_on():
    n = Notifier("postgresql://unused")
    n._on_notify(None, 0, "tessera_journal", "7:3")
    assert n.latest_seq(7) is None  # nobody waits on namespace 7: nothing kept
    ev = n.register(7)
    other = n.register(8)
    n._on_notify(None, 0, "tessera_journal", "7:5")
    n._on_notify(None, 0, "tessera_journal", "7:4")  # out of order: the highest wins
    assert n.latest_seq(7) == 5 and ev.is_set() and not other.is_set()
    n._on_notify(None, 0, "tessera_journal", "garbage")
    n.unregister(7, ev)
    assert n.latest_seq(7) is None and n.waiting == 1
