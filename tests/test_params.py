"""Papermill-style parameters: `envlens run -p NAME=VALUE` with real kernels, and the injection rules."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from envlens.errors import BadInputError
from envlens.kernels.cells import split_cells
from envlens.params import assigned_names, inject, parse_params, parse_value

SCRIPT_BODY = """\
# %% tags=["parameters"]
alpha = 0.1
dataset = "iris"
epochs: int = 3

# %%
import tinyalpha
print(f"alpha={alpha!r} dataset={dataset!r} epochs={epochs!r} tinyalpha={tinyalpha.__version__}")
"""


def envlens(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "envlens", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "ENVLENS_TRUST": "1"},
        timeout=300,
    )


def code(source: str, tags: list[str] | None = None) -> dict[str, Any]:
    return {
        "cell_type": "code",
        "execution_count": None,
        "id": f"c{abs(hash(source)) % 10**6}",
        "metadata": {"tags": tags} if tags else {},
        "outputs": [],
        "source": source.splitlines(keepends=True),
    }


def write_notebook(path: Path, cells: list[dict[str, Any]]) -> Path:
    data = {
        "cells": cells,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    return path


def outputs_text(nb: dict[str, Any]) -> str:
    return "".join(
        "".join(o.get("text", ""))
        for c in nb["cells"]
        if c["cell_type"] == "code"
        for o in c["outputs"]
    )


# --- rules --------------------------------------------------------------------------------------


def test_values_are_literals_else_strings() -> None:
    assert parse_params(["a=0.5", "b=cifar", "c=True", "d=[1, 2]", "e='7'", "f=", "g=a=b"]) == {
        "a": 0.5,
        "b": "cifar",
        "c": True,
        "d": [1, 2],
        "e": "7",
        "f": "",
        "g": "a=b",
    }
    assert parse_value(" 3 ") == 3


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (["alpha"], "has no value"),
        (["1x=2"], "is not a Python variable name"),
        (["a=1", "a=2"], "given twice"),
    ],
)
def test_malformed_parameters_are_bad_input(items: list[str], message: str) -> None:
    with pytest.raises(BadInputError, match=message):
        parse_params(items)


def test_injected_after_the_parameters_cell_or_before_the_first_code() -> None:
    decl = code("# /// script\n# dependencies = []\n# ///\n")
    cells = [decl, code("x = 1", ["parameters"]), code("print(x)")]
    done = inject(cells, {"x": 2}, ids=True)
    assert done.index == 2 and not done.replaced
    assert cells[2]["metadata"]["tags"] == ["injected-parameters"]
    assert "".join(cells[2]["source"]) == "# Parameters\nx = 2\n"
    # a re-run of an output notebook replaces its injected cell, as papermill does
    again = inject(cells, {"x": 3}, ids=True)
    assert again.replaced and len(cells) == 4 and "x = 3" in "".join(cells[2]["source"])

    plain = [decl, code("import os"), code("print(1)")]
    assert inject(plain, {"y": "a"}, ids=False).index == 1  # after the declaration cell
    assert "y = 'a'" in "".join(plain[1]["source"]) and "id" not in plain[1]


def test_assigned_names() -> None:
    assert assigned_names("a = 1\nb: int = 2\nc, d = 3, 4\nif x:\n    e = 5\n") == [
        "a",
        "b",
        "c",
        "d",
    ]
    assert assigned_names("%matplotlib inline\n") is None


def test_percent_cells_keep_jupytext_metadata() -> None:
    cells = split_cells(SCRIPT_BODY)
    assert cells[0].metadata == {"tags": ["parameters"]}
    assert cells[1].metadata == {}


# --- end to end ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_run_script_with_parameters(offline_index: Path, tmp_path: Path, write_script: Any) -> None:
    script = write_script(tmp_path / "train.py", ["tinyalpha"], body=SCRIPT_BODY)
    out = tmp_path / "train-run.ipynb"
    proc = envlens("run", str(script), "-o", str(out), "-p", "alpha=0.5", "-p", "dataset=wine")
    assert proc.returncode == 0, proc.stderr
    nb = json.loads(out.read_text())
    # the defaults stay, the injected cell follows them, the run used the given values
    tags = [c["metadata"].get("tags") for c in nb["cells"]]
    at = tags.index(["parameters"])
    assert tags[at + 1] == ["injected-parameters"]
    assert "".join(nb["cells"][at + 1]["source"]) == "# Parameters\nalpha = 0.5\ndataset = 'wine'\n"
    assert "alpha=0.5 dataset='wine' epochs=3 tinyalpha=2.0" in outputs_text(nb)
    assert nb["metadata"]["envlens"]["parameters"] == {"alpha": 0.5, "dataset": "wine"}
    assert nb["cells"][at + 1]["metadata"]["envlens"]["env"]  # it ran, in the file's env

    # without -p: the defaults, no injected cell
    default = envlens("run", str(script), "-o", str(out))
    assert default.returncode == 0, default.stderr
    nb = json.loads(out.read_text())
    assert "alpha=0.1 dataset='iris'" in outputs_text(nb)
    assert all("injected-parameters" not in (c["metadata"].get("tags") or []) for c in nb["cells"])


@pytest.mark.slow
def test_run_notebook_with_parameters(offline_index: Path, tmp_path: Path) -> None:
    from envlens.kernels.run import run_file

    nb_path = write_notebook(
        tmp_path / "nb.ipynb",
        [
            code('# /// script\n# dependencies = ["tinyalpha"]\n# ///\n'),
            code("n = 1", ["parameters"]),
            code("print('n is', n * 2)"),
        ],
    )
    report = run_file(nb_path, tmp_path / "o.ipynb", trust_override=True, parameters={"n": 21})
    assert report.ok, report.error
    nb = json.loads((tmp_path / "o.ipynb").read_text())
    assert [c["metadata"].get("tags") for c in nb["cells"]][1:3] == [
        ["parameters"],
        ["injected-parameters"],
    ]
    assert "n is 42" in outputs_text(nb)


def test_unknown_parameter_is_refused_and_nothing_written(
    isolated_cache: Path, tmp_path: Path, write_script: Any
) -> None:
    script = write_script(tmp_path / "train.py", ["tinyalpha"], body=SCRIPT_BODY)
    proc = envlens("run", str(script), "-p", "alpah=0.5")
    assert proc.returncode == 2
    assert "unknown parameter alpah" in proc.stderr
    assert "alpha, dataset, epochs" in proc.stderr
    assert "train.py:7" in proc.stderr  # the parameters cell's first line
    assert not (tmp_path / "train.out.ipynb").exists()
    assert not (isolated_cache / "envs").exists() or not any((isolated_cache / "envs").iterdir())

    bad = envlens("run", str(script), "-p", "alpha")
    assert bad.returncode == 2 and "has no value" in bad.stderr
