"""`envlens run` end to end: real uv environments (offline index), real kernels, the real CLI."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from envlens.resolve import resolve

pytestmark = pytest.mark.slow

# A 1x1 PNG: an image output without matplotlib.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def envlens(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "envlens", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        # the offline index and isolated cache set by the fixtures; approval is tested in test_trust_cli
        env={**os.environ, "ENVLENS_TRUST": "1"},
        timeout=300,
    )


def code(source: str, **extra: Any) -> dict[str, Any]:
    cell: dict[str, Any] = {
        "cell_type": "code",
        "execution_count": None,
        "id": f"c{abs(hash(source)) % 10**6}",
        "metadata": {},
        "outputs": [],
        "source": source.splitlines(keepends=True),
    }
    cell.update(extra)
    return cell


def write_notebook(path: Path, cells: list[dict[str, Any]], indent: int = 2) -> Path:
    data = {
        "cells": cells,
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(data, indent=indent) + "\n", encoding="utf-8")
    return path


DECLARATION = '# /// script\n# dependencies = ["tinyalpha"]\n# ///\n'


def test_run_notebook_writes_outputs_and_provenance(offline_index: Path, tmp_path: Path) -> None:
    (tmp_path / "data.txt").write_text("from the notebook's folder\n")
    (tmp_path / "pixel.png").write_bytes(PNG)
    nb = write_notebook(
        tmp_path / "analysis.ipynb",
        [
            code(DECLARATION),
            {"cell_type": "markdown", "id": "m1", "metadata": {}, "source": ["# Title"]},
            code("import tinyalpha\nprint('tinyalpha', tinyalpha.__version__)"),
            code("print(open('data.txt').read().strip())"),
            code(
                "from IPython.display import HTML, Image, display\n"
                "display(HTML('<i>hi</i>'))\n"
                "Image(filename='pixel.png')"
            ),
            code(""),
        ],
    )
    before = nb.read_text()
    proc = envlens("run", str(nb), "--trust")
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "analysis.out.ipynb"
    key = resolve(nb).key
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("envlens: ran 4 cells in ")
    assert f"in env {key} (Python 3." in last and last.endswith(f"wrote {out}")

    assert nb.read_text() == before  # the input is untouched
    text = out.read_text()
    assert text.startswith('{\n  "cells"')  # the notebook's own indentation
    data = json.loads(text)
    cells = data["cells"]
    assert [c.get("execution_count") for c in cells] == [1, None, 2, 3, 4, None]
    assert cells[2]["outputs"] == [
        {"output_type": "stream", "name": "stdout", "text": "tinyalpha 2.0\n"}
    ]
    assert cells[3]["outputs"][0]["text"] == "from the notebook's folder\n"
    html, image = cells[4]["outputs"]
    assert html["output_type"] == "display_data" and html["data"]["text/html"] == "<i>hi</i>"
    assert image["output_type"] == "execute_result"
    assert base64.b64decode(image["data"]["image/png"]) == PNG
    for i in (0, 2, 3, 4):
        assert cells[i]["metadata"]["envlens"]["env"] == key
    assert "envlens" not in cells[5]["metadata"]  # blank: not executed
    assert data["metadata"] == json.loads(before)["metadata"]  # nothing else changes


def test_run_percent_script(offline_index: Path, tmp_path: Path, write_script: Any) -> None:
    (tmp_path / "pixel.png").write_bytes(PNG)
    script = write_script(
        tmp_path / "plot.py",
        ["tinyalpha"],
        body=(
            "import tinyalpha\n"
            "x = 21\n\n"
            "# %% [markdown]\n# Some text\n\n"
            "# %%\n"
            "from IPython.display import Image, display\n"
            "display(Image(filename='pixel.png'))\n"
            "x * 2\n"
        ),
    )
    proc = envlens("run", str(script), "-o", str(tmp_path / "result.ipynb"), "--trust")
    assert proc.returncode == 0, proc.stderr
    assert "ran 2 cells" in proc.stderr
    data = json.loads((tmp_path / "result.ipynb").read_text())
    cells = data["cells"]
    assert [c["cell_type"] for c in cells] == ["code", "code", "markdown", "code"]
    assert "".join(cells[0]["source"]).startswith("# /// script")  # the declaration travels along
    assert cells[0]["execution_count"] is None  # comments only: nothing ran
    image, result = cells[3]["outputs"]
    assert base64.b64decode(image["data"]["image/png"]) == PNG
    assert result["data"]["text/plain"] == "42"
    assert cells[3]["metadata"]["envlens"]["env"] == resolve(script).key
    assert resolve(tmp_path / "result.ipynb").key == resolve(script).key


def test_failing_cell_exits_1_and_names_the_cell(offline_index: Path, tmp_path: Path) -> None:
    nb = write_notebook(
        tmp_path / "broken.ipynb",
        [
            code(DECLARATION),
            code("x = 1"),
            code("y = x / 0"),
            code(
                "print('never')",
                execution_count=9,
                outputs=[{"output_type": "stream", "name": "stdout", "text": "old\n"}],
                metadata={"envlens": {"env": "0000000000000000"}},
            ),
        ],
    )
    proc = envlens("run", str(nb), "--trust")
    assert proc.returncode == 1
    error_line = proc.stderr.strip().splitlines()[-1]
    assert error_line == (
        f"envlens: error: {nb}, cell 3: `y = x / 0` failed: ZeroDivisionError: division by zero. "
        f"The traceback is in {tmp_path / 'broken.out.ipynb'}."
    )
    assert "Traceback (most recent call last)" in proc.stderr
    assert "\x1b[" not in proc.stderr  # no colour codes when stderr is not a terminal
    cells = json.loads((tmp_path / "broken.out.ipynb").read_text())["cells"]
    assert cells[2]["outputs"][0]["output_type"] == "error"
    assert cells[2]["outputs"][0]["ename"] == "ZeroDivisionError"
    # Later cells keep nothing from an earlier run.
    assert cells[3]["outputs"] == [] and cells[3]["execution_count"] is None
    assert cells[3]["metadata"] == {}


def test_failing_script_cell_names_its_line(
    offline_index: Path, tmp_path: Path, write_script: Any
) -> None:
    script = write_script(tmp_path / "s.py", [], body="a = 1\n\n# %%\nimport nonexistent_module\n")
    proc = envlens("run", str(script), "--trust")
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert (
        f"{script}, cell 3: line 9: `import nonexistent_module` failed: ModuleNotFoundError" in last
    )


def test_raises_exception_tag_lets_the_run_continue(offline_index: Path, tmp_path: Path) -> None:
    nb = write_notebook(
        tmp_path / "tagged.ipynb",
        [code("1/0", metadata={"tags": ["raises-exception"]}), code("print('after')")],
    )
    proc = envlens("run", str(nb), "--inplace")
    assert proc.returncode == 0, proc.stderr
    cells = json.loads(nb.read_text())["cells"]
    assert cells[0]["outputs"][0]["ename"] == "ZeroDivisionError"
    assert cells[1]["outputs"][0]["text"] == "after\n"
    assert cells[0]["metadata"]["tags"] == ["raises-exception"]


def test_timeout_interrupts_and_fails(offline_index: Path, tmp_path: Path) -> None:
    nb = write_notebook(tmp_path / "slow.ipynb", [code("import time\ntime.sleep(60)")])
    proc = envlens("run", str(nb), "--timeout", "1", "--trust")
    assert proc.returncode == 1
    assert (
        "cell 1: `import time` failed: did not finish within 1 s and was interrupted" in proc.stderr
    )
    cells = json.loads((tmp_path / "slow.out.ipynb").read_text())["cells"]
    assert cells[0]["outputs"][-1]["ename"] == "KeyboardInterrupt"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-o", "{nb}"], "the output would overwrite the input"),
        (["--inplace", "-o", "{tmp}/x.ipynb"], "use either --inplace or -o"),
        (["-o", "{tmp}/x.txt"], "must be a .ipynb notebook"),
        (["--timeout", "0"], "--timeout must be a positive number of seconds"),
    ],
)
def test_bad_arguments_change_nothing(tmp_path: Path, args: list[str], message: str) -> None:
    nb = write_notebook(tmp_path / "n.ipynb", [code("1")])
    before = sorted(p.name for p in tmp_path.iterdir())
    proc = envlens("run", str(nb), *[a.format(nb=nb, tmp=tmp_path) for a in args])
    assert proc.returncode == 2
    assert message in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_inplace_on_a_script_is_refused(tmp_path: Path, write_script: Any) -> None:
    script = write_script(tmp_path / "s.py", [])
    before = script.read_text()
    proc = envlens("run", str(script), "--inplace")
    assert proc.returncode == 2
    assert "--inplace applies to notebooks" in proc.stderr
    assert script.read_text() == before and sorted(os.listdir(tmp_path)) == ["s.py"]


@pytest.mark.pypi
def test_run_with_a_package_from_pypi(isolated_cache: Path, tmp_path: Path) -> None:
    nb = write_notebook(
        tmp_path / "table.ipynb",
        [
            code('# /// script\n# dependencies = ["tabulate"]\n# ///'),
            code("from tabulate import tabulate\nprint(tabulate([[1, 2]], headers=['a', 'b']))"),
        ],
    )
    # As a user would: approve the declaration once, then run.
    assert envlens("trust", str(nb), "--yes").returncode == 0
    proc = envlens("run", str(nb))
    assert proc.returncode == 0, proc.stderr
    cells = json.loads((tmp_path / "table.out.ipynb").read_text())["cells"]
    assert cells[1]["outputs"][0]["text"].splitlines()[0].split() == ["a", "b"]
