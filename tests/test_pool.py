"""The pool of prewarmed environments: a new notebook that declares nothing takes one (nothing is
built), the pool is replenished in the background, spares past their age or of an older default
declaration go, and a taken spare holds exactly what its key means."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path

import pytest

from envlens.environment import ensure_environment
from envlens.envs import history, pool
from envlens.envs.inventory import installed
from envlens.envs.uv_backend import BYTECODE_MARKER
from envlens.resolve import pool_resolution, resolve
from envlens.settings import Settings

pytestmark = pytest.mark.slow

SETTINGS = Settings(default_packages=("tinyalpha",), pool_size=1, pool_max_age_days=7)


def new_notebook(path: Path) -> Path:
    cell = {"cell_type": "code", "execution_count": None, "id": "a1", "metadata": {},
            "outputs": [], "source": ["import tinyalpha\n"]}  # fmt: skip
    data = {"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    return path


def wait_until(check: object, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def niceness_of_uv_under(folder: Path, seen: dict[int, int], stop: threading.Event) -> None:
    """Samples /proc for uv processes working in `folder`: pid -> niceness."""
    while not stop.is_set():
        for proc in Path("/proc").glob("[0-9]*"):
            try:
                argv = (proc / "cmdline").read_bytes().split(b"\0")
                if Path(argv[0].decode()).name == "uv" and str(folder).encode() in b" ".join(argv):
                    seen[int(proc.name)] = int(
                        (proc / "stat").read_text().rsplit(")", 1)[1].split()[16]
                    )
            except (OSError, IndexError, ValueError):
                continue
        time.sleep(0.05)


@pytest.mark.skipif(
    sys.platform != "linux", reason="thread priorities are per thread on Linux only"
)
def test_spare_builds_yield_the_cpu_to_the_users_kernel(offline_index: Path) -> None:
    # The replenisher starts with the language server, when the user opens a notebook: its uv
    # runs at the lowest priority, the server (and the kernels it starts) at the normal one.
    seen: dict[int, int] = {}
    stop = threading.Event()
    sampler = threading.Thread(target=niceness_of_uv_under, args=(pool.pool_dir(), seen, stop))
    sampler.start()
    rep = pool.start_replenisher(SETTINGS)
    try:
        wait_until(lambda: rep.rounds >= 1)
    finally:
        rep.close()
        stop.set()
        sampler.join()
    assert len(pool.spares()) == 1
    assert seen and set(seen.values()) == {19}, seen
    assert os.getpriority(os.PRIO_PROCESS, 0) == 0


def test_taken_replenished_aged_out(offline_index: Path, tmp_path: Path) -> None:
    key = pool_resolution(SETTINGS).key
    assert pool.replenish(SETTINGS) == 1
    (spare,) = pool.spares(key)
    # Complete before it is offered: bytecode compiled, then its record written.
    assert (spare.path / BYTECODE_MARKER).read_text().strip() in ("ok", "partial")
    assert pool.replenish(SETTINGS) == 0  # full

    rep = pool.start_replenisher(SETTINGS)
    try:
        nb = new_notebook(tmp_path / "Untitled-1.ipynb")
        res = resolve(nb, settings=SETTINGS)
        assert res.declaration.kind == "none" and res.key == key and not res.built
        info = ensure_environment(res, settings=SETTINGS)
        assert info.key == key and not info.reused
        assert info.env_dir == offline_index / "envs" / key and (info.env_dir / "ready").exists()
        names = {d.name for d in installed(info.env_dir)}
        assert {"tinyalpha", "ipykernel"} <= names
        assert (info.env_dir / BYTECODE_MARKER).exists()  # came compiled
        (v1,) = history.load(nb).versions
        assert v1.action == "pool" and v1.status == "ready"
        assert "Took a prewarmed environment from the pool" in (history.read_log(v1) or "")
        assert pool.spares(key) == []  # taken...
        wait_until(lambda: len(pool.spares(key)) == 1)  # ...and replenished in the background

        # A second undeclared notebook shares the environment (same declaration, same key).
        other = ensure_environment(
            resolve(new_notebook(tmp_path / "b.ipynb"), settings=SETTINGS), settings=SETTINGS
        )
        assert other.reused and other.key == key and len(pool.spares(key)) == 1
    finally:
        rep.close()

    (spare,) = pool.spares(key)
    # Other default packages: the spare no longer matches what an undeclared file gets.
    changed = Settings(default_packages=("tinybeta",), pool_size=1)
    assert pool.prune_spares(changed, dry_run=True) == [spare.path]
    # Aged out: a spare older than poolMaxAgeDays goes (the next round builds a fresh one).
    assert pool.prune_spares(SETTINGS) == []
    record = json.loads((spare.path / pool.RECORD).read_text())
    record["created"] = time.time() - 8 * 86400
    (spare.path / pool.RECORD).write_text(json.dumps(record))
    assert pool.prune_spares(SETTINGS) == [spare.path]
    assert not spare.path.exists() and pool.spares() == []


def test_taken_spare_is_what_its_key_means(
    offline_index: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The spare's content is the default declaration's, so a script declaring exactly those
    packages resolves to the same key, and a fresh build of it installs the same versions."""
    one = Settings(default_packages=("tinyalpha",), pool_size=1)
    pool.replenish(one)
    taken = ensure_environment(
        resolve(new_notebook(tmp_path / "n.ipynb"), settings=one), settings=one
    )
    script = tmp_path / "same.py"
    script.write_text('# /// script\n# dependencies = ["tinyalpha"]\n# ///\nimport tinyalpha\n')
    assert resolve(script, settings=one).key == taken.key

    monkeypatch.setenv("ENVLENS_CACHE_DIR", str(tmp_path / "fresh"))  # a store without it
    fresh = ensure_environment(resolve(script, settings=one), settings=one)
    assert not fresh.reused and fresh.key == taken.key
    assert [(d.name, d.version) for d in installed(fresh.env_dir)] == [
        (d.name, d.version) for d in installed(taken.env_dir)
    ]


def test_no_spare_builds_as_usual(offline_index: Path, tmp_path: Path) -> None:
    none = Settings(pool_size=0)
    info = ensure_environment(
        resolve(new_notebook(tmp_path / "x.ipynb"), settings=none), settings=none
    )
    assert not info.reused
    assert history.load(tmp_path / "x.ipynb").versions[0].action == "build"
