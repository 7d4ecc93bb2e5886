"""The id generator: RFC 9562 version 4 UUIDs from a pooled CSPRNG, never repeated."""

from __future__ import annotations

import threading
import uuid

from infrastructure.clock import UuidGenerator, uuid4_hex, uuid4_str


def test_ids_are_canonical_version_4_uuids() -> None:
    for _ in range(600):  # more than one pool of 256
        text = uuid4_str()
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
        assert uuid.UUID(hex=uuid4_hex()).version == 4


def test_ids_do_not_repeat_across_pools_and_threads() -> None:
    generator = UuidGenerator()
    seen: list[str] = []
    lock = threading.Lock()

    def mint() -> None:
        ids = [generator.new_id() for _ in range(2_000)]
        with lock:
            seen.extend(ids)

    threads = [threading.Thread(target=mint) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(seen)) == len(seen) == 8_000
