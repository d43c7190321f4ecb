"""Edge cases through the launcher on three buses: the default one, a tiny one where every message
is fragmented, and one where large messages go by rendezvous; and on the default bus with the
ranks hosted as green threads of one process."""

from __future__ import annotations

import subprocess
import sys

import pytest
from helpers import HOSTED, TORO_ENV, assert_ok, ref_available, run_toro

pytestmark = pytest.mark.usefixtures("shm_clean")

BUSES = {
    "default": "",
    # Every message fragmented through a 1 KiB ring, no rendezvous, every fragment written with
    # streaming stores (unaligned heads and tails of every size).
    "tiny": "[bus]\nqueue_size = 4\nbuffer_size = 256\nrendezvous_threshold = 0\nstream_threshold = 1\n",
    # Rendezvous (process_vm_readv single copy) from 64 KiB up.
    "rendezvous": "[bus]\nrendezvous_threshold = 65536\n",
}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("bus, hosted", [(bus, False) for bus in sorted(BUSES)] + [("default", True)],
                         ids=[*sorted(BUSES), "hosted"])
def test_edge_cases(bus: str, hosted: bool, tmp_path) -> None:
    """The edge cases on each bus, and (hosted) with both ranks green threads of one process."""
    launcher: tuple[str, ...] = HOSTED if hosted else ()
    if BUSES[bus]:
        cfg = tmp_path / f"{bus}.toml"
        cfg.write_text(BUSES[bus])
        launcher = (*launcher, "--config", str(cfg))
    run = run_toro("edge", 2, "probe", timeout=90, launcher=launcher)
    ranks = assert_ok(run, 2)
    assert "sync sends done" in ranks[0] and "sync receives done" in ranks[1]
    assert ranks[1].count("cancel ok") == 1
    assert {"dtype float16", "dtype float128"} <= set(ranks[1])
    assert any(line.startswith("truncation status 4 0 4") for line in ranks[1])
    assert [line for line in run.lines(1) if line.startswith("type mismatch")] == [
        f"type mismatch {tag}" for tag in (20, 21, 25, 22, 31, 32, 30)]
    assert "type checks done" in ranks[1]
    assert "nested spawn ok" in ranks[0] and "nested spawn ok" in ranks[1]
    assert any("probe on a finalized rank: MPI_ERR_OTHER" in line for line in ranks[1])


@pytest.mark.timeout(90)
def test_stream_threshold_reaches_the_queues_between_processes(tmp_path) -> None:
    """`[bus] stream_threshold` is what each process sets on the queues it sends on to another
    process (both planes), whose senders run trials of streamed against plain fragments unless
    `stream_probe` is false; ranks hosted in one process keep plain stores between them."""
    cfg = tmp_path / "stream.toml"
    cfg.write_text("[bus]\nstream_threshold = 12345\n")
    ranks = assert_ok(run_toro("stream_word", 2, timeout=60, launcher=("--config", str(cfg))), 2)
    assert "stream to 1: 12345 12345" in ranks[0] and "stream to 0: 12345 12345" in ranks[1]
    assert "trials to 1: on on" in ranks[0] and "trials to 0: on on" in ranks[1]
    ranks = assert_ok(run_toro("stream_word", 2, timeout=60, launcher=(*HOSTED, "--config", str(cfg))), 2)
    assert "stream to 1: 0 0" in ranks[0] and "stream to 0: 0 0" in ranks[1]
    assert "trials to 1: off off" in ranks[0] and "trials to 0: off off" in ranks[1]
    cfg.write_text("[bus]\nstream_threshold = 12345\nstream_probe = false\n")
    ranks = assert_ok(run_toro("stream_word", 2, timeout=60, launcher=("--config", str(cfg))), 2)
    assert "stream to 1: 12345 12345" in ranks[0] and "trials to 1: off off" in ranks[0]


