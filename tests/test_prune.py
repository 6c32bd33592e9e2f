"""`envlens envs prune`: with backdated records, only environments nobody uses any more go (with
their lock files and logs); the version a file uses now, one a running kernel uses and one used
recently stay. `envlens envs list` shows size, last use and the files using each environment."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from envlens import paths
from envlens.environment import ensure_environment
from envlens.envs import history, prune, usage
from envlens.errors import EnvlensError
from envlens.kernels.session import KernelSession, python_kernel_argv, python_kernel_env
from envlens.resolve import resolve

pytestmark = pytest.mark.slow
DAY = 86400


def envlens(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "envlens", *args], capture_output=True, text=True, timeout=300
    )


def build(path: Path, deps: list[str]) -> str:
    path.write_text(
        "# /// script\n# dependencies = [" + ", ".join(f'"{d}"' for d in deps) + "]\n# ///\n"
    )
    return ensure_environment(resolve(path)).key


def backdate(key: str, days: float) -> None:
    """As if the environment was built, and last used, `days` ago."""
    when = time.time() - days * DAY
    ready = paths.env_dir(key) / "ready"
    record = json.loads(ready.read_text())
    record["created"] = when
    ready.write_text(json.dumps(record))
    usage.mark_used(key, when)


def test_prune_removes_only_what_nobody_uses(offline_index: Path, tmp_path: Path) -> None:
    in_use = build(tmp_path / "a.py", ["tinyalpha"])  # a.py's current version
    b = tmp_path / "b.py"
    old = build(b, ["tinybeta"])  # b.py's version 1 ...
    current = build(b, ["tiny-gamma"])  # ... and version 2, in use
    gone_file = tmp_path / "d.py"
    orphan = build(gone_file, ["tinyimg"])
    gone_file.unlink()  # its only file was deleted
    kernel_env = build(tmp_path / "k.py", ["tinyalpha==1.0"])
    recent = build(tmp_path / "r.py", ["tinyalpha", "tinybeta"])
    with pytest.raises(EnvlensError):
        build(tmp_path / "f.py", ["nosuchpkg"])  # a failed build: a log and no environment
    failed_logs = list(history.logs_dir(history.load(tmp_path / "f.py").versions[0].key).iterdir())
    assert failed_logs
    (tmp_path / "k.py").write_text("print('changed: k.py now declares nothing')\n")
    (tmp_path / "r.py").write_text("\n")
    ensure_environment(resolve(tmp_path / "k.py"))  # k.py's version in use is another one now
    ensure_environment(resolve(tmp_path / "r.py"))
    for key in (in_use, old, current, orphan, kernel_env):
        backdate(key, 45)
    backdate(recent, 10)
    for log in history.log_files():  # the logs are as old as their builds
        t = time.time() - 45 * DAY
        os.utime(log, (t, t))

    async def with_kernel() -> prune.PrunePlan:
        # A kernel in an environment no file uses any more (started as Jupyter would).
        env = paths.env_dir(kernel_env)
        session = KernelSession(
            python_kernel_argv(paths.env_python(env)),
            cwd=tmp_path,
            label="k",
            env=python_kernel_env(env),
        )
        await session.start()
        try:
            return prune.prune(30)
        finally:
            await session.shutdown()

    result = asyncio.run(with_kernel())
    removed = {e.key for e in result.remove}
    assert removed == {old, orphan}
    kept = {e.key: why for e, why in result.keep}
    assert kept[in_use] == "the version in use of a.py"
    assert kept[current] == "the version in use of b.py"
    assert kept[kernel_env] == "a running process (a kernel?) uses it"
    assert kept[recent] == "used 10 days ago"
    for key in (old, orphan):
        assert not paths.env_dir(key).exists()
        assert not usage.used_file(key).exists()
        assert not history.logs_dir(key).exists()  # the logs went with the environment
    for key in (in_use, current, kernel_env, recent):
        assert (paths.env_dir(key) / "ready").exists()
    assert (history.logs_dir(in_use)).exists()
    assert not any(p.exists() for p in failed_logs)
    # The history keeps every version (their logs are gone with their environments).
    v1 = history.load(b).versions[0]
    assert v1.key == old and history.read_log(v1) is None
    assert history.load(b).in_use is not None

    # Once the kernel is gone, its environment goes too.
    again = prune.prune(30)
    assert {e.key for e in again.remove} == {kernel_env}


def test_envs_list_and_prune_cli(offline_index: Path, tmp_path: Path, write_script) -> None:
    a = write_script(tmp_path / "a.py", ["tinyalpha"])
    assert envlens("install", "--trust", str(a)).returncode == 0
    key_a = resolve(a).key
    write_script(a, ["tinybeta"])
    assert envlens("install", "--trust", str(a)).returncode == 0
    key_b = resolve(a).key

    listed = json.loads(envlens("envs", "list", "--json").stdout)
    by_key = {e["key"]: e for e in listed}
    assert by_key[key_b]["files"] == [str(a)] and by_key[key_a]["files"] == []
    size = by_key[key_b]["size"]
    # Most of an environment is hardlinked from uv's cache: its own bytes are a part of the total.
    assert 0 < size["own"] < size["total"]
    assert time.time() - by_key[key_b]["lastUsed"] < 600
    text = envlens("envs", "list").stdout
    assert f"    used by {a}" in text and "MB own" in text
    assert text.splitlines()[-1].startswith("2 environments, ")  # the total, own bytes
    assert text.splitlines()[-1].endswith("of their own (the rest is hardlinked from uv's cache)")

    backdate(key_a, 40)
    backdate(key_b, 40)
    dry = envlens("envs", "prune", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert (
        f"would remove {key_a}" in dry.stdout
        and f"kept    {key_b}  the version in use of a.py" in dry.stdout
    )
    assert "dry run: nothing removed" in dry.stderr
    assert (paths.env_dir(key_a) / "ready").exists()
    none = envlens("envs", "prune", "--older-than", "60")
    assert none.returncode == 0 and "removed 0 environment(s)" in none.stderr
    real = envlens("envs", "prune")  # the default: 30 days
    assert real.returncode == 0 and f"removed {key_a}" in real.stdout
    assert not paths.env_dir(key_a).exists() and (paths.env_dir(key_b) / "ready").exists()
    bad = envlens("envs", "prune", "--older-than", "-1")
    assert bad.returncode == 2 and "--older-than must be 0 or more days" in bad.stderr
