"""Run and bus settings: toro_mpi/default.toml, overlaid by a user file, validated by key."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

# The defaults' path as a string: pathlib (with urllib.parse, ipaddress) cost the launcher ~3 ms
# to import before the ranks started. DEFAULT_FILE, the same as a Path, is made when asked for.
_DEFAULT_PATH = os.path.join(os.path.dirname(os.path.realpath(__file__)), "default.toml")
ENV_VAR = "TORO_MPI_CONFIG"


# Keys earlier versions accepted, with what replaced them: said next to "unknown key".
RETIRED_KEYS = {
    "bus.stream_far_ns": "retired: stores are now chosen by timed trials; bus.stream_probe = false "
                         "turns them off and streams by size alone",
}


class ConfigError(ValueError):
    """A config file is missing, unreadable, or has an unknown key or a bad value."""


def _positive_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v > 0


def _nonneg_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _nonneg_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0


# section -> key -> (check, description of what is accepted)
SCHEMA: dict[str, dict[str, tuple[Any, str]]] = {
    "bus": {
        "queue_size": (lambda v: _positive_int(v) and v >= 2 and v <= 32768 and not v & (v - 1),
                       "a power of two in 2..32768"),
        "buffer_size": (lambda v: _positive_int(v) and v >= 64 and v % 64 == 0, "a multiple of 64, >= 64"),
        "rendezvous_threshold": (_nonneg_int, "an integer >= 0"),
        "stream_threshold": (_nonneg_int, "an integer >= 0"),
        "stream_probe": (lambda v: isinstance(v, bool), "true or false"),
        "remember_stream_advice": (lambda v: isinstance(v, bool), "true or false"),
        "park_threshold": (_nonneg_int, "an integer >= 0"),
        "coll_queue_size": (lambda v: _nonneg_int(v) and (v == 0 or 2 <= v <= 32768 and not v & (v - 1)),
                            "0 (by the job's size) or a power of two in 2..32768"),
        "heap_size": (lambda v: _nonneg_int(v) and v % 4096 == 0, "a multiple of 4096, >= 0"),
        "heap_threshold": (_positive_int, "an integer > 0"),
    },
    "coll": {
        "segment_bytes": (_positive_int, "an integer > 0"),
        "allreduce_ring_min_bytes": (_nonneg_int, "an integer >= 0"),
        "allgather_ring_min_bytes": (_nonneg_int, "an integer >= 0"),
        "spin_polls": (_positive_int, "an integer > 0"),
    },
    "sched": {
        "spin_passes": (_nonneg_int, "an integer >= 0"),
        "oversubscribed_spin_passes": (_nonneg_int, "an integer >= 0"),
        "yield_passes": (_nonneg_int, "an integer >= 0"),
        "sleep_min_us": (_positive_int, "an integer > 0"),
        "sleep_max_us": (_positive_int, "an integer > 0"),
        "doorbell": (lambda v: isinstance(v, bool), "true or false"),
        "doze_max_us": (_positive_int, "an integer > 0"),
    },
    "launcher": {
        "bind_to": (lambda v: v in ("core", "none"), '"core" or "none"'),
        "kill_grace": (_nonneg_number, "a number >= 0"),
        "warm_cache": (lambda v: isinstance(v, bool), "true or false"),
        "ranks_per_core": (_nonneg_int, "an integer >= 0"),
    },
}


class Record:
    """A plain record: equality and repr over its attributes, as a dataclass has them. The
    launcher's records (Config, Plan, App, SlotView) were dataclasses; importing dataclasses
    (with inspect, ast, dis, tokenize) cost every launch about 5 ms before any rank started."""

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value: as a dataclass

    def __repr__(self) -> str:
        fields = ", ".join(f"{key}={value!r}" for key, value in vars(self).items())
        return f"{type(self).__name__}({fields})"

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return vars(self) == vars(other)


class Config(Record):
    """Resolved settings, one dict per section."""

    def __init__(self, bus: dict[str, Any] | None = None, sched: dict[str, Any] | None = None,
                 launcher: dict[str, Any] | None = None, coll: dict[str, Any] | None = None) -> None:
        self.bus: dict[str, Any] = {} if bus is None else bus
        self.sched: dict[str, Any] = {} if sched is None else sched
        self.launcher: dict[str, Any] = {} if launcher is None else launcher
        self.coll: dict[str, Any] = {} if coll is None else coll

    def to_json(self) -> str:
        """Serialise for the ranks' environment."""
        return json.dumps({"bus": self.bus, "sched": self.sched, "launcher": self.launcher, "coll": self.coll})


