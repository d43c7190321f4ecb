"""Fixtures of the quick unit tier (no job is started here)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from toro_mpi.bus.segment import Segment


@pytest.fixture
def make_segment() -> Iterator[Callable[..., Segment]]:
    """A factory of private bus segments (nranks, queue size, buffer size): unlinked at once, so
    nothing is left in /dev/shm whatever the test does, and closed after the test."""
    made: list[Segment] = []

    def make(nranks: int, queue_size: int, buffer_size: int) -> Segment:
        segment = Segment.create(nranks, queue_size, buffer_size)
        segment.unlink()
        made.append(segment)
        return segment

    yield make
    for segment in made:
        segment.close()
