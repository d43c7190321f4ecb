"""The MPI surface beyond messages: Info, keyval attributes with their callbacks at Dup/Free,
groups (ranges, translation with PROC_NULL, GROUP_EMPTY), Status fields, handle equality and
pickling of constants, COMM_NULL, Create_group, Split_type, names, added error classes, and the
errors bad arguments raise."""

import pickle

from _mpi import COMM, MPI, RANK, SIZE, done, out


def error_class(fn, *args):
    """The MPI error class fn raises (or the Python exception's name, or 'no error')."""
    try:
        fn(*args)
    except MPI.Exception as exc:
        return [k for k in dir(MPI) if k.startswith("ERR_") and getattr(MPI, k) == exc.Get_error_class()][:1]
    except (TypeError, ValueError, KeyError) as exc:
        return type(exc).__name__
    return "no error"


def info_calls() -> None:
    info = MPI.Info.Create({"b": "2", "a": "1"})
    info["c"] = "3"
    out("info", info.Get_nkeys(), info.Get_nthkey(0), info.items(), info.get("zz", "dflt"), "a" in info)
    out("info pop", info.pop("b"), info.popitem(), len(info), info.pop("nope", None))
    dup = info.Dup()
    out("info dup", dup.items(), dup != info, bool(dup))
    dup.Free()
    out("info freed", dup == MPI.INFO_NULL, bool(dup))
    out("info bad key", error_class(info.Set, "k" * 300, "v"))
    out("info delete missing", error_class(info.Delete, "missing"))
    out("info null reads", len(MPI.INFO_NULL), MPI.INFO_NULL.items(), MPI.INFO_NULL.get("x"))
    out("info null write", error_class(MPI.INFO_NULL.__setitem__, "k", "v"))
    out("info pickle", pickle.loads(pickle.dumps(info)).items() == info.items(),
        pickle.loads(pickle.dumps(MPI.INFO_NULL)) is MPI.INFO_NULL)
    out("info env", MPI.INFO_ENV.Get("maxprocs"), bool(MPI.INFO_ENV))
    info.Free()


def attributes() -> None:
    calls = []

    def copy_fn(obj, keyval, value):
        calls.append("copy")
        return value + [len(calls)]

    def delete_fn(obj, keyval, value):
        calls.append(f"delete {value}")

    kv_copy = MPI.Comm.Create_keyval(copy_fn, delete_fn)
    kv_same = MPI.Comm.Create_keyval(True)
    kv_none = MPI.Comm.Create_keyval()
    comm = COMM.Dup()
    out("attr unset", comm.Get_attr(kv_copy))
    comm.Set_attr(kv_copy, [RANK])
    comm.Set_attr(kv_same, "same")
    comm.Set_attr(kv_none, "dropped")
    dup = comm.Dup()
    out("attr dup", dup.Get_attr(kv_copy), dup.Get_attr(kv_same), dup.Get_attr(kv_none))
    dup.Free()
    comm.Set_attr(kv_copy, [RANK, 9])  # replaces: the old value is deleted
    comm.Delete_attr(kv_copy)
    out("attr calls", calls)
    out("attr delete unset", error_class(comm.Delete_attr, kv_copy))
    out("attr free keyval", MPI.Comm.Free_keyval(kv_copy) == MPI.KEYVAL_INVALID)
    out("attr freed keyval", error_class(comm.Set_attr, kv_copy, 1))
    comm.Free()
    out("attr after free", calls[-1:], comm == MPI.COMM_NULL)
    MPI.Comm.Free_keyval(kv_same)
    MPI.Comm.Free_keyval(kv_none)
    out("attr predefined", COMM.Get_attr(MPI.TAG_UB) >= 32767, COMM.Get_attr(MPI.APPNUM))


def groups() -> None:
    world = COMM.Get_group()
    evens = world.Range_incl([(0, SIZE - 1, 2)])
    odds = world.Range_excl([(0, SIZE - 1, 2)])
    out("group ranges", evens.size, odds.size, evens.rank, odds.rank)
    out("group translate", world.Translate_ranks([MPI.PROC_NULL, SIZE - 1, 0], evens))
    out("group empty", MPI.Group.Intersection(odds, evens) == MPI.GROUP_EMPTY, MPI.GROUP_EMPTY.size,
        MPI.GROUP_EMPTY.rank == MPI.UNDEFINED, MPI.Group.Union(world, MPI.GROUP_EMPTY).Compare(world) == MPI.IDENT)
    out("group dup", world.Dup().Compare(world) == MPI.IDENT, MPI.Group(world) == world, bool(MPI.Group()))
    out("group bad rank", error_class(world.Incl, [SIZE]))
    out("group pickle", error_class(pickle.dumps, world),
        pickle.loads(pickle.dumps(MPI.GROUP_EMPTY)) is MPI.GROUP_EMPTY)
    world.Free()
    out("group freed", world == MPI.GROUP_NULL)


