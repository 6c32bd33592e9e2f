"""Parity with uv: a PEP 723 block gets the same packages under `envlens run` as under
`uv run --script`, unlocked and locked, as a script and as a juv-style notebook.

One row per setting uv honours in a script block. Each row is run by uv itself and by envlens; the
test asserts both installed the same versions, and the versions the setting implies (so a row where
both sides ignored the setting fails too). Local rows use wheels, a flat index, a simple index, a
path project and a git repository made here; the `pypi` rows use PyPI itself.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

# An in-tree PEP 517/660 backend: the path project builds with no download at all.
_BACKEND = """
import base64, hashlib, os, zipfile

NAME, VERSION = "localpkg", "0.5"

def get_requires_for_build_wheel(config_settings=None):
    return []

get_requires_for_build_editable = get_requires_for_build_wheel

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    info = f"{NAME}-{VERSION}.dist-info"
    here = os.path.dirname(os.path.abspath(__file__))
    files = {f"{NAME}.py": open(os.path.join(here, f"{NAME}.py")).read(),
             info + "/METADATA": f"Metadata-Version: 2.1\\nName: {NAME}\\nVersion: {VERSION}\\n",
             info + "/WHEEL": "Wheel-Version: 1.0\\nGenerator: t\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"}
    def line(n, t):
        d = base64.urlsafe_b64encode(hashlib.sha256(t.encode()).digest()).rstrip(b"=").decode()
        return f"{n},sha256={d},{len(t.encode())}"
    files[info + "/RECORD"] = "\\n".join([line(n, t) for n, t in files.items()] + [info + "/RECORD,,"]) + "\\n"
    name = f"{NAME}-{VERSION}-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as zf:
        for n, t in files.items():
            zf.writestr(n, t)
    return name

