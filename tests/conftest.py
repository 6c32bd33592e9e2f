"""Shared test fixtures. Keep this file small: each fixture says what it gives.

- `wheelhouse` (session) -> Path: ipykernel (the dev group's version) and all its dependencies as
  wheels, for every Python >= 3.10 on this machine. Downloaded once per machine into
  ~/.cache/envlens-dev/wheelhouse-<hash>/ (needs PyPI the first time; instant afterwards).
- `tiny_index` (session) -> Path: tiny wheels made here, no build backend needed:
  tinyalpha 1.0 and 2.0; tinybeta 1.0 (requires tinyalpha); tiny-gamma 0.1 (module tiny_gamma);
  tinyimg 1.0 (module `timg`: import name differs from the distribution name). Every module has
  `__version__`.
- `isolated_cache` -> Path: ENVLENS_CACHE_DIR, ENVLENS_CONFIG_DIR and ENVLENS_STATE_DIR (history,
  build logs, jobs) set to fresh tmp folders; yields the cache folder (environments land in
  `<it>/envs/`).
- `offline_index` -> Path: `isolated_cache`, and uv resolves ONLY from wheelhouse + tiny_index (its
  default index is an empty local folder, UV_FIND_LINKS lists both), so nothing reaches PyPI. uv's own
  cache stays the user's (fast, hardlinks). Child processes inherit it. Yields the cache folder.
- `slow_package` -> Path (needs offline_index): adds `tinyslow` 1.0, an sdist whose in-tree backend
  sleeps $TINYSLOW_SECONDS (default 0) while uv builds it, after creating the returned file, so a
  test can catch a build in the middle. A fresh copy per test, so uv's cache never holds its wheel.
- `write_script(path, dependencies, requires_python=None)`: a `# %%` script with a PEP 723 block.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import io
import json
import os
import platform
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from filelock import FileLock

DEV_CACHE = Path(os.environ.get("ENVLENS_DEV_CACHE") or Path.home() / ".cache" / "envlens-dev")
WHEELHOUSE_PYTHONS = ("3.10", "3.11", "3.12", "3.13")


def _uv() -> str:
    import uv

    return str(uv.find_uv_bin())


# --- wheelhouse ---------------------------------------------------------------------------------


def _wheelhouse_dir() -> Path:
    ipykernel = importlib.metadata.version("ipykernel")
    tag = f"{ipykernel}|{','.join(WHEELHOUSE_PYTHONS)}|{sys.platform}|{platform.machine()}"
    return DEV_CACHE / f"wheelhouse-{hashlib.sha256(tag.encode()).hexdigest()[:12]}"


def ensure_wheelhouse() -> Path:
    """Download once (under a lock, so concurrent test runs share one download)."""
    target = _wheelhouse_dir()
    done = target / ".complete"
    if done.exists():
        return target
    DEV_CACHE.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if done.exists():
            return target
        target.mkdir(exist_ok=True)
        # The dev group's ipykernel, or the newest older one a Python supports (7.x needs >= 3.11).
        pin = f"ipykernel<={importlib.metadata.version('ipykernel')}"
        for version in WHEELHOUSE_PYTHONS:
            # pip download (run by uv, so no pip needs to be installed) fetches wheels for a Python
            # other than the one running it.
            proc = subprocess.run(
                [
                    _uv(),
                    "tool",
                    "run",
                    "--from",
                    "pip",
                    "pip",
                    "download",
                    "--quiet",
                    "--disable-pip-version-check",
                    "--only-binary=:all:",
                    "--python-version",
                    version,
                    "--dest",
                    str(target),
                    pin,
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            if proc.returncode != 0:
                raise RuntimeError(
                    f"downloading the test wheelhouse failed:\n{proc.stdout}{proc.stderr}"
                )
        done.write_text("ok\n")
    return target


@pytest.fixture(scope="session")
def wheelhouse() -> Path:
    return ensure_wheelhouse()


# --- tiny index ---------------------------------------------------------------------------------

_ZIP_DATE = (2020, 1, 1, 0, 0, 0)  # fixed, so the same wheel has the same bytes every run


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def make_wheel(
    folder: Path, name: str, version: str, modules: dict[str, str], requires: Sequence[str] = ()
) -> Path:
    """Write a pure-Python wheel: `modules` maps a module name to its source."""
    dist = name.replace("-", "_")
    info = f"{dist}-{version}.dist-info"
    meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    meta += "".join(f"Requires-Dist: {r}\n" for r in requires)
    files = {f"{m}.py": src for m, src in modules.items()}
    files[f"{info}/METADATA"] = meta
    files[f"{info}/WHEEL"] = (
        "Wheel-Version: 1.0\nGenerator: envlens-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    files[f"{info}/top_level.txt"] = "".join(f"{m}\n" for m in modules)
    path = folder / f"{dist}-{version}-py3-none-any.whl"
    record = [_record_line(n, t.encode()) for n, t in files.items()] + [f"{info}/RECORD,,"]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for n, text in [*files.items(), (f"{info}/RECORD", "\n".join(record) + "\n")]:
            zf.writestr(zipfile.ZipInfo(n, _ZIP_DATE), text)
    return path


# An in-tree PEP 517 backend that sleeps while building (for kill / cancel tests).
_SLOW_BACKEND = """
import base64, hashlib, os, time, zipfile

