"""The start of a rank in a job of several nodes: `mpiexec ... python -m toro_mpi.node_main PROGRAM`.

Every rank is a process of a real MPI job (Open MPI through mpi4py; on a cluster `mpiexec
--hostfile H` or `srun`, on one machine `toro-mpirun --nodes K`). World rank = the real
COMM_WORLD rank. Before the program runs, this module:

1. loads the real `mpi4py.MPI` with toro_mpi's shim out of the way, then takes it out of
   `sys.modules` (the network link keeps it), so that the program's `import mpi4py` finds the
   shim, i.e. toro_mpi (unless TORO_MPI_NO_SHIM=1);
2. finds the ranks of its node: `Split_type(COMM_TYPE_SHARED)` on a cluster; under
   `toro-mpirun --nodes K`, TORO_MPI_NODE_MAP (the node of each rank, `0,0,1`) names simulated
   nodes instead (`node_map` below: blocks of consecutive ranks, the first N % K nodes one
   rank larger, e.g. 2+1 for 3 ranks on 2 nodes);
3. the node's first rank creates the node's segment (one virtqueue per ordered pair of world
   ranks) and announces its name over the node communicator, the others attach, and the name
   is unlinked once all have attached (a crash from then on leaves nothing in /dev/shm);
4. pins the rank to a core by its local rank, by its world rank on simulated nodes (unless
   TORO_MPI_BIND=none);
5. starts the rank (runtime.world) with the network link installed, then runs the program
   exactly as toro_mpi.rank_main does.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from . import rank_main, runtime

# The real mpi4py's modules, kept alive here once they are out of sys.modules.
_REAL_MODULES: dict[str, Any] = {}


def node_map(size: int, nodes: int) -> list[int]:
    """The node of each of `size` ranks in blocks of consecutive ranks over `nodes` nodes; the
    first size % nodes nodes get one rank more (3 ranks on 2 nodes: 0, 0, 1)."""
    if not 1 <= nodes <= size:
        raise ValueError(f"{nodes} nodes for {size} ranks: every node needs at least one rank")
    base, extra = divmod(size, nodes)
    out: list[int] = []
    for node in range(nodes):
        out += [node] * (base + (1 if node < extra else 0))
    return out


# Open MPI's TCP transport sends a message eagerly up to btl_tcp_eager_limit (64 KiB by
# default); a larger one waits for the receiver to match it and the sender to see that
# (rendezvous): two more legs, each waiting for a process that also runs a scheduler. The
# collective plane's one-node algorithms send items of 1/n of the vector through the route (a
# ring step of an Allreduce of 1 MiB on 4 ranks: 256 KiB), so they go eagerly up to this size.
# Measured (--nodes 2 -n 4, Allreduce 1 MiB float64, 2 runs under load, rank 0's CPU per
# call): 6788 / 5470 us at the default, 2867 / 2582 at 256 KiB, 3357 / 2942 at 1 MiB (an
# eager message that large is buffered whole on the receiver). A user's own setting wins.
TCP_EAGER_LIMIT = 262144 + 256


def tune_transport(environ: dict[str, str] | None = None) -> None:
    """Set toro_mpi's Open MPI TCP settings in environ (os.environ) unless already set there."""
    env = os.environ if environ is None else environ
    eager = env.setdefault("OMPI_MCA_btl_tcp_eager_limit", str(TCP_EAGER_LIMIT))
    env.setdefault("OMPI_MCA_btl_tcp_max_send_size", eager)  # one fragment, whoever set the limit


def load_real_mpi() -> Any:
    """Import the installed mpi4py's MPI module with the shim out of the way; return it, and
    leave `mpi4py` unimported in sys.modules (the program's import then finds the shim)."""
    tune_transport()  # read by MPI_Init, which the import below runs
    shim = os.path.realpath(rank_main._SHIM_DIR)
    saved = list(sys.path)
    ours = [m for m in sys.modules if m == "mpi4py" or m.startswith("mpi4py.")]
    stashed = {m: sys.modules.pop(m) for m in ours}
    sys.path[:] = [p for p in sys.path if os.path.realpath(p or ".") != shim]
    try:
        import mpi4py

        mpi4py.rc.thread_level = os.environ.get("MPI4PY_RC_THREAD_LEVEL", "single")
        from mpi4py import MPI
    finally:
        sys.path[:] = saved
    for name in [m for m in sys.modules if m == "mpi4py" or m.startswith("mpi4py.")]:
        _REAL_MODULES[name] = sys.modules.pop(name)
    sys.modules.update(stashed)
    return MPI


