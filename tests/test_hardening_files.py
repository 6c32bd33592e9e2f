"""Odd and hostile files on the command line: a FIFO, JSON nested 200,000 deep, an immutable file or
folder, a symlink, a closed pipe, an output folder that does not exist, old notebook formats.

Each ends in one line on stderr (no traceback), the documented exit code, no hang, and the user's
bytes as they were (or, for a symlink, changed in the target with the link kept).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ENVLENS = [sys.executable, "-m", "envlens"]
TIMEOUT = 30  # seconds; a hang is a failure, not a stuck test run


# The tiny test packages are names this user approved before, so `add` does not ask about them.
pytestmark = pytest.mark.usefixtures("approved_tiny_names")


def envlens(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ENVLENS, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
    )


def one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    """The single `envlens: error: ...` line a failed command prints (and nothing like a traceback)."""
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("envlens: error:")]
    assert len(errors) == 1, proc.stderr
    return errors[0]


def notebook(path: Path, cells: list[str], metadata: dict[str, object] | None = None) -> Path:
    nb = {
        "cells": [
            {
                "cell_type": "code",
                "execution_count": None,
                "id": f"c{i}",
                "metadata": {},
                "outputs": [],
                "source": src.splitlines(keepends=True),
            }
            for i, src in enumerate(cells)
        ],
        "metadata": metadata or {"kernelspec": {"name": "python3", "language": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(nb, indent=1) + "\n", encoding="utf-8")
    return path


DECL = '# /// script\n# dependencies = ["tinyalpha"]\n# ///\n'


# --- a FIFO never hangs a command ---------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ["resolve"],
        ["install", "--trust"],
        ["add", "@", "tinyalpha"],
        ["remove", "@", "tinyalpha"],
        ["lock", "--trust"],
        ["run", "--trust"],
        ["trust", "--yes"],
    ],
)
@pytest.mark.parametrize("name", ["fifo.ipynb", "fifo.py"])
def test_a_fifo_is_refused_at_once(
    isolated_cache: Path, tmp_path: Path, command: list[str], name: str
) -> None:
    fifo = tmp_path / name
    os.mkfifo(fifo)
    args = [a if a != "@" else str(fifo) for a in command]
    if "@" not in command:
        args.insert(1, str(fifo))
    proc = envlens(*args)  # before the fix: blocked in open() until the timeout
    assert proc.returncode == 2, proc.stderr
    line = one_error_line(proc)
    assert str(fifo) in line and "named pipe (FIFO)" in line


def test_a_fifo_in_place_of_a_scripts_lock_is_refused(isolated_cache: Path, tmp_path: Path) -> None:
    script = tmp_path / "s.py"
    script.write_text(DECL + "# %%\nprint(1)\n", encoding="utf-8")
    os.mkfifo(tmp_path / "s.py.lock")
    proc = envlens("resolve", script)
    assert proc.returncode == 2
    assert "s.py.lock: this is a named pipe (FIFO)" in one_error_line(proc)


# --- nesting ------------------------------------------------------------------------------------


def test_json_nested_200000_deep_is_one_line(isolated_cache: Path, tmp_path: Path) -> None:
    deep = tmp_path / "deep.ipynb"
    deep.write_text("[" * 200_000, encoding="utf-8")
    for args in (["resolve", deep], ["add", deep, "tinyalpha"], ["run", deep]):
        proc = envlens(*args)
        assert proc.returncode == 2, proc.stderr
        assert "nested more than 200 levels deep" in one_error_line(proc)
        assert deep.read_text(encoding="utf-8") == "[" * 200_000


def nested(depth: int) -> object:
    value: object = "leaf"
    for _ in range(depth - 1):
        value = {"k": value}
    return value


def test_a_notebook_just_under_the_bound_round_trips(isolated_cache: Path, tmp_path: Path) -> None:
    """Deep but allowed (an output's JSON 190 levels down): read, edited, written back whole."""
    nb = notebook(tmp_path / "deepish.ipynb", ["print(1)\n"])
    data = json.loads(nb.read_text(encoding="utf-8"))
    data["cells"][0]["outputs"] = [
        {"output_type": "display_data", "data": {"application/json": nested(190)}, "metadata": {}}
    ]
    nb.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    original = nb.read_bytes()
    assert envlens("add", nb, "tinyalpha").returncode == 0
    assert envlens("remove", nb, "tinyalpha").returncode == 0
    assert nb.read_bytes() == original


def test_a_notebook_nested_past_the_bound_is_refused(isolated_cache: Path, tmp_path: Path) -> None:
    nb = notebook(tmp_path / "toodeep.ipynb", ["print(1)\n"])
    data = json.loads(nb.read_text(encoding="utf-8"))
    # json.loads reads 700 levels; copying the notebook for the edit then ran out of stack.
    data["metadata"]["deep"] = nested(700)
    text = json.dumps(data) + "\n"
    nb.write_text(text, encoding="utf-8")
    proc = envlens("add", nb, "tinyalpha")
    assert proc.returncode == 2 and "nested more than 200 levels" in one_error_line(proc)
    assert nb.read_text(encoding="utf-8") == text


# --- read-only and immutable files and folders ---------------------------------------------------


@pytest.fixture
def immutable() -> Iterator[list[Path]]:
    made: list[Path] = []
    yield made
    for p in made:
        subprocess.run(["chattr", "-i", str(p)], check=False)


def make_immutable(path: Path, made: list[Path]) -> None:
    """`chattr +i`: we run as root, where a read-only mode stops nothing; the immutable flag does."""
    if shutil.which("chattr") is None:
        pytest.skip("chattr is not installed, so nothing can be made immutable here")
    proc = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"this file system has no immutable flag (chattr: {proc.stderr.strip()})")
    made.append(path)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def test_an_immutable_notebook_and_script(
    offline_index: Path, tmp_path: Path, immutable: list[Path]
) -> None:
    nb = notebook(tmp_path / "nb.ipynb", [DECL, "import tinyalpha\n"])
    script = tmp_path / "s.py"
    script.write_text(DECL + "# %%\nimport tinyalpha\n", encoding="utf-8")
    make_immutable(nb, immutable)
    make_immutable(script, immutable)
    before = snapshot(tmp_path)
    for args in (
        ["add", nb, "tinybeta"],
        ["remove", script, "tinyalpha"],
        ["lock", "--trust", script],
        ["lock", "--trust", nb],
        ["run", "--trust", "--inplace", nb],
    ):
        proc = envlens(*args)
        assert proc.returncode == 1, (args, proc.stderr)
        line = one_error_line(proc)
        assert "cannot write" in line and "immutable" in line, line
        assert "starting the kernel" not in proc.stderr  # refused before running anything
        assert snapshot(tmp_path) == before, args
    # Approving needs no write: the approval is recorded on this machine, the file stays as it is.
    proc = envlens("trust", "--yes", nb)
    assert proc.returncode == 0 and "recorded on this machine" in proc.stderr, proc.stderr
    assert envlens("trust", "--check", nb).returncode == 0
    assert snapshot(tmp_path) == before


