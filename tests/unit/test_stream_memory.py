"""The stream advice a job's receivers reached, kept for the next job on the same cores
(toro_mpi/launcher/stream_memory.py): recorded at a job's end, preset at the next one's start."""

from __future__ import annotations

import json

import pytest

from toro_mpi.bus import layout as L
from toro_mpi.bus.segment import Segment
from toro_mpi.config import load_config
from toro_mpi.launcher import stream_memory
from toro_mpi.launcher.plan import Plan

QSIZE = 8
BSIZE = 256
ON, OFF, UNMEASURED = L.STREAM_ON, L.STREAM_OFF, L.STREAM_UNMEASURED


@pytest.fixture
def record_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    return tmp_path


def _plan(cpus, hosts=None, host_cpus=None, **bus) -> Plan:
    cfg = load_config()
    cfg.bus.update(bus)
    n = len(cpus) if hosts is None else sum(map(len, hosts))
    return Plan(["prog"], n, cpus, cfg, hosts=hosts, host_cpus=host_cpus)


def _advice(seg, plane=L.P2P_PLANE):
    n = seg.nranks
    return {(s, d): seg.stream_advice(s, d, plane) for s in range(n) for d in range(n) if s != d}


def test_a_job_starts_with_what_the_last_one_on_its_cores_reached(make_segment, record_dir) -> None:
    """Decided queues are recorded per plane and pair of cores; the next job's queues between the
    same cores start with that advice, whatever their ranks are called now."""
    first = make_segment(2, QSIZE, BSIZE)
    first.preset_stream_advice(0, 1, L.P2P_PLANE, OFF)
    first.preset_stream_advice(1, 0, L.P2P_PLANE, ON)
    first.preset_stream_advice(0, 1, L.COLL_PLANE, ON)  # 1 -> 0 on the collective plane: unmeasured
    assert stream_memory.record(first, _plan([3, 5]))
    data = json.loads((record_dir / stream_memory.FILE_NAME).read_text())
    assert data == {"version": 2, "machines": {stream_memory.machine_key(): {
        "0:32768:3:5": OFF, "0:32768:5:3": ON, "1:32768:3:5": ON}}}
    # Nothing new: the file is left alone.
    assert not stream_memory.record(first, _plan([3, 5]))

    # The next job has its ranks the other way round on the same cores.
    start = stream_memory.preset(_plan([5, 3]))
    assert start == {(L.P2P_PLANE, 0, 1): ON, (L.P2P_PLANE, 1, 0): OFF, (L.COLL_PLANE, 1, 0): ON}
    second = Segment.create(2, QSIZE, BSIZE, stream_advice=start)
    second.unlink()
    assert _advice(second) == {(0, 1): ON, (1, 0): OFF}
    assert _advice(second, L.COLL_PLANE) == {(0, 1): UNMEASURED, (1, 0): ON}
    second.close()


def test_an_unmeasured_queue_keeps_the_record_and_a_new_decision_replaces_it(make_segment, record_dir) -> None:
    seg = make_segment(2, QSIZE, BSIZE)
    seg.preset_stream_advice(0, 1, L.P2P_PLANE, ON)
    seg.preset_stream_advice(1, 0, L.P2P_PLANE, ON)
    assert stream_memory.record(seg, _plan([0, 1]))
    later = make_segment(2, QSIZE, BSIZE)
    later.preset_stream_advice(0, 1, L.P2P_PLANE, OFF)  # 1 -> 0 never decided in this job
    assert stream_memory.record(later, _plan([0, 1]))
    known = stream_memory._load(str(record_dir / stream_memory.FILE_NAME))[stream_memory.machine_key()]
    assert known == {"0:32768:0:1": OFF, "0:32768:1:0": ON}