def _node_of(MPI: Any, world: Any) -> tuple[list[int], Any]:
    """Every rank's node and this rank's node communicator."""
    rank, size = world.Get_rank(), world.Get_size()
    spec = os.environ.get("TORO_MPI_NODE_MAP")
    if spec:
        nodes = [int(x) for x in spec.split(",")]
        if len(nodes) != size:
            raise SystemExit(f"toro_mpi.node_main: TORO_MPI_NODE_MAP names {len(nodes)} ranks, the job has {size}")
        return nodes, world.Split(nodes[rank], rank)
    local = world.Split_type(MPI.COMM_TYPE_SHARED, rank)
    leader = local.bcast(rank, root=0)  # a node is named by its first world rank
    leaders = world.allgather(leader)
    names = {lead: i for i, lead in enumerate(sorted(set(leaders)))}
    return [names[lead] for lead in leaders], local


def bootstrap() -> None:
    """Steps 1-5 of the module docstring, up to the started rank."""
    from .bus.segment import Segment
    from .config import coll_queue_size, config_from_env
    from .net.link import Link, install

    MPI = load_real_mpi()
    world = MPI.COMM_WORLD
    rank, size = world.Get_rank(), world.Get_size()
    nodes, local = _node_of(MPI, world)
    lrank = local.Get_rank()
    seg = None
    name = None
    if lrank == 0:
        bus = config_from_env().bus
        try:
            seg = Segment.create(size, bus["queue_size"], bus["buffer_size"],
                                 coll_queue_size=coll_queue_size(bus, size))
            name = seg.name
        except Exception as exc:  # noqa: BLE001 - announced, so the node's other ranks fail too
            name = f"!{exc}"
    name = local.bcast(name, root=0)
    if name.startswith("!"):
        raise SystemExit(f"toro_mpi.node_main: rank {rank}: cannot create the node's bus segment: {name[1:]}")
    os.environ.update({"TORO_MPI_RANK": str(rank), "TORO_MPI_SIZE": str(size), "TORO_MPI_SEGMENT": name,
                       "TORO_MPI_NODE": str(nodes[rank])})
    if os.environ.get("TORO_MPI_BIND", "core") != "none":
        # On a cluster a node's ranks share its cores: pin by local rank. Simulated nodes (a node
        # map from toro-mpirun --nodes) all share this machine's cores: by local rank, the first
        # rank of every node would land on the same core (2 nodes of 1 rank: both on core 0, and
        # an 8-byte ping-pong then waits a time slice per hop), so pin by world rank there.
        slot = rank if os.environ.get("TORO_MPI_NODE_MAP") else lrank
        cores = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cores[slot % len(cores)]})
    link = Link(MPI, world)
    link.node_of = nodes
    link.local = local
    install(link)
    from .net import leaders  # the node leaders' part of two-level collectives (mpi/net_collectives.py)
    leaders.attach(MPI, link)
    try:
        runtime.world()  # attaches to the segment and registers this rank
    finally:
        local.Barrier()  # every rank of the node attached (or failed): the name can go
        if seg is not None:
            seg.unlink()
            seg.close()


def main(argv: list[str] | None = None) -> None:
    """Entry point: bootstrap the rank, put the shim on the path, run the program."""
    runtime.freeze_at_exit()
    bootstrap()
    if os.environ.get("TORO_MPI_NO_SHIM") != "1":
        # After sys.path[0], which rank_main sets to the program's own directory.
        sys.path.insert(1, rank_main._SHIM_DIR)
    try:
        rank_main.main(sys.argv[1:] if argv is None else argv)
    finally:
        _quiet_colorama()


def _quiet_colorama() -> None:
    """mpiexec gives the ranks a pseudo-terminal for stdout; numba, when it formats a message
    (e.g. compiling a kernel's object-mode part), starts colorama, which then writes a colour
    reset to that "terminal" at exit: a stray `ESC[0m` in the program's output. Not ours to
    write: drop colorama's exit handler once the program is done."""
    init = sys.modules.get("colorama.initialise")
    if init is not None and hasattr(init, "reset_all"):
        import atexit

        atexit.unregister(init.reset_all)


if __name__ == "__main__":
    from toro_mpi.node_main import main as _main

    _main()
