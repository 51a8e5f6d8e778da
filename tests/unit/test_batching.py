"""Batches for batch notification listeners: full, timed out, flushed on stop."""

from __future__ import annotations

import threading

from hybridmsg.drivers.batching import Batcher


def collect():
    batches: list[list[int]] = []
    arrived = threading.Event()

    def deliver(batch):
        batches.append(batch)
        arrived.set()

    return batches, arrived, deliver


def test_a_batch_of_one_goes_at_once():
    batches, _, deliver = collect()
    batcher = Batcher(deliver, 1, None)
    for i in range(3):
        batcher.add(i)
    assert batches == [[0], [1], [2]]


def test_full_batches_go_when_full_and_the_rest_on_flush():
    batches, _, deliver = collect()
    batcher = Batcher(deliver, 100, None)
    for i in range(205):
        batcher.add(i)
    assert [len(b) for b in batches] == [100, 100]
    batcher.flush()
    assert [len(b) for b in batches] == [100, 100, 5]
    assert sum(batches, []) == list(range(205))
    batcher.flush()
    assert len(batches) == 3  # nothing left: no empty batch


def test_a_partial_batch_goes_after_its_timeout():
    batches, arrived, deliver = collect()
    batcher = Batcher(deliver, 10, 0.05)
    batcher.add(1)
    batcher.add(2)
    assert arrived.wait(10)
    assert batches == [[1, 2]]
