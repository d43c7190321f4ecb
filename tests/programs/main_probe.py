"""Prints what `python` gave this program: its __main__ module's attributes, sys.argv and
sys.path[0]; with an argument `raise` it then raises, with `exit` it calls sys.exit("bye").
test_startup.py compares `python main_probe.py` with `python -m toro_mpi.rank_main main_probe.py`."""

import sys

main = sys.modules["__main__"]
attrs = {k: v for k, v in vars(main).items() if k not in ("__builtins__", "main", "sys", "attrs")}
shown = {k: (type(v).__name__ if k in ("__loader__", "__spec__") else v) for k, v in sorted(attrs.items())}
print("main", main is sys.modules.get("__main__"), shown)
print("loader", getattr(main.__loader__, "name", main.__loader__), getattr(main.__loader__, "path", None))
print("builtins", type(__builtins__).__name__)
print("argv", sys.argv)
print("path0", sys.path[0])
if sys.argv[1:2] == ["raise"]:
    def fail() -> None:
        raise KeyError("probe")

    fail()
if sys.argv[1:2] == ["exit"]:
    sys.exit("bye")
