"""The language server on hostile ground: no edit before the approval the edit is for, and a file
the system will not let us write gives one line, not a traceback, and keeps its bytes."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from lsp_helpers import Notebook, Recorder
from lsprotocol import types
from pytest_lsp import LanguageClient

pytestmark = pytest.mark.asyncio(loop_scope="module")

DECL = '# /// script\n# dependencies = ["tinyalpha"]\n# ///'


async def run(client: LanguageClient, command: str, *args: object) -> object:
    return await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command=command, arguments=list(args))
    )


def notebook_bytes(path: Path) -> bytes:
    cells = [
        {"cell_type": "code", "execution_count": None, "id": "decl", "metadata": {},
         "outputs": [], "source": DECL.splitlines(keepends=True)},
        {"cell_type": "code", "execution_count": None, "id": "use", "metadata": {},
         "outputs": [], "source": ["import tinybeta\n"]},
    ]  # fmt: skip
    nb = {
        "cells": cells,
        "metadata": {"kernelspec": {"name": "python3", "language": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(nb, indent=1) + "\n", encoding="utf-8")
    return path.read_bytes()


@pytest.fixture
def immutable() -> Iterator[list[Path]]:
    """Paths made immutable with `chattr +i` (we run as root, where a read-only mode stops nothing)."""
    made: list[Path] = []
    yield made
    for p in made:
        subprocess.run(["chattr", "-i", str(p)], check=False)


def chattr_immutable(path: Path, made: list[Path]) -> None:
    if shutil.which("chattr") is None:
        pytest.skip("chattr is not installed, so no file can be made immutable here")
    proc = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"this file system does not support the immutable flag: {proc.stderr.strip()}")
    made.append(path)


async def test_install_and_rerun_on_an_unapproved_closed_notebook_leaves_its_bytes(
    session: tuple[LanguageClient, Recorder], tmp_path: Path
) -> None:
    client, rec = session
    path = tmp_path / "closed.ipynb"
    before = notebook_bytes(path)
    edits_before = len(rec.applied_edits), len(rec.notebook_edits)
    with pytest.raises(Exception, match="not approved"):
        await run(client, "envlens.installAndRerun", path.as_uri(), "tinybeta")
    assert path.read_bytes() == before
    assert (len(rec.applied_edits), len(rec.notebook_edits)) == edits_before


async def test_install_and_rerun_on_an_unapproved_open_notebook_sends_no_edit(
    session: tuple[LanguageClient, Recorder], tmp_path: Path
) -> None:
    client, rec = session
    path = tmp_path / "open.ipynb"
    before = notebook_bytes(path)
    nb = Notebook(
        client,
        rec,
        path,
        [("code", DECL), ("code", "import tinybeta\n")],
        {"kernelspec": {"name": "python3", "language": "python"}},
    )
    edits_before = len(rec.applied_edits), len(rec.notebook_edits)
    with pytest.raises(Exception, match="not approved"):
        await run(client, "envlens.installAndRerun", nb.uri, "tinybeta")
    assert [c["text"] for c in nb.cells] == [DECL, "import tinybeta\n"]
    assert (len(rec.applied_edits), len(rec.notebook_edits)) == edits_before
    assert path.read_bytes() == before


async def test_add_to_an_immutable_closed_notebook_is_one_line_and_keeps_its_bytes(
    session: tuple[LanguageClient, Recorder], tmp_path: Path, immutable: list[Path]
) -> None:
    client, _rec = session
    path = tmp_path / "locked.ipynb"
    before = notebook_bytes(path)
    chattr_immutable(path, immutable)
    with pytest.raises(Exception, match="cannot write the file") as err:
        await run(client, "envlens.add", path.as_uri(), ["tinybeta"])
    assert "Traceback" not in str(err.value) and "\n" not in str(err.value)
    assert "immutable" in str(err.value)
    assert path.read_bytes() == before
