"""`envlens declare` and the questions of `envlens add`, as the scientist runs them (issue 12).

Real notebooks from the shared corpus (copies), with more `!pip` / `%pip` / `!uv pip` cells added;
the real CLI in a subprocess; a pseudo-terminal where the command asks.
"""

from __future__ import annotations

import json
import os
import pty
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from envlens.analysis import Snapshot, analyse
from envlens.declare import plan_declare
from envlens.pipinstall import find_pip_installs
from envlens.resolve import resolve
from envlens.sources.notebook import cell_source, load_notebook

CORPUS = Path(os.environ.get("ENVLENS_CORPUS", "/work/shared/corpus"))
ENVLENS = [sys.executable, "-m", "envlens"]
WITH_PIP = sorted(
    p for p in CORPUS.glob("*.ipynb") if "pip install" in p.read_text(encoding="utf-8")
)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    e = dict(os.environ)
    e["ENVLENS_CONFIG_DIR"] = str(tmp_path / "config")
    e["ENVLENS_CACHE_DIR"] = str(tmp_path / "cache")
    e.pop("ENVLENS_TRUST", None)
    return e


def envlens(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ENVLENS, *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )


def on_tty(args: list[str], answer: str, prompt: bytes, env: dict[str, str]) -> tuple[int, str]:
    """Run envlens on a pseudo-terminal and type `answer` when `prompt` shows."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [*ENVLENS, *args], env=env, stdin=slave, stdout=slave, stderr=slave, close_fds=True
    )
    os.close(slave)
    out, answered, deadline = b"", False, time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        if not answered and prompt in out:
            os.write(master, answer.encode() + b"\n")
            answered = True
        if proc.poll() is not None and not ready:
            break
    code = proc.wait(timeout=30)
    os.close(master)
    return code, out.decode(errors="replace")


def code_cell(source: str) -> dict[str, Any]:
    return {
        "cell_type": "code",
        "execution_count": None,
        "id": f"added{abs(hash(source)) % 10**8}",
        "metadata": {},
        "outputs": [],
        "source": source.splitlines(keepends=True),
    }


def corpus_copy(name: str, folder: Path, extra: list[str] | None = None) -> Path:
    """A copy of a corpus notebook in its own project folder, with more install cells after cell 1."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ".git").mkdir(exist_ok=True)
    target = folder / "nb.ipynb"
    shutil.copyfile(CORPUS / name, target)
    if extra:
        data = json.loads(target.read_text(encoding="utf-8"))
        for i, src in enumerate(extra):
            data["cells"].insert(1 + i, code_cell(src))
        target.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return target


EXTRA = [
    "%pip install -q scikit-learn==1.5.2\n",
    "!uv pip install 'polars>=1'\nimport polars as pl\n",
    "# keep this cell: only its install line goes\n!pip install -U tabulate\nprint('ready')\n",
]


def code_sources(path: Path) -> list[str]:
    return [cell_source(c) for c in load_notebook(path).cells if c.get("cell_type") == "code"]


def test_the_corpus_has_install_lines() -> None:
    assert len(WITH_PIP) >= 10, "the shared corpus holds ten notebooks with !pip lines"


@pytest.mark.parametrize("name", [p.name for p in WITH_PIP])
def test_declare_moves_every_install_line_of_real_notebooks(
    name: str, tmp_path: Path, env: dict[str, str]
) -> None:
    nb = corpus_copy(name, tmp_path / "w", EXTRA)
    before = code_sources(nb)
    r = envlens("declare", str(nb), "--yes", env=env)
    assert r.returncode == 0, r.stderr
    assert "+ scikit-learn==1.5.2" in r.stdout and "+ polars>=1" in r.stdout
    after = code_sources(nb)
    # No install line is left in the code (except one a declaration cannot hold, which is listed).
    left = [inst for src in after[1:] for inst in find_pip_installs(src) if inst.movable]
    assert left == []
    # The declaration holds what the lines installed, and uv-readable PEP 723 it is.
    declared = resolve(nb).declaration.requirements
    for req in ("scikit-learn==1.5.2", "polars>=1", "tabulate"):
        assert req in declared, declared
    # Every other line of code is as it was; a cell that only installed is gone.
    assert "print('ready')" in "".join(after)
    assert "import polars as pl\n" in after
    assert sum(not s.strip() for s in after) == sum(not s.strip() for s in before)
    kept_lines = [ln for s in before for ln in s.split("\n") if not find_pip_installs(ln)]
    assert all(ln in "\n".join(after) for ln in kept_lines)
    # A second run has nothing left to do.
    again = envlens("declare", str(nb), "--yes", env=env)
    assert again.returncode == 0 and "nothing to declare" in again.stderr


def test_without_a_terminal_it_shows_and_refuses(tmp_path: Path, env: dict[str, str]) -> None:
    nb = corpus_copy("notebooks__course__pt__chapter5__section3.ipynb", tmp_path / "w")
    original = nb.read_bytes()
    r = envlens("declare", str(nb), env=env)
    assert r.returncode == 1
    assert "+ datasets" in r.stdout and "the line leaves the code" in r.stdout
    assert f"`envlens declare {nb} --yes`" in r.stderr
    assert nb.read_bytes() == original, "nothing is written without an answer"