def test_an_immutable_folder(offline_index: Path, tmp_path: Path, immutable: list[Path]) -> None:
    folder = tmp_path / "locked"
    folder.mkdir()
    nb = notebook(folder / "nb.ipynb", [DECL, "import tinyalpha\n"])
    script = folder / "s.py"
    script.write_text(DECL + "# %%\nimport tinyalpha\n", encoding="utf-8")
    make_immutable(folder, immutable)
    before = snapshot(folder)
    for args in (
        ["add", nb, "tinybeta"],
        ["lock", "--trust", script],
        ["run", "--trust", nb],
        ["run", "--trust", script, "-o", folder / "out.ipynb"],
    ):
        proc = envlens(*args)
        assert proc.returncode == 1, (args, proc.stderr)
        line = one_error_line(proc)
        assert str(folder) in line and "immutable" in line, line
        assert "starting the kernel" not in proc.stderr
        assert snapshot(folder) == before, args
    proc = envlens("trust", "--yes", nb)
    assert proc.returncode == 0 and "recorded on this machine" in proc.stderr
    assert snapshot(folder) == before


# --- symlinks -----------------------------------------------------------------------------------


def test_edits_write_through_a_symlink_and_keep_the_link(
    offline_index: Path, tmp_path: Path
) -> None:
    real = tmp_path / "project" / "analysis.ipynb"
    real.parent.mkdir()
    notebook(real, ["import tinyalpha\n"])
    link = tmp_path / "analysis.ipynb"
    link.symlink_to(os.path.relpath(real, link.parent))
    original = real.read_bytes()
    old = tmp_path / "old-contents.ipynb"
    os.link(real, old)  # a second name for the original file (inode)
    assert envlens("add", link, "tinyalpha").returncode == 0
    assert link.is_symlink() and os.readlink(link) == os.path.relpath(real, link.parent)
    assert "tinyalpha" in real.read_text(encoding="utf-8")
    # Replaced by a rename (atomic), not rewritten in place: the old inode kept the old bytes.
    assert old.read_bytes() == original and real.read_bytes() != original
    old.unlink()
    proc = envlens("lock", "--trust", link)
    assert proc.returncode == 0, proc.stderr
    assert link.is_symlink()
    assert "uv.lock" in json.loads(real.read_text(encoding="utf-8"))["metadata"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["analysis.ipynb", "project"]
    assert sorted(p.name for p in real.parent.iterdir()) == ["analysis.ipynb"]  # no temp left


# --- a closed pipe ------------------------------------------------------------------------------


def test_output_into_a_closed_pipe_ends_quietly(offline_index: Path, tmp_path: Path) -> None:
    script = tmp_path / "plain.py"
    script.write_text("# %%\nprint(1)\n", encoding="utf-8")
    assert envlens("install", script).returncode == 0  # one real environment to list
    cmd = " ".join(map(str, ENVLENS))
    for reader in ("head -n 0", "head -3", "true"):
        proc = subprocess.run(
            ["bash", "-c", f'{cmd} envs list | {reader}; echo "status=${{PIPESTATUS[0]}}" >&2'],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        status = proc.stderr.strip().splitlines()[-1]
        assert proc.stderr.strip().splitlines()[:-1] == [], proc.stderr  # no traceback, no noise
        assert status in ("status=0", "status=141"), proc.stderr  # 141: as `ls | head` ends


# --- run -o into a folder that does not exist ------------------------------------------------


def test_run_output_into_a_missing_folder_is_made(offline_index: Path, tmp_path: Path) -> None:
    nb = notebook(tmp_path / "nb.ipynb", ["print(6 * 7)\n"])
    out = tmp_path / "results" / "2024" / "out.ipynb"
    proc = envlens("run", nb, "-o", out)
    assert proc.returncode == 0, proc.stderr
    outputs = json.loads(out.read_text(encoding="utf-8"))["cells"][0]["outputs"]
    assert "".join(outputs[0]["text"]) == "42\n"


def test_run_output_below_a_file_is_refused_before_running(
    offline_index: Path, tmp_path: Path
) -> None:
    nb = notebook(tmp_path / "nb.ipynb", ["print(6 * 7)\n"])
    (tmp_path / "results").write_text("not a folder\n", encoding="utf-8")
    proc = envlens("run", nb, "-o", tmp_path / "results" / "out.ipynb")
    assert proc.returncode == 2
    assert "is not a folder" in one_error_line(proc)
    assert "starting the kernel" not in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nb.ipynb", "results"]


# --- notebook format versions --------------------------------------------------------------------


def test_nbformat_as_a_string_says_so(isolated_cache: Path, tmp_path: Path) -> None:
    nb = notebook(tmp_path / "s.ipynb", ["print(1)\n"])
    data = json.loads(nb.read_text(encoding="utf-8"))
    data["nbformat"] = "4"
    nb.write_text(json.dumps(data), encoding="utf-8")
    line = one_error_line(envlens("resolve", nb))
    assert '"nbformat" is "4", not a version number' in line
    assert '"nbformat": 4' in line


def test_an_nbformat_3_notebook_names_its_version_and_the_upgrade(
    isolated_cache: Path, tmp_path: Path
) -> None:
    old = tmp_path / "old notebook.ipynb"
    old.write_text(
        json.dumps(
            {
                "metadata": {"name": "old"},
                "nbformat": 3,
                "nbformat_minor": 0,
                "worksheets": [{"cells": [{"cell_type": "code", "input": "1"}], "metadata": {}}],
            }
        ),
        encoding="utf-8",
    )
    proc = envlens("resolve", old)
    assert proc.returncode == 2
    line = one_error_line(proc)
    assert "old format version 3; envlens reads version 4" in line
    assert f"--nbformat 4 --inplace '{old}'" in line  # quoted: the name has a space
    assert "no 'cells' list" not in line
