"""`envlens run` and install lines / missing modules: a real uv environment (tiny wheels), a real
kernel, the real CLI (issue 12, items 2 and 9)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

DECL = '# /// script\n# dependencies = ["tinyalpha"]\n# ///\n'


def envlens(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "envlens", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "ENVLENS_TRUST": "1"},  # approval is tested in test_trust_cli
        timeout=300,
    )


def notebook(path: Path, sources: list[str]) -> Path:
    cells = [
        {
            "cell_type": "code",
            "execution_count": None,
            "id": f"c{i}",
            "metadata": {},
            "outputs": [],
            "source": src.splitlines(keepends=True),
        }
        for i, src in enumerate(sources)
    ]
    data = {
        "cells": cells,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    return path


def outputs(path: Path) -> list[str]:
    """Each code cell's output text, joined."""
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    out = []
    for cell in data["cells"]:
        text = ""
        for o in cell.get("outputs", []):
            t = o.get("text") or o.get("data", {}).get("text/plain") or ""
            text += "".join(t) if isinstance(t, list) else t
        out.append(text)
    return out


def test_install_lines_for_declared_packages_are_satisfied(
    offline_index: Path, tmp_path: Path
) -> None:
    nb = notebook(
        tmp_path / "nb.ipynb",
        [
            DECL,
            "!pip install tinyalpha\n",
            '%pip install -q "tinyalpha>=1"\n',
            "IN_COLAB = False\nif IN_COLAB:\n    !pip install tinyalpha\nimport tinyalpha\n"
            "print('alpha', tinyalpha.__version__)\n",
        ],
    )
    r = envlens("run", str(nb))
    assert r.returncode == 0, r.stderr
    assert "`!pip install tinyalpha` skipped: tinyalpha is declared" in r.stderr
    out = outputs(tmp_path / "nb.out.ipynb")
    assert "skipped: tinyalpha is declared and installed" in out[1]
    assert "skipped: tinyalpha>=1 is declared" in out[2]
    assert "alpha 2.0" in out[3]
    assert "No module named pip" not in "".join(out), "nothing ran pip"


def test_an_undeclared_install_line_stops_the_run_naming_declare(
    offline_index: Path, tmp_path: Path
) -> None:
    nb = notebook(
        tmp_path / "nb.ipynb",
        [DECL, "print('before')\n", "%pip install tinybeta\n", "print('after')\n"],
    )
    r = envlens("run", str(nb))
    assert r.returncode == 1
    last = r.stderr.strip().splitlines()[-1]
    assert "cell 3" in last and "`%pip install tinybeta` was not run" in last
    assert f"`envlens declare {nb}`" in last and f"`envlens add {nb} tinybeta`" in last
    out = outputs(tmp_path / "nb.out.ipynb")
    assert out[1] == "before\n"
    assert "envlens declare" in out[2], "the executed notebook says why too"
    assert out[3] == "", "nothing after it ran"


def test_a_missing_module_says_which_distribution_and_how_to_declare_it(
    offline_index: Path, tmp_path: Path
) -> None:
    nb = notebook(tmp_path / "nb.ipynb", [DECL, "import yaml\n"])
    r = envlens("run", str(nb))
    assert r.returncode == 1
    last = r.stderr.strip().splitlines()[-1]
    assert "ModuleNotFoundError: No module named 'yaml'" in last
    assert "'yaml' comes from the distribution 'pyyaml'" in last
    assert f"`envlens declare {nb}`" in last and f"`envlens add {nb} pyyaml`" in last
    # A module nobody publishes: said so, no made-up distribution.
    nb2 = notebook(tmp_path / "nb2.ipynb", [DECL, "import kaggle_secrets\n"])
    r2 = envlens("run", str(nb2))
    assert r2.returncode == 1 and "only exists in Kaggle notebooks" in r2.stderr


def test_a_percent_script_s_commented_install_line(
    offline_index: Path, tmp_path: Path, write_script: Any
) -> None:
    script = write_script(
        tmp_path / "s.py",
        ["tinyalpha"],
        body="# !pip install tinyalpha\nimport tinyalpha\nprint(tinyalpha.__version__)\n",
    )
    r = envlens("run", str(script))
    assert r.returncode == 0, r.stderr
    assert "`# !pip install tinyalpha` skipped: tinyalpha is declared" in r.stderr
