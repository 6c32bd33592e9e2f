"""Deno notebooks: Deno acquired from PyPI's `deno` distribution (the user asks for it with
`envlens install`), a real `deno jupyter --kernel` run by `envlens run`, deno.json above the notebook.

Uses PyPI the first time on a machine (the `deno` wheel, about 40 MB); uv's cache serves it after.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock

from envlens.envs.tools import DENO_VERSION, acquire_deno
from envlens.errors import ToolUnavailableError
from envlens.kernels.deno import deno_config, find_deno
from notebooks import code_cells

pytestmark = [pytest.mark.slow, pytest.mark.pypi]

DEV_CACHE = Path(os.environ.get("ENVLENS_DEV_CACHE") or Path.home() / ".cache" / "envlens-dev")


@pytest.fixture(scope="session")
def shared_tools() -> Path:
    """A tool folder with Deno acquired once per machine (as envlens acquires it)."""
    folder = DEV_CACHE / "tools"
    folder.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder) + ".lock"):
        old = os.environ.get("ENVLENS_TOOLS_DIR")
        os.environ["ENVLENS_TOOLS_DIR"] = str(folder)
        try:
            acquire_deno()
        finally:
            if old is None:
                os.environ.pop("ENVLENS_TOOLS_DIR", None)
            else:
                os.environ["ENVLENS_TOOLS_DIR"] = old
    return folder


@pytest.fixture
def no_deno(
    isolated_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """No Deno anywhere envlens looks: not on PATH, no ~/.deno, no ENVLENS_DENO, an empty tool folder."""
    monkeypatch.delenv("ENVLENS_DENO", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    path = [p for p in os.environ["PATH"].split(os.pathsep) if not (Path(p) / "deno").exists()]
    monkeypatch.setenv("PATH", os.pathsep.join(path))
    tools = tmp_path / "tools"
    monkeypatch.setenv("ENVLENS_TOOLS_DIR", str(tools))
    assert find_deno() is None
    yield tools


def envlens(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "envlens", *args],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=600,
    )


def deno_notebook(path: Path, cells: list[str]) -> Path:
    nb: dict[str, Any] = {
        "cells": code_cells(cells),
        "metadata": {
            "kernelspec": {"display_name": "Deno", "language": "typescript", "name": "deno"},
            "language_info": {"name": "typescript"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb, indent=1) + "\n")
    return path


def outputs(path: Path) -> list[list[dict[str, Any]]]:
    return [c["outputs"] for c in json.loads(path.read_text())["cells"]]


def test_missing_deno_is_acquired_from_pypi_on_request_then_the_notebook_runs(
    no_deno: Path, shared_tools: Path, tmp_path: Path
) -> None:
    nb = deno_notebook(tmp_path / "ts.ipynb", ["console.log('hi from deno')"])
    # Not installed: one line saying how to get it; nothing downloaded without being asked.
    proc = envlens("run", str(nb))
    assert proc.returncode == 1
    errors = [ln for ln in proc.stderr.splitlines() if "error" in ln]
    assert len(errors) == 1 and "Deno is not installed" in errors[0], proc.stderr
    assert f"envlens install {nb.name}" in errors[0]
    assert not no_deno.exists()

    proc = envlens("install", str(nb))
    assert proc.returncode == 0, proc.stderr
    assert f"Downloading Deno {DENO_VERSION} from PyPI" in proc.stderr
    exe = no_deno / f"deno-{DENO_VERSION}" / "bin" / "deno"
    assert exe.is_file() and str(exe) in proc.stdout
    assert find_deno() == exe
    assert not list(no_deno.glob(".deno-*-*"))  # no leftover of the download

    out = tmp_path / "ts.out.ipynb"
    proc = envlens("run", str(nb), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert outputs(out)[0] == [
        {"output_type": "stream", "name": "stdout", "text": "hi from deno\n"}
    ]

    again = envlens("install", str(nb))  # acquired once: found, not downloaded again
    assert again.returncode == 0 and "Downloading" not in again.stderr


def test_deno_that_cannot_be_acquired_is_one_line_and_leaves_nothing(
    no_deno: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "empty-uv-cache"))
    monkeypatch.setenv("UV_DEFAULT_INDEX", "http://127.0.0.1:9/simple")
    monkeypatch.delenv("UV_INDEX_URL", raising=False)
    monkeypatch.delenv("UV_FIND_LINKS", raising=False)
    with pytest.raises(ToolUnavailableError) as exc:
        acquire_deno()
    assert f"Deno {DENO_VERSION} could not be downloaded from PyPI" in exc.value.message
    assert "\n" not in exc.value.one_line()
    assert find_deno() is None
    assert [p.name for p in no_deno.iterdir() if not p.name.endswith(".lock")] == []

    nb = deno_notebook(tmp_path / "ts.ipynb", ["1"])
    proc = envlens("install", str(nb))
    assert proc.returncode == 1
    errors = [ln for ln in proc.stderr.splitlines() if "error" in ln]
    assert len(errors) == 1 and "could not be downloaded" in errors[0], proc.stderr


def test_deno_cells_run_with_outputs_rich_display_errors_and_the_deno_json_above(
    isolated_cache: Path, shared_tools: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENVLENS_TOOLS_DIR", str(shared_tools))
    monkeypatch.delenv("ENVLENS_DENO", raising=False)
    project = tmp_path / "proj"
    (project / "lib").mkdir(parents=True)
    # An import map in the project's deno.json, one folder above the notebook.
    (project / "deno.jsonc").write_text(
        '{\n  // our modules\n  "imports": {"@lib/": "./lib/"}\n}\n'
    )
    (project / "lib" / "greet.ts").write_text(
        "export function greet(name: string): string { return `hello ${name}`; }\n"
    )
    nb = deno_notebook(
        project / "notebooks" / "analysis.ipynb",
        [
            "console.log('printed'); console.error('warned')",
            "const answer: number = 6 * 7;\nanswer",
            'import { greet } from "@lib/greet.ts";\ngreet("envlens")',
            "Deno.jupyter.html`<b>bold</b>`",
            "Deno.cwd()",
            "throw new Error('boom')",
            "console.log('never runs')",
        ],
    )
    assert deno_config(nb) == project / "deno.jsonc"
    out = tmp_path / "out.ipynb"
    proc = envlens("run", str(nb), "-o", str(out))
    assert proc.returncode == 1  # the failing cell
    errors = [ln for ln in proc.stderr.splitlines() if "error:" in ln]
    assert len(errors) == 1 and "cell 6" in errors[0] and "Error: boom" in errors[0]
    cells = outputs(out)
    streams = {o["name"]: o["text"] for o in cells[0]}
    assert streams == {"stdout": "printed\n", "stderr": "warned\n"}
    assert "42" in cells[1][0]["data"]["text/plain"]
    assert "hello envlens" in cells[2][0]["data"]["text/plain"]
    assert cells[3][0]["data"] == {"text/html": "<b>bold</b>"}
    assert str(project / "notebooks") in cells[4][0]["data"]["text/plain"]  # the notebook's folder
    assert cells[5][0]["output_type"] == "error" and cells[5][0]["evalue"] == "boom"
    assert cells[6] == []
