"""Concurrent, killed and cancelled builds: one build per key, nothing half-built is ever used."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest

from envlens import paths
from envlens.environment import ensure_environment
from envlens.envs.record import EnvInfo
from envlens.errors import BuildCancelledError
from envlens.resolve import resolve

pytestmark = pytest.mark.slow

BUILD = (
    "import sys\n"
    "from envlens.resolve import resolve\n"
    "from envlens.environment import ensure_environment\n"
    "info = ensure_environment(resolve(sys.argv[1]))\n"
    "print(info.reused, info.env_dir)\n"
)


def wait_for(path: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.05)


def ready_folders(cache: Path) -> list[Path]:
    return [p for p in (cache / "envs").iterdir() if paths.ready_file(p).exists()]


def test_eight_threads_build_once(
    offline_index: Path,
    slow_package: Path,
    tmp_path: Path,
    write_script,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TINYSLOW_SECONDS", "1")  # long enough for all eight to overlap
    script = write_script(tmp_path / "t.py", ["tinyslow", "tinyalpha"])
    with ThreadPoolExecutor(8) as pool:
        infos: list[EnvInfo] = list(
            pool.map(lambda _: ensure_environment(resolve(script)), range(8))
        )
    assert sorted(i.reused for i in infos) == [False] + [True] * 7
    assert len({i.env_dir for i in infos}) == 1
    assert [p.name for p in ready_folders(offline_index)] == [resolve(script).key]


def test_eight_processes_build_once(
    offline_index: Path,
    slow_package: Path,
    tmp_path: Path,
    write_script,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TINYSLOW_SECONDS", "1")
    script = write_script(tmp_path / "p.py", ["tinyslow", "tinyalpha"])
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", BUILD, str(script)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(8)
    ]
    outs = [p.communicate(timeout=240) for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, [err for _, err in outs]
    reused = sorted(out.split()[0] for out, _ in outs)
    assert reused == ["False"] + ["True"] * 7
    assert len({out.split()[1] for out, _ in outs}) == 1
    assert [p.name for p in ready_folders(offline_index)] == [resolve(script).key]


def kill_tree(pid: int) -> None:
    """SIGKILL a process and everything it started (uv, uv's build backend), as a crash would."""
    parent = psutil.Process(pid)
    # uv runs in its own session but is still our child: recursive children finds it and its backend.
    procs = [parent, *parent.children(recursive=True)]
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.send_signal(signal.SIGKILL)
    psutil.wait_procs(procs, timeout=10)


def test_sigkilled_build_is_never_used_and_the_next_one_rebuilds(
    offline_index: Path,
    slow_package: Path,
    tmp_path: Path,
    write_script,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    script = write_script(tmp_path / "k.py", ["tinyslow", "tinyalpha"])
    key = resolve(script).key
    monkeypatch.setenv("TINYSLOW_SECONDS", "120")
    child = subprocess.Popen([sys.executable, "-c", BUILD, str(script)])
    wait_for(slow_package)  # uv is now in the middle of installing
    kill_tree(child.pid)
    child.wait()
    envs = offline_index / "envs"
    assert any(p.name.startswith(f".build-{key}-") for p in envs.iterdir())  # it was mid-build
    assert ready_folders(offline_index) == []
    assert not resolve(script).built

    monkeypatch.setenv("TINYSLOW_SECONDS", "0")
    info = ensure_environment(resolve(script))
    assert not info.reused
    assert resolve(script).built
    out = subprocess.run(
        [str(info.python), "-c", "import tinyslow; print(tinyslow.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip() == "1.0"
    assert sorted(p.name for p in envs.iterdir() if p.name != ".locks") == [key]


def test_cancel_kills_uv_and_cleans_up(
    offline_index: Path,
    slow_package: Path,
    tmp_path: Path,
    write_script,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TINYSLOW_SECONDS", "120")
    script = write_script(tmp_path / "c.py", ["tinyslow"])
    cancel = threading.Event()
    outcome: list[BaseException | EnvInfo] = []

    def build() -> None:
        try:
            outcome.append(ensure_environment(resolve(script), cancel=cancel))
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=build)
    thread.start()
    wait_for(slow_package)
    started = time.monotonic()
    cancel.set()
    thread.join(30)
    assert not thread.is_alive()
    assert time.monotonic() - started < 5
    assert isinstance(outcome[0], BuildCancelledError)
    assert sorted(p.name for p in (offline_index / "envs").iterdir() if p.name != ".locks") == []
    uv_children = [p for p in psutil.Process().children(recursive=True) if p.name() == "uv"]
    assert uv_children == []


def test_a_waiter_can_be_cancelled(
    offline_index: Path,
    slow_package: Path,
    tmp_path: Path,
    write_script,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TINYSLOW_SECONDS", "120")
    script = write_script(tmp_path / "w.py", ["tinyslow"])
    builder_cancel, waiter_cancel = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def build(cancel: threading.Event) -> None:
        try:
            ensure_environment(resolve(script), cancel=cancel)
        except BaseException as exc:
            errors.append(exc)

    builder = threading.Thread(target=build, args=(builder_cancel,))
    builder.start()
    wait_for(slow_package)
    lines: list[str] = []
    waiter = threading.Thread(
        target=lambda: errors.append(
            _catch(
                lambda: ensure_environment(
                    resolve(script), cancel=waiter_cancel, progress=lines.append
                )
            )
        )
    )
    waiter.start()
    time.sleep(0.6)
    assert lines == ["Waiting for another build of this environment to finish"]
    waiter_cancel.set()
    waiter.join(10)
    builder_cancel.set()
    builder.join(10)
    assert [type(e) for e in errors] == [BuildCancelledError, BuildCancelledError]


def _catch(fn: object) -> BaseException:
    try:
        fn()  # type: ignore[operator]
    except BaseException as exc:
        return exc
    raise AssertionError("expected an error")


@pytest.mark.skipif(os.name != "posix", reason="POSIX process groups")
def test_cache_hit_takes_no_lock(offline_index: Path, tmp_path: Path, write_script) -> None:
    script = write_script(tmp_path / "h.py", ["tinyalpha"])
    ensure_environment(resolve(script))
    # Another process holds the key's lock (a build or a removal elsewhere): a hit is still instant.
    from filelock import FileLock

    from envlens.envs.record import lock_path

    with FileLock(str(lock_path(resolve(script).key))):
        info = ensure_environment(resolve(script))
    assert info.reused
