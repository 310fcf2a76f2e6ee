"""The long-poll harness's raw poll: stamped when the whole answer is in, decoded afterwards."""

import asyncio

from bench.rawpoll import RawPoll

ANSWER = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\ncontent-length: 16\r\n\r\n{"changes":true}'


async def test_stamped_only_once_the_whole_answer_arrived():
    loop = asyncio.get_running_loop()
    for cut in (10, ANSWER.index(b"\r\n\r\n") + 2, len(ANSWER) - 1):
        poll = RawPoll(b"", loop.create_future())
        poll.data_received(ANSWER[:cut])
        assert poll.answered is None and not poll.done.done()
        poll.data_received(ANSWER[cut:])
        assert poll.answered is not None and poll.done.done()
        assert poll.outcome() == "changes" and poll.status == 200


async def test_other_answers_are_reported_as_such():
    loop = asyncio.get_running_loop()
    poll = RawPoll(b"", loop.create_future())
    poll.data_received(b"HTTP/1.1 429 Too Many Requests\r\nContent-Length: 2\r\n\r\n{}")
    assert poll.outcome() == "other: 429 {}"
    silent = RawPoll(b"", loop.create_future())
    silent.connection_lost(None)
    assert silent.outcome().startswith("error: connection closed")