def test_on_a_terminal_it_asks(tmp_path: Path, env: dict[str, str]) -> None:
    nb = corpus_copy("notebooks__course__pt__chapter5__section3.ipynb", tmp_path / "w")
    original = nb.read_bytes()
    code, out = on_tty(["declare", str(nb)], "n", b"[y/N]", env)
    assert code == 1 and "+ datasets" in out and nb.read_bytes() == original
    code, out = on_tty(["declare", str(nb)], "y", b"[y/N]", env)
    assert code == 0, out
    assert "datasets" in resolve(nb).declaration.requirements


def test_unknown_and_platform_imports_are_listed_not_guessed(
    tmp_path: Path, env: dict[str, str]
) -> None:
    nb = corpus_copy("handson-ml3__19_training_and_deploying_at_scale.ipynb", tmp_path / "w")
    r = envlens("declare", str(nb), "--yes", env=env)
    assert r.returncode == 0, r.stderr
    assert "? google.colab (cell" in r.stdout and "only exists on Google Colab" in r.stdout
    assert "? kaggle_secrets (cell" in r.stdout
    assert "`envlens add" in r.stdout
    declared = resolve(nb).declaration.requirements
    assert "google-colab" not in declared and not any("kaggle" in d for d in declared)
    # Namespace packages by their own distribution; the notebook's %pip lines moved with -U gone.
    assert {"google-cloud-storage", "google-cloud-aiplatform", "tensorflow-serving-api"} <= set(
        declared
    )


def test_declare_adds_what_the_editor_quick_fix_adds(tmp_path: Path) -> None:
    """One decision for both: the editor's "Declare all imports" and `envlens declare`."""
    nb = corpus_copy("notebooks__examples__accelerate_examples__simple_cv_example.ipynb", tmp_path)
    plan = plan_declare(nb)
    data = load_notebook(nb)
    snap = Snapshot(
        path=nb,
        cells=tuple(
            __import__("envlens.analysis", fromlist=["CellText"]).CellText(
                "code" if c["cell_type"] == "code" else "markdown", f"cell{i}", cell_source(c)
            )
            for i, c in enumerate(data.cells)
        ),
        metadata=data.metadata,
    )
    editor = analyse(snap).undeclared_distributions
    from_imports = [req for req, why in plan.added if why.startswith("import ")]
    assert from_imports == editor and "timm" in editor and "scikit-learn" not in editor


def test_a_percent_script_and_its_commented_install_lines(
    tmp_path: Path, env: dict[str, str]
) -> None:
    (tmp_path / ".git").mkdir()
    script = tmp_path / "s.py"
    text = (
        '# /// script\n# dependencies = ["numpy>=1.26"]\n# ///\n\n# %%\n'
        "# !pip install numpy pandas==2.2.2\nimport numpy as np\nimport pandas as pd\n"
        "from sklearn.svm import SVC\nimport helpers\n"
    )
    script.write_bytes(text.encode())
    (tmp_path / "helpers.py").write_text("X = 1\n")
    r = envlens("declare", str(script), "--yes", env=env)
    assert r.returncode == 0, r.stderr
    new = script.read_bytes().decode()
    assert "!pip" not in new
    assert new.endswith(
        "# %%\nimport numpy as np\nimport pandas as pd\nfrom sklearn.svm import SVC\nimport helpers\n"
    )
    declared = resolve(script).declaration.requirements
    # numpy keeps its declared range (a bare `pip install numpy` changes nothing); helpers is local.
    assert list(declared) == ["numpy>=1.26", "pandas==2.2.2", "scikit-learn"]


def test_a_line_a_declaration_cannot_hold_stays_and_is_listed(
    tmp_path: Path, env: dict[str, str]
) -> None:
    nb = corpus_copy(
        "notebooks__course__pt__chapter5__section3.ipynb",
        tmp_path / "w",
        ["!pip install -r requirements.txt\n", "!pip install ./vendor/mylib\n"],
    )
    r = envlens("declare", str(nb), "--yes", env=env)
    assert r.returncode == 0, r.stderr
    assert "! cell 2: !pip install -r requirements.txt" in r.stdout
    assert "!pip install -r requirements.txt" in "".join(code_sources(nb))
    assert "!pip install ./vendor/mylib" in "".join(code_sources(nb))


