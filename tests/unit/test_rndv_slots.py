"""Unit tests of the rendezvous protocol's kernels (bus/layout.py "Rendezvous") on a private
segment, in one process (which may read its own memory with process_vm_readv): the receive
kernel's own read and acknowledgement, what it leaves to Python, and the acknowledgement slots
running out and freeing in any order."""

from __future__ import annotations

import os

import numpy as np
import pytest

from toro_mpi.bus import layout as L
from toro_mpi.bus import ring
from toro_mpi.bus.peer_memory import vm_access_supported

pytestmark = pytest.mark.skipif(not vm_access_supported(), reason="no process_vm_readv here")

KIND = L.KIND_RNDV | (L.FLAG_ACK_SLOT | L.WIRE_TYPES["f8"] << L.FLAG_TYPE_SHIFT) << 16


@pytest.fixture
def seg(make_segment):
    seg = make_segment(2, 8, 256)
    seg.write_word(seg.slot(0, L.SLOT_PID), os.getpid())  # rank 0 (the sender) is this process
    seg.handle_words(0, 1)[L.H_SENDER_PID // 8] = seg.base + seg.slot(0, L.SLOT_PID)
    return seg


def request(seg, data, tag=5, pid=None):
    """A rendezvous request for data on queue 0 -> 1: (tx_rndv's result, request number)."""
    got = ring.tx_rndv(seg.handle(0, 1), KIND, tag, 0, data.nbytes, os.getpid() if pid is None else pid,
                       data.ctypes.data, 0)
    return got, got >> 1


def match(seg, out):
    info = np.zeros(L.INFO_LEN, np.int64)
    return ring.rx_match(seg.handle(0, 1), L.ANY, L.ANY, out, info), info


def acked(seg, seq):
    return ring.tx_rndv_poll(seg.handle(0, 1), seq) & 1 == 1


def kernel_reads(seg):
    return int(seg.handle_words(0, 1)[L.H_RNDV_READS // 8])


def test_the_receive_kernel_reads_and_acknowledges(seg):
    data = np.arange(5000, dtype=np.float64)
    got, seq = request(seg, data, tag=9)
    assert got == 2 * seq and seq == 1  # out, not yet acknowledged
    assert not acked(seg, seq)
    out = np.zeros(5000, np.float64)
    status, info = match(seg, out)
    assert status == L.RX_COMPLETE
    assert (out == data).all()
    # Delivered: to the caller a plain message (no second read, no KIND_ACK owed).
    assert info[L.INFO_KIND] == L.KIND_EAGER and info[L.INFO_TAG] == 9 and info[L.INFO_TOTAL] == data.nbytes
    assert acked(seg, seq) and kernel_reads(seg) == 1
    assert match(seg, out)[0] == L.RX_EMPTY


def test_a_request_naming_another_pid_is_left_unread(seg):
    data = np.ones(100, np.float64)
    _, seq = request(seg, data, pid=os.getpid() + 1)
    out = np.zeros(100, np.float64)
    status, info = match(seg, out)
    # Consumed, but neither read nor acknowledged: Python's read_remote refuses it with a reason.
    assert status == L.RX_SPECIAL and info[L.INFO_KIND] == L.KIND_RNDV
    assert info[L.INFO_AUX0] == os.getpid() + 1 and info[L.INFO_AUX1] == data.ctypes.data
    assert not out.any() and not acked(seg, seq) and kernel_reads(seg) == 0


@pytest.mark.parametrize("case", ["short buffer", "other element type", "rendezvous off"])
def test_what_the_kernel_leaves_to_python(seg, case):
    data = np.ones(100, np.float64)
    out = np.zeros(50 if case == "short buffer" else 100, np.int64 if case == "other element type" else np.float64)
    if case == "rendezvous off":
        seg.handle_words(0, 1)[L.H_SENDER_PID // 8] = 0
    _, seq = request(seg, data)
    status, info = match(seg, out)
    assert status == L.RX_SPECIAL and info[L.INFO_KIND] == L.KIND_RNDV
    assert not out.any() and not acked(seg, seq)


def test_slots_run_out_and_free_in_any_order(seg):
    data = np.ones(16, np.float64)
    h = seg.handle(0, 1)
    empty = np.zeros(0, np.float64)
    for k in range(1, L.RNDV_SLOTS + 1):
        got, seq = request(seg, data)
        assert seq == k
        assert match(seg, empty)[0] == L.RX_SPECIAL  # taken off the ring unread (unexpected)
    # Every slot holds an unread request: the next one must not wait for theirs.
    assert request(seg, data)[0] == L.TX_NO_SLOT
    ring.rx_rndv_ack(h, 2)  # read out of order: request 65 needs slot 1, still taken
    assert acked(seg, 2) and not acked(seg, 1)
    assert request(seg, data)[0] == L.TX_NO_SLOT
    ring.rx_rndv_ack(h, 1)
    got, seq = request(seg, data)
    assert seq == L.RNDV_SLOTS + 1 and not acked(seg, seq)
    assert request(seg, data)[1] == L.RNDV_SLOTS + 2  # slot 2 was free too
    out = np.zeros(16, np.float64)
    assert match(seg, out)[0] == L.RX_COMPLETE and acked(seg, L.RNDV_SLOTS + 1) and (out == 1).all()
    assert not acked(seg, 3)  # its slot's earlier request is still unread
    # One poll says which of a window of requests are read: 2 and 65 of 2 .. 65.
    assert ring.tx_rndv_poll(h, 2) & (1 << 64) - 1 == 1 | 1 << (L.RNDV_SLOTS - 1)


def test_a_full_ring_sends_nothing(seg):
    data = np.ones(16, np.float64)
    for _ in range(8):
        assert request(seg, data)[0] >= 0
    assert request(seg, data)[0] == L.TX_NOT_STARTED
    out = np.zeros(16, np.float64)
    assert match(seg, out)[0] == L.RX_COMPLETE
    assert request(seg, data)[1] == 9  # the number was not used up by the refused one