def status() -> None:
    st = MPI.Status()
    out("status empty", st.source, st.tag, st.error, st.Get_count(MPI.BYTE), st.Is_cancelled())
    st.source, st.tag, st.error = 3, 4, MPI.ERR_OTHER
    st.Set_elements(MPI.INT, 5)
    st.Set_cancelled(True)
    copy = MPI.Status(st)
    out("status copy", copy.source, copy.tag, copy.Get_count(MPI.INT), copy.Get_count(MPI.BYTE),
        copy.cancelled, copy == st)
    f = st.py2f()
    out("status fortran", len(f) == MPI.F_STATUS_SIZE, f[MPI.F_SOURCE], f[MPI.F_TAG], f[MPI.F_ERROR])
    mem = st.tomemory()
    mem[list(mem).index(3)] = 7
    out("status memory", st.source)
    out("status bad type", error_class(st.Get_count, MPI.DATATYPE_NULL))


def communicators() -> None:
    out("names", COMM.Get_name(), MPI.COMM_SELF.name, MPI.COMM_NULL.Get_name())
    dup = COMM.Dup()
    dup.name = "mine"
    out("rename", dup.Get_name(), MPI.Comm(dup) == dup, dup != COMM, bool(MPI.COMM_NULL))
    out("constants pickle", pickle.loads(pickle.dumps(MPI.COMM_WORLD)) is MPI.COMM_WORLD,
        pickle.loads(pickle.dumps(MPI.COMM_NULL)) is MPI.COMM_NULL)
    out("comm null calls", error_class(MPI.COMM_NULL.Get_size), error_class(MPI.COMM_NULL.Free))
    half = COMM.Get_group().Range_incl([(0, (SIZE - 1) // 2, 1)])
    if half.rank != MPI.UNDEFINED:
        sub = COMM.Create_group(half, tag=3)
        out("create_group", sub.Get_size(), sub.Get_rank(), sub.allreduce(1))
        sub.Free()
    shared = COMM.Split_type(MPI.COMM_TYPE_SHARED, key=-RANK)
    out("split_type shared", shared.Get_size(), shared.Get_rank())
    shared.Free()
    none = COMM.Split_type(MPI.UNDEFINED)
    out("split_type undefined", none == MPI.COMM_NULL)
    with_info = COMM.Dup_with_info(MPI.Info.Create({"mpi_assert_no_any_tag": "true"}))
    out("dup_with_info", type(with_info.Get_info()).__name__, with_info.Compare(COMM) == MPI.CONGRUENT)
    with_info.Free()
    seen = []
    handler = MPI.Comm.Create_errhandler(lambda comm, code: seen.append((comm == dup, code)))
    dup.Set_errhandler(handler)
    dup.Call_errhandler(MPI.ERR_OTHER)
    handler.Free()  # still in effect on dup, as MPI says
    dup.Call_errhandler(MPI.ERR_ARG)
    out("user errhandler", seen, handler == MPI.ERRHANDLER_NULL, dup.Get_errhandler() != MPI.ERRORS_RETURN)
    dup.Set_errhandler(MPI.ERRORS_RETURN)
    dup.Free()
    out("freed", dup == MPI.COMM_NULL, bool(dup))


def errors() -> None:
    cls = MPI.Add_error_class()
    code = MPI.Add_error_code(cls)
    MPI.Add_error_string(code, "my error")
    out("added error", cls > MPI.ERR_LASTCODE, MPI.Get_error_class(code) == cls, MPI.Get_error_string(code),
        COMM.Get_attr(MPI.LASTUSEDCODE) == code)
    # (Remove_error_* are MPI-4.1: Open MPI 5, the reference, lacks them; tests/unit covers them.)
    exc = MPI.Exception(MPI.ERR_RANK)
    out("exception", int(exc), exc == MPI.ERR_RANK, exc > MPI.SUCCESS, repr(exc), bool(MPI.Exception(MPI.SUCCESS)))
    out("error classes", MPI.ERR_WIN, MPI.ERR_KEYVAL, MPI.ERR_INFO_NOKEY, MPI.ERR_SESSION, MPI.ROOT,
        MPI.KEYVAL_INVALID, MPI.UNWEIGHTED, MPI.WEIGHTS_EMPTY, MPI.MODE_RDONLY, MPI.WIN_FLAVOR_SHARED)
    out("null handles", bool(MPI.FILE_NULL), bool(MPI.WIN_NULL), bool(MPI.SESSION_NULL),
        bool(MPI.MESSAGE_NULL), MPI.File() == MPI.FILE_NULL, MPI.Win() == MPI.WIN_NULL)
    out("aint", MPI.Aint_add(100, 28), MPI.Aint_diff(100, 28), MPI.Get_address(None))


def main() -> None:
    # A library's finalize hook: MPI.Finalize deletes COMM_SELF's attributes first.
    hook = MPI.Comm.Create_keyval(delete_fn=lambda comm, keyval, value: out("finalize hook", value))
    MPI.COMM_SELF.Set_attr(hook, "bye")
    info_calls()
    attributes()
    groups()
    status()
    communicators()
    errors()
    done()
    MPI.Finalize()


main()