def test_a_trusted_notebook_stays_trusted_but_a_look_alike_is_held_back(
    tmp_path: Path, env: dict[str, str]
) -> None:
    nb = corpus_copy("notebooks__course__pt__chapter5__section3.ipynb", tmp_path / "w")
    assert envlens("declare", str(nb), "--yes", env=env).returncode == 0
    assert envlens("trust", "--yes", str(nb), env=env).returncode == 0
    data = json.loads(nb.read_text(encoding="utf-8"))
    data["cells"].append(code_cell("import pandas\n"))
    nb.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    assert envlens("declare", str(nb), "--yes", env=env).returncode == 0
    assert envlens("trust", "--check", str(nb), env=env).returncode == 0, "envlens's own edit"
    data = json.loads(nb.read_text(encoding="utf-8"))
    data["cells"].append(code_cell("!pip install pandsa\n"))
    nb.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    r = envlens("declare", str(nb), "--yes", env=env)
    assert r.returncode == 0
    assert "+ pandsa" in r.stdout and "did you mean pandas?" in r.stdout
    assert "not approved: pandsa" in r.stderr
    check = envlens("trust", "--check", str(nb), env=env)
    assert (
        check.returncode == 3 and "pandsa" in check.stderr and "did you mean pandas" in check.stderr
    )


# --- envlens add: look-alikes and unknown names are questioned ---------------------------------


def small_notebook(folder: Path, deps: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ".git").mkdir(exist_ok=True)
    block = "# /// script\n# dependencies = [" + ", ".join(f'"{d}"' for d in deps) + "]\n# ///"
    data = {
        "cells": [code_cell(block), code_cell("import numpy\n")],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path = folder / "nb.ipynb"
    path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    return path


def test_add_a_look_alike_without_a_terminal_changes_nothing(
    tmp_path: Path, env: dict[str, str]
) -> None:
    nb = small_notebook(tmp_path / "w", ["numpy"])
    assert envlens("trust", "--yes", str(nb), env=env).returncode == 0
    original = nb.read_bytes()
    r = envlens("add", str(nb), "pandsa", env=env)
    assert r.returncode == 2
    assert "pandsa: did you mean pandas?" in r.stderr
    assert f"`envlens add {nb} pandas`" in r.stderr and "--yes" in r.stderr
    assert nb.read_bytes() == original


def test_add_with_yes_adds_as_written_but_does_not_approve(
    tmp_path: Path, env: dict[str, str]
) -> None:
    nb = small_notebook(tmp_path / "w", ["numpy"])
    assert envlens("trust", "--yes", str(nb), env=env).returncode == 0
    r = envlens("add", str(nb), "pandsa>=1", "--yes", env=env)
    assert r.returncode == 0, r.stderr
    assert "pandsa>=1" in resolve(nb).declaration.requirements
    assert "Not approved: pandsa" in r.stderr
    check = envlens("trust", "--check", str(nb), env=env)
    assert check.returncode == 3 and "did you mean pandas" in check.stderr


def test_add_on_a_terminal_offers_the_popular_name(tmp_path: Path, env: dict[str, str]) -> None:
    nb = small_notebook(tmp_path / "w", ["numpy"])
    assert envlens("trust", "--yes", str(nb), env=env).returncode == 0
    code, out = on_tty(["add", str(nb), "pandsa==2.2.2"], "", b"k = keep", env)
    assert code == 0, out
    assert "did you mean pandas?" in out
    assert list(resolve(nb).declaration.requirements) == ["numpy", "pandas==2.2.2"]
    assert envlens("trust", "--check", str(nb), env=env).returncode == 0, "pandas: approved along"
    # Keeping a name not on PyPI, said on the terminal, is the user's own word: approved along.
    code, out = on_tty(["add", str(nb), "our-lab-utils"], "y", b"[y/N]", env)
    assert code == 0 and "no distribution of that name is on PyPI" in out, out
    assert envlens("trust", "--check", str(nb), env=env).returncode == 0


@pytest.mark.parametrize("name", ["gdal", "adal", "scikit-image", "earthpy"])
def test_add_does_not_question_real_distributions(
    name: str, tmp_path: Path, env: dict[str, str]
) -> None:
    nb = small_notebook(tmp_path / "w", ["numpy"])
    assert envlens("trust", "--yes", str(nb), env=env).returncode == 0
    r = envlens("add", str(nb), name, env=env)
    assert r.returncode == 0 and "did you mean" not in r.stderr, r.stderr
    assert envlens("trust", "--check", str(nb), env=env).returncode == 0


def test_a_crlf_script_stays_crlf(tmp_path: Path, env: dict[str, str]) -> None:
    (tmp_path / ".git").mkdir()
    script = tmp_path / "w.py"
    script.write_bytes(
        b'# /// script\r\n# dependencies = ["numpy>=1.26"]\r\n# ///\r\n\r\n# %%\r\n'
        b"# !pip install numpy pandas==2.2.2\r\nimport numpy as np\r\nimport pandas as pd\r\n"
    )
    r = envlens("declare", str(script), "--yes", env=env)
    assert r.returncode == 0, r.stderr
    assert script.read_bytes() == (
        b'# /// script\r\n# dependencies = ["numpy>=1.26", "pandas==2.2.2"]\r\n# ///\r\n\r\n'
        b"# %%\r\nimport numpy as np\r\nimport pandas as pd\r\n"
    )
