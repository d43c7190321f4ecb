"""Latency work between simulated nodes (issue #21): a blocking Recv from another node takes a
plain message straight from the link's buffer (mpi/net_take.py), and an idle rank's doorbell
sleep grows with its idle time (NetRoute.bind_sched).

Default run: the direct take's kernel on hand-made items (no job), one job of
tests/programs/nodes_lat3.py (3 ranks, 2 nodes), self-checked; `slow`: the same program against
mpi4py + Open MPI, and the doze check.
"""

from __future__ import annotations

import struct
import time

import numpy as np
import pytest
from helpers import assert_ok, assert_same_as_reference, ref_available, ref_cached
from test_nodes import run_nodes

from toro_mpi.bus import layout as L
from toro_mpi.mpi.net_take import ITEM_P2P, NOT_TAKEN, entry_point
from toro_mpi.mpi.netroute import NetRoute

_why_not = ref_available()
_needs_mpi = pytest.mark.skipif(_why_not is not None, reason=f"no mpiexec + mpi4py: {_why_not}")
pytestmark = [pytest.mark.usefixtures("shm_clean")]

_F8 = L.WIRE_TYPES["f8"] << L.FLAG_TYPE_SHIFT  # the element type flags of float64
_I4 = L.WIRE_TYPES["i4"] << L.FLAG_TYPE_SHIFT


def _item(payload: np.ndarray, *, head: int = ITEM_P2P, kind: int = L.KIND_EAGER, flags: int = _F8,
          tag: int = 5, ctx: int = 2, total: int | None = None) -> np.ndarray:
    """A network item as netroute.send_now builds it: 8 header words, then the payload."""
    body = payload.tobytes()
    words = struct.pack("8q", head, kind | flags << 16, tag, ctx, len(body) if total is None else total, 77, 0, 0)
    return np.frombuffer(words + body, np.uint8).copy()


def _take(item: np.ndarray, buf: np.ndarray, tag: int = 5, ctx: int = 2) -> tuple[int, np.ndarray]:
    info = np.full(L.INFO_LEN, -9, np.int64)
    status = entry_point(buf.dtype)(item.ctypes.data, item.nbytes, tag, ctx, buf, info)
    return status, info


def test_direct_take_kernel_takes_a_plain_match() -> None:
    """A plain eager float64 item that fits: copied, header words in info (tag, total, ...)."""
    buf = np.zeros(4)
    status, info = _take(_item(np.array([1.5, 2.5, 3.5])), buf)
    assert status == L.RX_COMPLETE
    assert buf.tolist() == [1.5, 2.5, 3.5, 0.0]
    assert (info[L.INFO_KIND], info[L.INFO_TAG], info[L.INFO_CTX], info[L.INFO_TOTAL], info[L.INFO_COOKIE]) == (
        L.KIND_EAGER, 5, 2, 24, 77)
    # ANY_TAG; a byte buffer takes any element type; an empty message.
    assert _take(_item(np.array([4.0]), tag=9), buf, tag=L.ANY)[0] == L.RX_COMPLETE and buf[0] == 4.0
    raw = np.zeros(8, np.uint8)
    assert _take(_item(np.array([1.0])), raw)[0] == L.RX_COMPLETE and raw.view(np.float64)[0] == 1.0
    assert _take(_item(np.zeros(0)), np.zeros(0))[0] == L.RX_COMPLETE


@pytest.mark.parametrize("why", ["plane", "kind", "sync", "total", "ctx", "tag", "truncated", "type"])
def test_direct_take_kernel_leaves_the_rest(why: str) -> None:
    """Anything not plain is left alone (the engine's path handles it), with nothing written."""
    payload, buf, tag = np.array([1.0, 2.0]), np.zeros(2), 5
    item = {
        "plane": lambda: _item(payload, head=1 | L.COLL_PLANE << 8),
        "kind": lambda: _item(np.zeros(2), kind=L.KIND_RNDV),
        "sync": lambda: _item(payload, flags=_F8 | L.FLAG_SYNC),
        "total": lambda: _item(payload, total=24),  # a header that disagrees with the item's size
        "ctx": lambda: _item(payload, ctx=3),
        "tag": lambda: _item(payload, tag=6),
        "truncated": lambda: _item(np.array([1.0, 2.0, 3.0])),
        "type": lambda: _item(payload, flags=_I4),
    }[why]()
    status, info = _take(item, buf, tag)
    assert status == NOT_TAKEN
    assert buf.tolist() == [0.0, 0.0] and (info == -9).all()


