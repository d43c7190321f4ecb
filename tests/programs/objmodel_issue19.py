"""mpi4py's handle object model, communicator locks, docstring layout and package data files,
printed as facts one per line (`RANK fact`): run under toro-mpirun (the mpi4py shim) and under
mpiexec with the real mpi4py, the two outputs must be identical (tests/test_objmodel_issue19.py).

Uses `import mpi4py` itself, not tests/programs/_mpi.py: the package around MPI is checked too.
"""

from __future__ import annotations

import copy
import os
import pickle
import threading
import warnings
import weakref

import mpi4py
from mpi4py import MPI

COMM = MPI.COMM_WORLD
RANK = COMM.Get_rank()


def say(fact: str) -> None:
    print(f"{RANK} {fact}", flush=True)


def raises(fn, *args) -> str:
    try:
        fn(*args)
    except Exception as exc:  # noqa: BLE001 - the exception's class is the fact
        # The Python class mpi4py raises (toro_mpi's MPITypeError is a TypeError and an MPI.Exception).
        for cls in (TypeError, ValueError, AttributeError, NotImplementedError):
            if isinstance(exc, cls):
                return cls.__name__
        return type(exc).__name__
    return "nothing"


NULLS = {
    "Datatype": MPI.DATATYPE_NULL, "Request": MPI.REQUEST_NULL, "Op": MPI.OP_NULL, "Message": MPI.MESSAGE_NULL,
    "Comm": MPI.COMM_NULL, "Group": MPI.GROUP_NULL, "Info": MPI.INFO_NULL, "Errhandler": MPI.ERRHANDLER_NULL,
}

# Hashing, weak references, construction from another class's handle, pickling a subclass.
for name, null in NULLS.items():
    cls = type(null)
    say(f"{name} hash {raises(hash, null)}")
    say(f"{name} weakref {weakref.ref(null)() is null}")
    say(f"{name} from-int {raises(cls, 1234)}")
    other = MPI.INFO_NULL if name != "Info" else MPI.GROUP_NULL
    say(f"{name} from-other {raises(cls, other)}")
    sub = type(f"My{name}", (cls,), {"__module__": __name__})
    globals()[sub.__name__] = sub
    for how, fn in (("pickle", lambda o: pickle.loads(pickle.dumps(o))), ("copy", copy.copy)):
        dup = fn(sub(null))
        say(f"{name} {how}-subclass {type(dup).__name__} {dup == null} {dup is null}")
    say(f"{name} pickle-constant-is-itself {pickle.loads(pickle.dumps(null)) is null}")

say(f"Prequest(REQUEST_NULL) {bool(MPI.Prequest(MPI.REQUEST_NULL))} {type(MPI.Prequest(MPI.REQUEST_NULL)).__name__}")
say(f"Grequest(REQUEST_NULL) {bool(MPI.Grequest(MPI.REQUEST_NULL))} {type(MPI.Grequest(MPI.REQUEST_NULL)).__name__}")
say(f"Cartcomm(COMM_NULL) {bool(MPI.Cartcomm(MPI.COMM_NULL))}")
say(f"Graphcomm(COMM_NULL) {bool(MPI.Graphcomm(MPI.COMM_NULL))}")

# free(): a constant stays, another handle to it becomes null, a created object is freed.
for name in ("INT", "SUM", "COMM_WORLD", "COMM_SELF", "MESSAGE_NO_PROC"):
    const = getattr(MPI, name)
    const.free()
    clone = type(const)(const)
    clone.free()
    clone.free()
    say(f"free {name}: constant {bool(const)} clone {bool(clone)}")
dup = COMM.Dup()
dup.free()
say(f"free Dup: {bool(dup)}")
op = MPI.Op.Create(lambda a, b, t: None)
op.free()
op.free()
say(f"free user Op twice: {bool(op)}")

# Communicator locks: a table of threading.Lock by key, filled by the object collectives and
# shared by every handle of the communicator.
comm = COMM.Dup()
table = MPI._comm_lock_table(comm)
say(f"lock table {type(table).__name__} {'bcast' in table}")
comm.bcast(None, root=0)
comm.allgather(None)
say(f"lock table after bcast {sorted(k for k in table if k in ('bcast', 'allgather'))} "
    f"{isinstance(table['bcast'], type(threading.Lock()))}")
say(f"lock table shared by handles {MPI._comm_lock_table(MPI.Intracomm(comm)) is table}")
with MPI._comm_lock(comm, "mine"):
    say(f"lock held {table['mine'].locked()}")
say(f"lock released {table['mine'].locked()}")
comm.Free()

# Docstrings and class attributes as mpi4py's: a signature line, then the description.
for fn in (MPI.Comm.Get_rank, MPI.Comm.Send, MPI.Datatype.Get_extent, MPI.Request.Test):
    first, _, rest = fn.__doc__.partition("\n")
    body = rest.strip()
    say(f"doc {fn.__name__} signature-line {first.startswith(fn.__name__ + '(')} "
        f"summary {body[:1].isupper()} {body.partition(chr(10))[0].endswith('.')}")
say(f"Comm.rank on the class {MPI.Comm.rank.__doc__ is not None} {COMM.rank == RANK}")
say(f"modules in MPI {[k for k, v in vars(MPI).items() if type(v) is type(os) and not k.startswith('__')]}")

# The package: data files, get_include, importable entry points, profile.
pkgdir = os.path.dirname(os.path.realpath(mpi4py.__file__))
say(f"py.typed {os.path.exists(os.path.join(pkgdir, 'py.typed'))}")
for stub in ("__init__.pyi", "MPI.pyi", "run.pyi", "__main__.pyi"):
    say(f"stub {stub} {os.path.exists(os.path.join(pkgdir, stub))}")
say(f"get_include {os.path.isfile(os.path.join(mpi4py.get_include(), 'mpi4py', 'mpi4py.h'))}")
import mpi4py.__main__  # noqa: E402, F401 - importing it must not run it
import mpi4py.run  # noqa: E402, F401

say(f"profile missing {raises(mpi4py.profile, '@no-such-profiler')}")
with warnings.catch_warnings():
    warnings.simplefilter("error")
    say(f"profile not a library {raises(lambda: mpi4py.profile('hosts', path=['/etc']))}")
say("ok")
