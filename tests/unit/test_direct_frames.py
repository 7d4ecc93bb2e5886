"""The pieces of the broadcaster's straight-to-the-socket path that need no server:
framing (the same bytes as the ``websockets`` library's own unmasked frames) and the
check that engine.io's writer task is parked on its queue (``direct.py``)."""

from __future__ import annotations

import asyncio

import pytest
from websockets.frames import Frame, Opcode

from interfaces.realtime.direct import _writer_parked, text_frame

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65_535, 65_536, 200_000])
def test_text_frame_matches_the_websockets_library(size: int) -> None:
    text = ('42["order:created",{"é":"' + "x" * size)[:size]
    expected = Frame(Opcode.TEXT, text.encode()).serialize(mask=False, extensions=None)
    assert text_frame(text.encode()) == expected


def test_text_frame_counts_bytes_not_characters() -> None:
    text = "é" * 100  # 200 bytes: needs the 16-bit length form
    frame = text_frame(text.encode())
    assert frame[:4] == bytes((0x81, 126, 0, 200))
    assert frame[4:].decode() == text


async def _writer(queue: asyncio.Queue[str | None], sent: list[str], timeout: float) -> None:
    """engine.io's writer: ``poll`` (a get in ``wait_for``, then what else is queued),
    then each packet sent with an await in between."""
    while True:
        packets = [await asyncio.wait_for(queue.get(), timeout)]
        while not queue.empty():
            packets.append(queue.get_nowait())
        for packet in packets:
            if packet is None:
                return
            await asyncio.sleep(0)  # the ASGI send
            sent.append(packet)


async def test_the_writer_counts_as_parked_only_while_it_waits_with_nothing_taken() -> None:
    queue: asyncio.Queue[str | None] = asyncio.Queue()
    sent: list[str] = []
    task = asyncio.create_task(_writer(queue, sent, timeout=30))
    assert not _writer_parked(queue), "not started yet: it has not reached get()"
    await asyncio.sleep(0.01)
    assert _writer_parked(queue)

    queue.put_nowait("a")
    queue.put_nowait("b")
    assert not _writer_parked(queue), "woken: what it takes is not sent yet"
    steps = 0
    while sent != ["a", "b"]:
        # Between the wake-up and the sends the queue empties before anything is sent:
        # the check must never say parked in that window.
        assert not _writer_parked(queue) or sent == ["a", "b"]
        await asyncio.sleep(0)
        steps += 1
        assert steps < 100
    await asyncio.sleep(0)
    assert _writer_parked(queue), "back in get() with everything sent"

    queue.put_nowait(None)
    await task
    assert not _writer_parked(queue)