@pytest.mark.timeout(150)
def test_stream_trials_reach_one_advice_from_either_start(tmp_path) -> None:
    """Between two processes, a few thousand large fragments each way give the trials several
    decisions: each direction ends with an advice (on or off, never unmeasured), and the same one
    whether the pair started streaming (unmeasured) or with plain stores (advice preset to off);
    a decision that followed the start instead of the measurement would differ. The next job on
    the same cores starts with that advice, or unmeasured when the launcher is told to forget.
    (Rendezvous off: the 512 KiB messages must travel through the ring.)"""
    config = tmp_path / "ring.toml"
    config.write_text("[bus]\nrendezvous_threshold = 0\n")
    advice = []
    for start in ("stream", "plain"):
        ranks = assert_ok(run_toro("stream_advice", 2, start, timeout=60, launcher=("--config", str(config))), 2)
        lines = [next(line for line in ranks[r] if line.startswith("advice:")) for r in range(2)]
        assert all(line in ("advice: on", "advice: off") for line in lines), (start, lines)
        # A comparison ran on each side, whatever the start (not only the preset standing).
        ratios = [next(line for line in ranks[r] if line.startswith("last ratio")) for r in range(2)]
        assert all(int(line.split()[-1]) > 0 for line in ratios), (start, ratios)
        advice.append(lines)
    assert advice[0] == advice[1] and advice[0][0] == advice[0][1], advice
    # The launcher kept that advice for these cores (launcher/stream_memory.py): the next job's
    # queues start with it instead of unmeasured.
    ranks = assert_ok(run_toro("stream_advice", 2, "kept", timeout=60, launcher=("--config", str(config))), 2)
    starts = [next(line for line in ranks[r] if line.startswith("start:")) for r in range(2)]
    assert starts == [advice[1][r].replace("advice:", "start:") for r in range(2)], (starts, advice)
    no_memory = tmp_path / "forget.toml"
    no_memory.write_text("[bus]\nrendezvous_threshold = 0\nremember_stream_advice = false\n")
    ranks = assert_ok(run_toro("stream_advice", 2, "kept", timeout=60, launcher=("--config", str(no_memory))), 2)
    assert all("start: unmeasured" in ranks[r] for r in range(2)), ranks


@pytest.mark.timeout(120)
@pytest.mark.skipif(ref_available() is not None, reason=f"no mpiexec + mpi4py: {ref_available()}")
def test_no_streaming_to_ranks_of_other_nodes() -> None:
    """On 2 simulated nodes (ranks 0, 1 | 2) a rank streams to the other process of its node but
    not to a rank of the other node, whose queue this process's network route reads."""
    ranks = assert_ok(run_toro("stream_word", 3, timeout=100, launcher=("--nodes", "2")), 3)
    assert "stream to 1: 8192 8192" in ranks[0] and "stream to 0: 8192 8192" in ranks[1]
    assert "stream to 2: 0 0" in ranks[0] and "stream to 2: 0 0" in ranks[1]
    assert {"stream to 0: 0 0", "stream to 1: 0 0"} <= set(ranks[2])
    assert "trials to 1: on on" in ranks[0] and "trials to 2: off off" in ranks[0]


SINGLETON = """
import numpy as np
from toro_mpi import MPI
c = MPI.COMM_WORLD
assert (c.Get_rank(), c.Get_size()) == (0, 1)
c.Send(np.arange(5.0), dest=0, tag=1)
got = np.zeros(5)
st = MPI.Status()
c.Recv(got, source=MPI.ANY_SOURCE, tag=1, status=st)
assert (got == np.arange(5.0)).all() and st.Get_count(MPI.DOUBLE) == 5
c.send({"x": 1}, dest=0, tag=2)
assert c.recv(source=0, tag=2) == {"x": 1}
c.Barrier()
print("singleton ok", MPI.Get_processor_name() != "")
"""


@pytest.mark.timeout(60)
def test_bare_python_is_a_world_of_one() -> None:
    """Without the launcher a program runs as rank 0 of 1 (like a singleton MPI_Init)."""
    proc = subprocess.run([sys.executable, "-c", SINGLETON], env=TORO_ENV, capture_output=True, text=True,
                          timeout=50)
    assert proc.returncode == 0, proc.stderr
    assert "singleton ok True" in proc.stdout


HUNG = """
import time
import numpy as np
from toro_mpi import MPI
c = MPI.COMM_WORLD
buf = np.zeros(1)
if c.rank == 2:
    time.sleep(60)  # busy elsewhere (not in MPI): the others' wait is no deadlock
c.Recv(buf, source=(c.rank + 1) % c.size, tag=40 + c.rank)
"""


