"""toro_mpi/default.toml and the config loader: defaults, comments, and refusals naming file and key."""

from __future__ import annotations

import pytest

from toro_mpi.config import (
    COLL_QUEUE_MANY,
    COLL_QUEUE_PAIR,
    DEFAULT_FILE,
    SCHEMA,
    ConfigError,
    coll_queue_size,
    load_config,
)


def test_defaults_load_and_cover_the_schema():
    cfg = load_config()
    for section, keys in SCHEMA.items():
        assert set(getattr(cfg, section)) == set(keys), section


def test_every_default_setting_has_a_comment():
    lines = DEFAULT_FILE.read_text().splitlines()
    for i, line in enumerate(lines):
        if "=" in line and not line.lstrip().startswith("#"):
            assert i > 0 and lines[i - 1].lstrip().startswith("#"), f"no comment above: {line}"


@pytest.mark.parametrize("text, words", [
    ("[bus]\nqueue_size = 6\n", ["bus.queue_size", "power of two"]),
    ("[bus]\ncoll_queue_size = 12\n", ["bus.coll_queue_size", "power of two"]),
    ("[bus]\ncoll_queue_size = 1\n", ["bus.coll_queue_size", "0 (by the job's size)"]),
    ("[bus]\nbogus = 1\n", ["unknown key bus.bogus"]),
    ("[bus]\nstream_far_ns = 110\n", ["unknown key bus.stream_far_ns", "retired", "bus.stream_probe"]),
    ("[nope]\n", ["unknown section [nope]"]),
    ("[sched]\nsleep_min_us = 50\nsleep_max_us = 10\n", ["sleep_min_us"]),
    ("[bus\n", ["not valid TOML"]),
])
def test_bad_files_are_refused_naming_file_and_key(tmp_path, text, words):
    path = tmp_path / "user.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message
    for word in words:
        assert word in message


def test_user_file_overrides_only_its_keys(tmp_path):
    path = tmp_path / "user.toml"
    path.write_text("[bus]\nbuffer_size = 4096\n")
    cfg = load_config(path)
    assert cfg.bus["buffer_size"] == 4096
    assert cfg.bus["queue_size"] == load_config().bus["queue_size"]


def test_missing_file():
    with pytest.raises(ConfigError, match="does not exist"):
        load_config("/nonexistent/toro.toml")


def test_collective_plane_queue_size_by_job_size(tmp_path):
    """bus.coll_queue_size 0 (the default) picks by the segment's ranks; a value set is kept."""
    bus = load_config().bus
    assert bus["coll_queue_size"] == 0
    assert coll_queue_size(bus, 2) == COLL_QUEUE_PAIR == 64
    assert coll_queue_size(bus, 3) == coll_queue_size(bus, 8) == COLL_QUEUE_MANY == 16
    path = tmp_path / "user.toml"
    path.write_text("[bus]\ncoll_queue_size = 32\n")
    set_bus = load_config(path).bus
    assert coll_queue_size(set_bus, 2) == coll_queue_size(set_bus, 8) == 32