build_editable = build_wheel
"""


def _local_project(folder: Path) -> Path:
    folder.mkdir()
    (folder / "pyproject.toml").write_text(
        '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n\n'
        '[project]\nname = "localpkg"\nversion = "0.5"\n'
    )
    (folder / "backend.py").write_text(_BACKEND)
    (folder / "localpkg.py").write_text("__version__ = '0.5'\n")
    return folder


def _git_repo(source: Path, dest: Path) -> Path:
    shutil.copytree(source, dest)
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.invalid",
    }
    for args in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-q", "-m", "v0.5"]):
        subprocess.run(["git", *args], cwd=dest, check=True, env=env)
    return dest


def _simple_index(root: Path, wheels: list[Path]) -> Path:
    """A PEP 503 simple index in a folder (uv reads file:// indexes)."""
    for whl in wheels:
        name = whl.name.split("-")[0].replace("_", "-")
        d = root / name
        d.mkdir(parents=True, exist_ok=True)
        shutil.copy(whl, d / whl.name)
        digest = hashlib.sha256(whl.read_bytes()).hexdigest()
        (d / "index.html").write_text(
            f'<html><body><a href="{whl.name}#sha256={digest}">{whl.name}</a></body></html>\n'
        )
    names = sorted(p.name for p in root.iterdir() if p.is_dir())
    (root / "index.html").write_text(
        "<html><body>" + "".join(f'<a href="{n}/">{n}</a>' for n in names) + "</body></html>\n"
    )
    return root


@pytest.fixture
def wheels_server(tmp_path: Path) -> Iterator[str]:
    """An HTTP server on localhost for wheels/ (uv takes URL sources over http, not file://)."""
    folder = tmp_path / "wheels"
    folder.mkdir(exist_ok=True)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def assets(
    request: pytest.FixtureRequest, tmp_path: Path, wheel_maker: Any, wheels_server: str
) -> Path:
    """Beside the scripts: wheels/ (find-links), flat/ (a flat index), simple/ (a simple index),
    localpkg/ (a path project) and localgit/ (the same as a git repository). Local rows see only
    the offline index (uv never reaches PyPI); `pypi` rows see PyPI itself."""
    pypi = request.node.get_closest_marker("pypi") is not None
    request.getfixturevalue("isolated_cache" if pypi else "offline_index")
    wheels = tmp_path / "wheels"
    (tmp_path / "server-url").write_text(wheels_server)
    for v in ("1.0", "2.0", "3.0b1"):
        wheel_maker(wheels, "tinydelta", v, {"tinydelta": f"__version__ = '{v}'\n"})
    flat = tmp_path / "flat"
    flat.mkdir()
    wheel_maker(flat, "tinyzeta", "1.0", {"tinyzeta": "__version__ = '1.0'\n"})
    built = tmp_path / "built"
    built.mkdir()
    eps = wheel_maker(built, "tinyeps", "1.0", {"tinyeps": "__version__ = '1.0'\n"})
    _simple_index(tmp_path / "simple", [eps])
    project = _local_project(tmp_path / "localpkg")
    _git_repo(project, tmp_path / "localgit")
    return tmp_path


@dataclass(frozen=True)
class Row:
    id: str
    dependencies: tuple[str, ...]
    settings: str  # the [tool.uv] table's body (TOML), "" for none
    expect: dict[str, str]  # distribution -> version both sides must install
    fails: str | None = None  # both sides must fail, uv's error naming this
    marks: tuple[Any, ...] = field(default_factory=tuple)


def _rows() -> list[Row]:
    return [
        Row("find-links", ("tinydelta",), 'find-links = ["./wheels"]', {"tinydelta": "2.0"}),
        Row(
            "prerelease",
            ("tinydelta",),
            'find-links = ["./wheels"]\nprerelease = "allow"',
            {"tinydelta": "3.0b1"},
        ),
        Row(
            "resolution",
            ("tinyalpha>=1.0",),
            'resolution = "lowest-direct"',
            {"tinyalpha": "1.0"},
        ),
        Row(
            "constraint-dependencies",
            ("tinybeta",),
            'constraint-dependencies = ["tinyalpha<2"]',
            {"tinyalpha": "1.0", "tinybeta": "1.0"},
        ),
        Row(
            "override-dependencies",
            ("tinyalpha>=2",),
            'override-dependencies = ["tinyalpha==1.0"]',
            {"tinyalpha": "1.0"},
        ),
        Row(
            "sources-path",
            ("localpkg",),
            '[tool.uv.sources]\nlocalpkg = { path = "./localpkg" }',
            {"localpkg": "0.5"},
        ),
        Row(
            "sources-editable",
            ("localpkg",),
            '[tool.uv.sources]\nlocalpkg = { path = "./localpkg", editable = true }',
            {"localpkg": "0.5"},
        ),
        Row(
            "sources-git",
            ("localpkg",),
            '[tool.uv.sources]\nlocalpkg = { git = "{git}" }',
            {"localpkg": "0.5"},
        ),
        Row(
            "sources-url",
            ("tinydelta",),
            '[tool.uv.sources]\ntinydelta = { url = "{wheels_url}/tinydelta-1.0-py3-none-any.whl" }',
            {"tinydelta": "1.0"},
        ),
        Row(
            "index-explicit-flat",
            ("tinyzeta",),
            '[[tool.uv.index]]\nname = "local"\nurl = "./flat"\nformat = "flat"\nexplicit = true\n'
            '[tool.uv.sources]\ntinyzeta = { index = "local" }',
            {"tinyzeta": "1.0"},
        ),
        Row(
            "extra-index-url",
            ("tinyeps",),
            'extra-index-url = ["{simple_uri}"]',
            {"tinyeps": "1.0"},
        ),
        Row(
            "no-build-package",
            ("localpkg",),
            'no-build-package = ["localpkg"]\n[tool.uv.sources]\nlocalpkg = { path = "./localpkg" }',
            {},
            fails="localpkg",
        ),
        Row(
            "exclude-newer",
            ("six",),
            'exclude-newer = "2020-01-01T00:00:00Z"',
            {"six": "1.13.0"},
            marks=(pytest.mark.pypi,),
        ),
        Row(
            "constraint-pypi",
            ("six",),
            'constraint-dependencies = ["six<1.16"]',
            {"six": "1.15.0"},
            marks=(pytest.mark.pypi,),
        ),
        Row(
            "override-pypi",
            ("six",),
            'override-dependencies = ["six==1.14.0"]',
            {"six": "1.14.0"},
            marks=(pytest.mark.pypi,),
        ),
    ]


ROWS = [pytest.param(r, id=r.id, marks=r.marks) for r in _rows()]


def _block(row: Row, folder: Path) -> str:
    settings = (
        row.settings.replace("{git}", f"git+{(folder / 'localgit').as_uri()}")
        .replace("{wheels_url}", (folder / "server-url").read_text())
        .replace("{simple_uri}", (folder / "simple").as_uri())
    )
    lines = ["dependencies = [" + ", ".join(json.dumps(d) for d in row.dependencies) + "]"]
    if settings:
        if not settings.startswith("[tool.uv.sources]") and not settings.startswith("[["):
            lines.append("[tool.uv]")
        lines += settings.splitlines()
    return "# /// script\n" + "".join(f"# {x}\n" for x in lines) + "# ///\n"


def _probe(names: list[str]) -> str:
    """Code printing the installed version of each distribution, as one JSON line."""
    return (
        "import importlib.metadata as m, json\n"
        f"print('VERSIONS ' + json.dumps({{n: m.version(n) for n in {names!r}}}))\n"
    )


def _versions(text: str) -> dict[str, str]:
    for line in text.splitlines():
        if line.startswith("VERSIONS "):
            got = json.loads(line[len("VERSIONS ") :])
            assert isinstance(got, dict)
            return got
    raise AssertionError(f"no versions printed:\n{text}")


def _env() -> dict[str, str]:
    return {**os.environ, "ENVLENS_TRUST": "1"}


def uv_run(script: Path, *, locked: bool = False) -> subprocess.CompletedProcess[str]:
    import uv

    args = [uv.find_uv_bin(), "run", "--no-python-downloads", "--script", str(script)]
    if locked:
        args.insert(2, "--locked")
    return subprocess.run(
        args, capture_output=True, text=True, cwd=script.parent, env=_env(), timeout=300
    )


def envlens(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "envlens", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=_env(),
        timeout=300,
    )


def envlens_run(
    path: Path, *, locked: bool = False
) -> tuple[subprocess.CompletedProcess[str], str]:
    out = path.with_name(path.stem + ".out.ipynb")
    args = ["run", str(path), "-o", str(out)]
    if locked:
        args.append("--locked")
    proc = envlens(*args, cwd=path.parent)
    text = ""
    if out.exists():
        for cell in json.loads(out.read_text())["cells"]:
            for o in cell.get("outputs", []):
                text += "".join(o.get("text", ""))
    return proc, text


def _notebook(path: Path, block: str, body: str) -> Path:
    def cell(src: str, i: int) -> dict[str, Any]:
        return {
            "cell_type": "code",
            "execution_count": None,
            "id": f"c{i}",
            "metadata": {},
            "outputs": [],
            "source": src.splitlines(keepends=True),
        }

    data = {
        "cells": [cell(block, 0), cell(body, 1)],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(data, indent=1) + "\n")
    return path


def _check(row: Row, uv_proc: subprocess.CompletedProcess[str], ours: tuple[Any, str]) -> None:
    proc, text = ours
    if row.fails:
        assert uv_proc.returncode != 0, uv_proc.stdout
        assert proc.returncode != 0, text
        assert row.fails in uv_proc.stderr and row.fails in proc.stderr, proc.stderr
        return
    assert uv_proc.returncode == 0, uv_proc.stderr
    assert proc.returncode == 0, proc.stderr
    theirs = _versions(uv_proc.stdout)
    assert _versions(text) == theirs
    assert theirs == row.expect


@pytest.mark.parametrize("row", ROWS)
def test_script_parity(row: Row, assets: Path) -> None:
    names = sorted(row.expect) or ["ipykernel"]
    script = assets / "row.py"
    script.write_text(_block(row, assets) + "\n# %%\n" + _probe(names))
    _check(row, uv_run(script), envlens_run(script))
    if row.fails:
        return
    # Locked: envlens writes uv's lock beside the script; uv itself accepts it (--locked) and both
    # sides install exactly what it holds.
    lock = envlens("lock", str(script), cwd=assets)
    assert lock.returncode == 0, lock.stderr
    assert (assets / "row.py.lock").exists()
    _check(row, uv_run(script, locked=True), envlens_run(script, locked=True))


@pytest.mark.parametrize("row", ROWS)
def test_notebook_parity(row: Row, assets: Path) -> None:
    """The same block in a notebook's first cell (juv's format), against uv on the same block."""
    names = sorted(row.expect) or ["ipykernel"]
    block = _block(row, assets)
    script = assets / "twin.py"
    script.write_text(block + "\n" + _probe(names))
    nb = _notebook(assets / "row.ipynb", block, _probe(names))
    _check(row, uv_run(script), envlens_run(nb))
    if row.fails:
        return
    lock = envlens("lock", str(nb), cwd=assets)
    assert lock.returncode == 0, lock.stderr
    lock_text = json.loads(nb.read_text())["metadata"]["uv.lock"]
    # uv accepts the notebook's lock for the notebook's (pinned) block, as juv hands it over.
    cell = "".join(json.loads(nb.read_text())["cells"][0]["source"])
    script.write_text(cell + "\n" + _probe(names))
    (assets / "twin.py.lock").write_text(lock_text)
    _check(row, uv_run(script, locked=True), envlens_run(nb, locked=True))


def test_every_tool_uv_setting_of_the_issue_has_a_row() -> None:
    """The definition of done: each setting the fidelity issue lists is covered by a row."""
    wanted = {
        "exclude-newer",
        "constraint-dependencies",
        "override-dependencies",
        "sources-path",
        "sources-editable",
        "sources-git",
        "sources-url",
        "index-explicit-flat",
        "extra-index-url",
        "find-links",
        "prerelease",
        "resolution",
        "no-build-package",
    }
    assert wanted <= {r.id for r in _rows()}
