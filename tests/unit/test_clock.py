"""The id generators: RFC 9562 UUIDs from a pooled CSPRNG, never repeated; the stored ids
time-ordered (version 7: increasing, with the time they were minted), correlation ids
random (version 4)."""

from __future__ import annotations

import threading
import time
import uuid

from infrastructure.clock import UuidGenerator, uuid4_hex, uuid7_str


def test_ids_are_canonical_version_7_uuids_that_increase_with_time() -> None:
    before = time.time_ns() // 1_000_000
    ids = [uuid7_str() for _ in range(600)]  # more than two pools of 256
    after = time.time_ns() // 1_000_000
    for text in ids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 7
        assert parsed.variant == uuid.RFC_4122
        assert parsed.int >> 80 <= after + 3  # its ms; a pool may run ahead by a few
    # Ids from pools minted during the test carry its time (the first pool may be older).
    assert all(uuid.UUID(text).int >> 80 >= before for text in ids[256:])
    assert ids == sorted(ids) and len(set(ids)) == len(ids)  # as strings too: index order
    assert len({text[:13] for text in ids}) >= 3  # each pool has a time of its own


def test_correlation_ids_are_random_version_4_uuids() -> None:
    for _ in range(600):
        parsed = uuid.UUID(hex=uuid4_hex())
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122


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