@pytest.mark.timeout(60)
def test_timeout_names_the_blocked_calls(tmp_path) -> None:
    """Two ranks wait in Recv for each other and a third sleeps: not a deadlock the launcher may
    call (a rank is running), so --timeout ends the job (110) and says who waits for whom."""
    prog = tmp_path / "hung.py"
    prog.write_text(HUNG)
    proc = subprocess.run([sys.executable, "-m", "toro_mpi", "-n", "3", "--oversubscribe", "--process-per-rank",
                           "--timeout", "10", sys.executable, str(prog)],
                          env=TORO_ENV, capture_output=True, text=True, timeout=50)
    assert proc.returncode == 110, proc.stderr
    assert "rank 0 blocked in Recv(source=1, tag=40)" in proc.stderr, proc.stderr
    assert "rank 1 blocked in Recv(source=2, tag=41)" in proc.stderr, proc.stderr
    assert "rank 2 running" in proc.stderr, proc.stderr


BUSY_AFTER_RECV = """
import time
import numpy as np
from toro_mpi import MPI
c = MPI.COMM_WORLD
buf = np.zeros(1)
if c.rank == 0:
    c.Recv(buf, source=1, tag=1)  # dozes here first: the slot then names this Recv
    while True:                   # then computes (as a rank compiling a kernel does)
        pass
time.sleep(2)
c.Send(buf, dest=0, tag=1)
c.Recv(buf, source=0, tag=2)
"""


@pytest.mark.timeout(60)
def test_timeout_tells_a_busy_rank_from_a_blocked_one(tmp_path) -> None:
    """A rank that returned from Recv and now computes is reported running, with the call it was
    last blocked in, not as still blocked in it (which read as a lost message)."""
    prog = tmp_path / "busy.py"
    prog.write_text(BUSY_AFTER_RECV)
    proc = subprocess.run([sys.executable, "-m", "toro_mpi", "-n", "2", "--timeout", "8", sys.executable,
                           str(prog)], env=TORO_ENV, capture_output=True, text=True, timeout=50)
    assert proc.returncode == 110, proc.stderr
    assert "rank 0 running (last blocked in Recv(source=1, tag=1))" in proc.stderr, proc.stderr
    assert "rank 1 blocked in Recv(source=0, tag=2)" in proc.stderr, proc.stderr


IDLE = """
import resource, time
import numpy as np
from toro_mpi import MPI, runtime
c = MPI.COMM_WORLD
c.Barrier()  # both clocks start together, however unevenly the ranks started up
if c.rank == 0:
    time.sleep(3)
    c.Send(np.ones(1), dest=1, tag=1)
else:
    seg = runtime.world().segment
    bell_at = runtime.world().engine.t.bell - seg.base  # this process's doorbell word
    rung = seg.read_word(bell_at)
    before = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.monotonic()
    c.Recv(np.zeros(1), source=0, tag=1)
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    print(f"waited {time.monotonic() - t0:.2f} cpu {cpu:.3f} rung {seg.read_word(bell_at) - rung}")
"""


@pytest.mark.timeout(60)
def test_a_blocked_rank_does_not_burn_its_core(tmp_path) -> None:
    """Spin, then yield, then sleep: a rank blocked for 3 s goes to sleep on its doorbell (and the
    send wakes it). Checked causally: the doorbell word moved, which a sender does only for a
    sleeping process. The CPU it used while blocked is printed, not asserted (load-dependent)."""
    prog = tmp_path / "idle.py"
    prog.write_text(IDLE)
    proc = subprocess.run([sys.executable, "-m", "toro_mpi", "-n", "2", sys.executable, str(prog)],
                          env=TORO_ENV, capture_output=True, text=True, timeout=50)
    assert proc.returncode == 0, proc.stderr
    waited, cpu, rung = (float(w) for w in proc.stdout.split()[1::2])
    print(f"blocked {waited:.2f} s using {cpu:.3f} s of CPU (a spinning rank would use ~100%)")
    assert rung >= 1, f"the blocked rank never slept on its doorbell: {proc.stdout}"