def get_requires_for_build_wheel(config_settings=None):
    return []

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    started = os.environ.get("TINYSLOW_STARTED")
    if started:
        open(started, "w").close()
    time.sleep(float(os.environ.get("TINYSLOW_SECONDS") or 0))
    info = "tinyslow-1.0.dist-info"
    files = {"tinyslow.py": "__version__ = '1.0'\\n",
             info + "/METADATA": "Metadata-Version: 2.1\\nName: tinyslow\\nVersion: 1.0\\n",
             info + "/WHEEL": "Wheel-Version: 1.0\\nGenerator: t\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"}
    def line(n, t):
        d = base64.urlsafe_b64encode(hashlib.sha256(t.encode()).digest()).rstrip(b"=").decode()
        return f"{n},sha256={d},{len(t.encode())}"
    files[info + "/RECORD"] = "\\n".join([line(n, t) for n, t in files.items()] + [info + "/RECORD,,"]) + "\\n"
    name = "tinyslow-1.0-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as zf:
        for n, t in files.items():
            zf.writestr(n, t)
    return name
"""


def make_slow_sdist(folder: Path) -> Path:
    files = {
        "pyproject.toml": '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n\n'
        '[project]\nname = "tinyslow"\nversion = "1.0"\n',
        "PKG-INFO": "Metadata-Version: 2.2\nName: tinyslow\nVersion: 1.0\n",
        "backend.py": _SLOW_BACKEND,
        "tinyslow.py": "__version__ = '1.0'\n",
    }
    path = folder / "tinyslow-1.0.tar.gz"
    with tarfile.open(path, "w:gz") as tf:
        for n, text in files.items():
            data = text.encode()
            ti = tarfile.TarInfo(f"tinyslow-1.0/{n}")
            ti.size, ti.mtime = len(data), 1577836800
            tf.addfile(ti, io.BytesIO(data))
    return path


@pytest.fixture(scope="session")
def tiny_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tiny-index")
    make_wheel(folder, "tinyalpha", "1.0", {"tinyalpha": "__version__ = '1.0'\n"})
    make_wheel(folder, "tinyalpha", "2.0", {"tinyalpha": "__version__ = '2.0'\n"})
    make_wheel(
        folder,
        "tinybeta",
        "1.0",
        {"tinybeta": "import tinyalpha\n__version__ = '1.0'\n"},
        requires=["tinyalpha"],
    )
    make_wheel(folder, "tiny-gamma", "0.1", {"tiny_gamma": "__version__ = '0.1'\n"})
    make_wheel(folder, "tinyimg", "1.0", {"timg": "__version__ = '1.0'\n"})
    return folder


# --- environment -------------------------------------------------------------------------------


@pytest.fixture
def isolated_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    cache = tmp_path_factory.mktemp("envlens-cache")
    monkeypatch.setenv("ENVLENS_CACHE_DIR", str(cache))
    monkeypatch.setenv("ENVLENS_CONFIG_DIR", str(tmp_path_factory.mktemp("envlens-config")))
    monkeypatch.setenv("ENVLENS_STATE_DIR", str(tmp_path_factory.mktemp("envlens-state")))
    yield cache


@pytest.fixture
def approved_tiny_names(isolated_cache: Path) -> Iterator[None]:
    """The tiny test packages as names this user approved before (as after a first `add -y`):
    `add` then treats them as the user's own instead of asking about names PyPI does not have."""
    config = Path(os.environ["ENVLENS_CONFIG_DIR"])
    (config / "allowlist.json").write_text(
        json.dumps({"version": 1, "packages": ["tinyalpha", "tinybeta", "tiny-gamma"]}),
        encoding="utf-8",
    )
    yield