def __getattr__(name: str) -> Any:
    """DEFAULT_FILE: the path of default.toml, as a pathlib.Path."""
    if name == "DEFAULT_FILE":
        from pathlib import Path

        return Path(_DEFAULT_PATH)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _read(path: str | Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    return _parse(raw, path)


def _parse(raw: bytes, path: str | Path) -> dict[str, Any]:
    """The TOML document raw (the file at path); ConfigError when it is not valid TOML."""
    # tomllib here, not at the top: a rank reads its settings from the environment (JSON) and
    # never parses TOML; importing tomllib (and the datetime it pulls in) costs it ~5 ms.
    import tomllib

    try:
        return tomllib.loads(raw.decode())
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None


def _overlay(cfg: Config, data: dict[str, Any], source: str) -> None:
    for section, values in data.items():
        if section not in SCHEMA:
            raise ConfigError(f"{source}: unknown section [{section}] (known: {', '.join(SCHEMA)})")
        if not isinstance(values, dict):
            raise ConfigError(f"{source}: [{section}] must be a table")
        for key, value in values.items():
            if key not in SCHEMA[section]:
                hint = RETIRED_KEYS.get(f"{section}.{key}")
                raise ConfigError(f"{source}: unknown key {section}.{key}" + (f" ({hint})" if hint else ""))
            check, accepted = SCHEMA[section][key]
            if not check(value):
                raise ConfigError(f"{source}: {section}.{key} = {value!r} is invalid; expected {accepted}")
            getattr(cfg, section)[key] = value
    if cfg.sched.get("sleep_min_us", 1) > cfg.sched.get("sleep_max_us", 1):
        raise ConfigError(f"{source}: sched.sleep_min_us must not exceed sched.sleep_max_us")


def _read_default() -> dict[str, Any]:
    """default.toml's contents, parsed by tomllib once per machine and version of the file.

    Every launch reads the defaults; importing tomllib (with datetime, string and its regular
    expressions) and parsing the file cost the launcher 3-4 ms before any rank starts. The
    parse is kept as JSON in NUMBA_CACHE_DIR (the launcher sets it first: the directory where
    the kernels are cached), under a name derived from the file's bytes, so an edited file is
    parsed anew. Without that directory, or where it cannot be written, the file is parsed."""
    try:
        with open(_DEFAULT_PATH, "rb") as fh:
            raw = fh.read()
    except FileNotFoundError:
        raise ConfigError(f"config file {_DEFAULT_PATH} does not exist") from None
    cache = os.environ.get("NUMBA_CACHE_DIR")
    if not cache:
        return _parse(raw, _DEFAULT_PATH)
    import zlib  # already imported by shutil, pathlib's users; checksums, not security

    key = f"{zlib.crc32(raw):08x}{zlib.adler32(raw):08x}{len(raw):x}"
    path = os.path.join(cache, f"toro_mpi-default-{key}.json")
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
        # Used only if it has exactly the sections and keys the file must define (a file
        # damaged outside toro_mpi is parsed anew and rewritten).
        if isinstance(data, dict) and {k: set(v) for k, v in data.items() if isinstance(v, dict)} == {
                section: set(keys) for section, keys in SCHEMA.items()} and len(data) == len(SCHEMA):
            return data
    except (OSError, ValueError):
        pass
    data = _parse(raw, _DEFAULT_PATH)
    text = json.dumps(data)
    if json.loads(text) == data:  # only what JSON carries exactly (no TOML dates)
        replace_file(path, text)
    return data


def replace_file(path: str, text: str) -> bool:
    """Write text to path whole or not at all (a temporary file renamed over it), making its
    directory if needed, for readers that may open it meanwhile (another launcher); False,
    and nothing left behind, where it cannot be written."""
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        return False
    return True


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Defaults, overlaid by `path` if given. Raises ConfigError naming the file and key."""
    cfg = Config()
    _overlay(cfg, _read_default(), _DEFAULT_PATH)
    if path is not None:
        _overlay(cfg, _read(os.fspath(path)), str(path))
    return cfg


def config_from_env() -> Config:
    """The launcher's resolved settings (TORO_MPI_CONFIG), or the defaults outside a launcher."""
    raw = os.environ.get(ENV_VAR)
    if not raw:
        return load_config()
    data = json.loads(raw)
    cfg = Config()
    _overlay(cfg, data, f"${ENV_VAR}")
    return cfg


# The collective plane's descriptors per queue when bus.coll_queue_size is 0 (default.toml): for a
# segment of two ranks, and for more.
COLL_QUEUE_PAIR = 64
COLL_QUEUE_MANY = 16


def coll_queue_size(bus: dict[str, Any], nranks: int) -> int:
    """Descriptors per collective-plane queue of a segment of nranks ranks: bus.coll_queue_size,
    or with 0 COLL_QUEUE_PAIR for two ranks and COLL_QUEUE_MANY for more (see default.toml)."""
    configured = bus["coll_queue_size"]
    if configured:
        return configured
    return COLL_QUEUE_PAIR if nranks <= 2 else COLL_QUEUE_MANY