def _nodes_lat3() -> dict[int, list[str]]:
    return assert_ok(run_nodes("nodes_lat3", 3, 2), 3)


class _Sched:
    """What bind_sched touches of a Scheduler: doze_max and the on_idle hook."""

    def __init__(self) -> None:
        self.doze_max = 1.0
        self.told: list[bool] = []
        self.on_idle = self.told.append


def test_idle_doze_bound_follows_idle_time() -> None:
    """bind_sched (no job): the floor when the rank goes idle, an eighth of the time idle so far
    after each quiet pump, capped; the floor while a transfer is in flight; back to the floor when
    something moves or the rank wakes; the scheduler's own on_idle still told."""
    route = NetRoute.__new__(NetRoute)  # only the doze's state: no transport, no link
    route._idle_since = 0.0
    in_flight = [False]
    route.outstanding = lambda: in_flight[0]
    sched = _Sched()
    route.bind_sched(sched, 500, 10000)
    assert sched.doze_max == 0.0005
    sched.on_idle(True)
    assert route._idle_since > 0 and sched.told == [True]
    for slept, want in ((0.001, 0.0005), (0.04, 0.005), (1.0, 0.010)):
        route._idle_since = time.monotonic() - slept
        route._doze(False)
        assert abs(sched.doze_max - want) < 0.0005, (slept, sched.doze_max)
    in_flight[0] = True  # a transfer in flight: Open MPI moves it only when polled
    route._doze(False)
    assert sched.doze_max == 0.0005 and route._idle_since > 0
    in_flight[0] = False
    route._doze(True)
    assert sched.doze_max == 0.0005 and route._idle_since == 0.0
    route._idle_since = time.monotonic() - 1.0
    sched.on_idle(False)
    assert sched.doze_max == 0.0005 and route._idle_since == 0.0 and sched.told == [True, False]


@_needs_mpi
def test_nodes_direct_receive_cases() -> None:
    """Receives from another node: every dtype and size up to the largest eager item lands whole
    with the right Status; a tag that matches a later message, truncation, Ssend, a 2-D buffer
    and ANY_SOURCE order per pair behave as on the bus."""
    lines = _nodes_lat3()[2]
    assert "order 0 299 299" in lines and "by tag 0" in lines, lines
    assert "truncate True" in lines and "after truncate [0.0, 1.0, 2.0, 3.0]" in lines, lines
    assert "tag 3 value 4.5 source 0 tag 3 count 1" in lines, lines
    assert "dtype float64 n 8191 source 0 tag 12 count 8191" in lines, lines
    assert "2d 66.0 source 0 tag 31 count 12" in lines, lines


@_needs_mpi
@pytest.mark.slow
def test_nodes_direct_receive_same_as_mpi4py() -> None:
    """The same program prints the same lines under mpiexec + mpi4py (data digests included)."""
    toro = run_nodes("nodes_lat3", 3, 2)
    ref = ref_cached("nodes_lat3", 3, timeout=120)
    assert_same_as_reference(toro, ref, 3)


@_needs_mpi
@pytest.mark.slow
def test_nodes_idle_doze_grows_and_resets() -> None:
    """A rank waiting 0.6 s for another node sleeps longer than the 0.5 ms floor between looks
    at the network, gets the message, and is back at the floor after it."""
    lines = assert_ok(run_nodes("nodes_lat3", 3, 2, "doze"), 3)[2]
    assert "got 1.0" in lines and "doze grew True" in lines and "doze reset True" in lines, lines