@pytest.fixture
def offline_index(
    isolated_cache: Path,
    wheelhouse: Path,
    tiny_index: Path,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Path]:
    # uv 0.13 has no UV_NO_INDEX; an empty local folder as the default index does the same.
    empty = tmp_path_factory.mktemp("empty-index")
    monkeypatch.setenv("UV_DEFAULT_INDEX", empty.as_uri())
    monkeypatch.delenv("UV_INDEX_URL", raising=False)
    monkeypatch.delenv("UV_EXTRA_INDEX_URL", raising=False)
    monkeypatch.delenv("UV_INDEX", raising=False)
    monkeypatch.setenv("UV_FIND_LINKS", f"{wheelhouse},{tiny_index}")
    yield isolated_cache


@pytest.fixture(scope="session")
def wheel_maker() -> object:
    """`make_wheel`, for test modules (a subfolder's conftest shadows this module's name)."""
    return make_wheel


@pytest.fixture(scope="session")
def slow_sdist_maker() -> object:
    """`make_slow_sdist` for fixtures in subfolders (their own conftest shadows this module's name)."""
    return make_slow_sdist


@pytest.fixture
def slow_package(
    offline_index: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    folder = tmp_path_factory.mktemp("slow-index")
    make_slow_sdist(folder)
    started = folder / "build-started"
    monkeypatch.setenv("UV_FIND_LINKS", f"{folder},{os.environ['UV_FIND_LINKS']}")
    monkeypatch.setenv("TINYSLOW_STARTED", str(started))
    return started


def write_script(
    path: Path,
    dependencies: Sequence[str],
    requires_python: str | None = None,
    body: str = "import sys\n",
) -> Path:
    lines = ["# /// script"]
    if requires_python:
        lines.append(f'# requires-python = "{requires_python}"')
    lines.append("# dependencies = [" + ", ".join(f'"{d}"' for d in dependencies) + "]")
    lines.append("# ///")
    path.write_text("\n".join(lines) + "\n\n# %%\n" + body, encoding="utf-8")
    return path


@pytest.fixture(name="write_script")
def write_script_fixture() -> object:
    return write_script


@pytest.fixture(scope="module")
def lsp_env(
    wheelhouse: Path, tiny_index: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """The environment of a real `envlens serve` under test: its own cache and config folders, and
    uv reading only the wheelhouse and the tiny index (offline, like `offline_index`)."""
    env = dict(os.environ)
    for name in ("UV_INDEX_URL", "UV_EXTRA_INDEX_URL", "UV_INDEX", "VIRTUAL_ENV"):
        env.pop(name, None)
    env["ENVLENS_CACHE_DIR"] = str(tmp_path_factory.mktemp("lsp-cache"))
    env["ENVLENS_CONFIG_DIR"] = str(tmp_path_factory.mktemp("lsp-config"))
    env["ENVLENS_STATE_DIR"] = str(tmp_path_factory.mktemp("lsp-state"))
    env["UV_DEFAULT_INDEX"] = tmp_path_factory.mktemp("empty-index").as_uri()
    env["UV_FIND_LINKS"] = f"{wheelhouse},{tiny_index}"
    return env