def test_queues_that_never_stream_or_have_no_core_are_left_alone(make_segment, record_dir) -> None:
    """Ranks of one host process never stream to each other; an unpinned rank has no pair of
    cores to key on."""
    seg = make_segment(4, QSIZE, BSIZE)
    for s in range(4):
        for d in range(4):
            if s != d:
                seg.preset_stream_advice(s, d, L.P2P_PLANE, OFF)
    hosted = _plan([None] * 4, hosts=[[0, 1], [2, 3]], host_cpus=[0, 1])
    assert sorted((s, d) for s, d, _, _ in stream_memory.queue_cores(hosted)) == [
        (s, d) for s in range(4) for d in range(4) if (s < 2) != (d < 2)]
    assert stream_memory.record(seg, hosted)
    known = stream_memory._load(str(record_dir / stream_memory.FILE_NAME))[stream_memory.machine_key()]
    assert known == {"0:32768:0:1": OFF, "0:32768:1:0": OFF}
    assert list(stream_memory.queue_cores(_plan([0, None, 1, 1]))) == [(0, 2, 0, 1), (0, 3, 0, 1), (2, 0, 1, 0),
                                                                        (2, 3, 1, 1), (3, 0, 1, 0), (3, 2, 1, 1)]


@pytest.mark.parametrize("bus", [{"remember_stream_advice": False}, {"stream_probe": False},
                                 {"stream_threshold": 0}])
def test_off_when_asked_or_when_no_trials_run(make_segment, record_dir, bus) -> None:
    """Without trials a sender streams by size alone and must not follow a preset advice."""
    seg = make_segment(2, QSIZE, BSIZE)
    seg.preset_stream_advice(0, 1, L.P2P_PLANE, OFF)
    assert not stream_memory.record(seg, _plan([0, 1], **bus))
    assert stream_memory.record(seg, _plan([0, 1]))
    assert stream_memory.preset(_plan([0, 1], **bus)) == {}
    assert stream_memory.preset(_plan([0, 1])) == {(L.P2P_PLANE, 0, 1): OFF}
    nodes = _plan([0, 1])
    nodes.node_map = [0, 1]
    assert stream_memory.preset(nodes) == {}


def test_another_machine_or_a_damaged_file_presets_nothing(make_segment, record_dir) -> None:
    path = record_dir / stream_memory.FILE_NAME
    path.write_text(json.dumps({"version": 2, "machines": {"elsewhere|other cpu": {"0:32768:0:1": OFF}}}))
    seg = make_segment(2, QSIZE, BSIZE)
    assert stream_memory.preset(_plan([0, 1])) == {}
    mine = stream_memory.machine_key()
    for text in ("{not json", json.dumps([1]), json.dumps({"version": 99, "machines": {mine: {"0:32768:0:1": OFF}}}),
                 json.dumps({"version": 2, "machines": {mine: {"0:32768:0:1": 7, "0:32768:1:0": "on"}}})):
        path.write_text(text)
        assert stream_memory.preset(_plan([0, 1])) == {}, text
    # Recording over a damaged file starts it anew.
    seg.preset_stream_advice(0, 1, L.P2P_PLANE, ON)
    assert stream_memory.record(seg, _plan([0, 1]))
    assert stream_memory._load(str(path)) == {mine: {"0:32768:0:1": ON}}


def test_an_unwritable_record_is_no_error(make_segment, tmp_path, monkeypatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(blocker / "cache"))  # under a file: cannot be made
    seg = make_segment(2, QSIZE, BSIZE)
    seg.preset_stream_advice(0, 1, L.P2P_PLANE, ON)
    assert not stream_memory.record(seg, _plan([0, 1]))
    assert stream_memory.preset(_plan([0, 1])) == {}
    with pytest.raises(ValueError):
        seg.preset_stream_advice(0, 1, L.P2P_PLANE, UNMEASURED)


def test_advice_is_kept_per_buffer_size(make_segment, record_dir) -> None:
    """The trials timed fragments of the ring's buffer size: a job with other buffers neither
    uses nor replaces that advice."""
    seg = make_segment(2, QSIZE, BSIZE)
    seg.preset_stream_advice(0, 1, L.P2P_PLANE, ON)
    assert stream_memory.record(seg, _plan([0, 1], buffer_size=256))
    assert stream_memory.preset(_plan([0, 1])) == {}
    assert stream_memory.preset(_plan([0, 1], buffer_size=256)) == {(L.P2P_PLANE, 0, 1): ON}
