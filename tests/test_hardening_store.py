"""The store under a failing declaration and after clean-up: one failing build for all who wait on
it, and no lock file outliving its environment."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from envlens.environment import ensure_environment
from envlens.envs.store import list_environments, remove_environment
from envlens.errors import EnvlensError
from envlens.resolve import resolve

pytestmark = pytest.mark.slow

# An sdist whose in-tree backend counts its builds in $TINYFAIL_LOG, waits, and fails: uv has to
# build it to install it, so every envlens build of a declaration naming it is one line in the log.
_FAILING_BACKEND = """
import os, time

def get_requires_for_build_wheel(config_settings=None):
    return []

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    with open(os.environ["TINYFAIL_LOG"], "a") as log:
        log.write(f"{os.getpid()}\\n")
    time.sleep(float(os.environ.get("TINYFAIL_SECONDS") or 0))
    raise RuntimeError("tinyfail cannot be built on purpose")
"""


def make_failing_sdist(folder: Path) -> None:
    files = {
        "pyproject.toml": '[build-system]\nrequires = []\nbuild-backend = "backend"\n'
        'backend-path = ["."]\n\n[project]\nname = "tinyfail"\nversion = "1.0"\n',
        "PKG-INFO": "Metadata-Version: 2.2\nName: tinyfail\nVersion: 1.0\n",
        "backend.py": _FAILING_BACKEND,
    }
    with tarfile.open(folder / "tinyfail-1.0.tar.gz", "w:gz") as tf:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"tinyfail-1.0/{name}")
            info.size, info.mtime = len(data), 1577836800
            tf.addfile(info, io.BytesIO(data))


@pytest.fixture
def failing_package(
    offline_index: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """`tinyfail` on the offline index; returns the log its backend appends one line to per build."""
    folder = tmp_path_factory.mktemp("fail-index")
    make_failing_sdist(folder)
    monkeypatch.setenv("UV_FIND_LINKS", f"{folder},{os.environ['UV_FIND_LINKS']}")
    log = folder / "builds.log"
    log.touch()
    monkeypatch.setenv("TINYFAIL_LOG", str(log))
    monkeypatch.setenv("TINYFAIL_SECONDS", "2")  # long enough for every waiter to be waiting
    return log


def builds(log: Path) -> int:
    return len(log.read_text().splitlines())


def script(path: Path, deps: list[str]) -> Path:
    listed = ", ".join(f'"{d}"' for d in deps)
    path.write_text(
        f"# /// script\n# dependencies = [{listed}]\n# ///\n\n# %%\nprint(1)\n", encoding="utf-8"
    )
    return path


def backend_runs_per_build(log: Path, tmp_path: Path) -> int:
    """What one failing build costs in backend runs (uv may try more than once), measured alone."""
    alone = script(tmp_path / "alone.py", ["tinyfail", "tiny-gamma"])
    with pytest.raises(EnvlensError):
        ensure_environment(resolve(alone))
    runs = builds(log)
    assert runs >= 1
    return runs


def test_eight_threads_waiting_on_a_failing_build_get_its_error_from_one_build(
    failing_package: Path, tmp_path: Path
) -> None:
    per_build = backend_runs_per_build(failing_package, tmp_path)

    shared = script(tmp_path / "shared.py", ["tinyfail"])
    res = resolve(shared)

    def attempt(_: int) -> str:
        try:
            ensure_environment(res)
        except EnvlensError as exc:
            return f"{type(exc).__name__}: {exc.one_line()}"
        return "built?!"

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(attempt, range(8)))
    assert builds(failing_package) == 2 * per_build  # one build for the eight, not eight
    assert len(set(outcomes)) == 1, outcomes  # each waiter got the same error
    assert "tinyfail" in outcomes[0]

    # A later request is not answered from memory: it builds again.
    with pytest.raises(EnvlensError):
        ensure_environment(res)
    assert builds(failing_package) == 3 * per_build


def test_eight_processes_waiting_on_a_failing_build_share_one_build(
    failing_package: Path, tmp_path: Path
) -> None:
    per_build = backend_runs_per_build(failing_package, tmp_path)
    shared = script(tmp_path / "procs.py", ["tinyfail"])
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "envlens", "install", "--trust", str(shared)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(8)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [1] * 8, [err for _, err in outs]
    errors = {[line for line in err.splitlines() if "error:" in line][-1] for _, err in outs}
    assert len(errors) == 1, errors
    # Started together, all eight are waiting long before the first build (2 s) fails.
    assert builds(failing_package) == 2 * per_build, failing_package.read_text()


def test_lock_files_go_with_their_environments(
    offline_index: Path, tmp_path: Path, failing_package: Path
) -> None:
    locks = offline_index / "envs" / ".locks"
    keys = []
    for deps in (["tinyalpha"], ["tinybeta"], ["tiny-gamma"]):
        keys.append(ensure_environment(resolve(script(tmp_path / f"{deps[0]}.py", deps))).key)
    with pytest.raises(EnvlensError):  # a failed build leaves no environment, so no lock file
        ensure_environment(resolve(script(tmp_path / "bad.py", ["tinyfail"])))
    assert sorted(p.name for p in locks.glob("*.lock")) == sorted(f"{k}.lock" for k in keys)
    for record in list_environments():
        assert remove_environment(record.key)
    assert list(locks.glob("*.lock")) == []
    assert list_environments() == []


def test_removing_a_lock_file_never_lets_two_builds_in(offline_index: Path, tmp_path: Path) -> None:
    """Builds and removals of one key racing each other: every build still runs alone, and the
    environment is whole afterwards (a waiter that locked a removed file tries again)."""
    res = resolve(script(tmp_path / "race.py", ["tinyalpha"]))

    def build_then_remove(i: int) -> bool:
        ensure_environment(res)
        if i % 2:
            remove_environment(res.key)
        return True

    with ThreadPoolExecutor(6) as pool:
        assert all(pool.map(build_then_remove, range(12)))
    info = ensure_environment(res)
    proc = subprocess.run(
        [str(info.python), "-c", "import tinyalpha; print(tinyalpha.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert proc.stdout.strip() == "2.0"
