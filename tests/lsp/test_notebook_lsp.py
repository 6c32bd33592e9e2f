"""A notebook in the editor: per-cell diagnostics, lenses on the declaration cell, notebook edits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from lsp_helpers import Notebook, Recorder, by_code, request, rng, wait_for
from lsprotocol import types
from pytest_lsp import LanguageClient

pytestmark = pytest.mark.asyncio(loop_scope="module")

DECL = '# /// script\n# requires-python = ">=3.10"\n# dependencies = ["pandas"]\n# ///'


def cells() -> list[tuple[str, str]]:
    return [
        ("code", DECL),
        ("markdown", "# Title\nimport nothing_here"),
        ("code", "import pandas as pd\nimport os"),
        ("code", "%pip install -U 'scikit-image>=0.22'"),
        ("code", "import numpy as np\n!pip install numpy\nx = np.zeros(3)"),
        ("code", "from PIL import Image"),
    ]


async def titles(client: LanguageClient, uri: str) -> list[str]:
    lenses = await client.text_document_code_lens_async(
        types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri))
    )
    return [x.command.title for x in lenses or [] if x.command]


async def code_actions(client: LanguageClient, uri: str, line: int) -> list[types.CodeAction]:
    result = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri),
            range=types.Range(types.Position(line, 0), types.Position(line, 0)),
            context=types.CodeActionContext(diagnostics=[]),
        )
    )
    return [a for a in result or [] if isinstance(a, types.CodeAction)]


async def test_diagnostics_per_cell(
    session: tuple[LanguageClient, Recorder], tmp_path: Path
) -> None:
    client, rec = session
    nb = Notebook(client, rec, tmp_path / "n.ipynb", cells())
    uris = nb.cell_uris
    [pil] = await wait_for(
        lambda: by_code(client.diagnostics.get(uris[5]), "undeclared-import"), what="PIL"
    )
    assert "'pillow'" in pil.message and rng(pil) == (0, 5, 0, 8)
    [np_warn] = by_code(client.diagnostics.get(uris[4]), "undeclared-import")
    assert rng(np_warn) == (0, 7, 0, 12)
    [pip] = by_code(client.diagnostics.get(uris[4]), "pip-install")
    assert rng(pip) == (1, 0, 1, 18)
    [magic] = by_code(client.diagnostics.get(uris[3]), "pip-install")
    assert "scikit-image>=0.22" in magic.message
    assert not client.diagnostics.get(uris[1]), "markdown cells are not code"
    assert not client.diagnostics.get(uris[2]), "pandas is declared and os is stdlib"
    assert await titles(client, uris[0]) == [
        "Install Script Dependencies",
        "Lock Versions",
        "Check Portability",
    ]
    assert await titles(client, uris[2]) == []
    # Typing in one cell updates that cell.
    nb.set_cell(2, "import pandas as pd\nimport yaml")
    [y] = await wait_for(
        lambda: by_code(client.diagnostics.get(uris[2]), "undeclared-import"), what="yaml"
    )
    assert "'pyyaml'" in y.message
    resolved = await request(client, "envlens/resolve", {"uri": nb.uri})
    assert resolved["source"]["kind"] == "pep723" and resolved["source"]["cell"] == 0
    nb.close()


async def test_add_import_edits_only_the_declaration_cell(
    session: tuple[LanguageClient, Recorder], tmp_path: Path
) -> None:
    client, rec = session
    nb = Notebook(client, rec, tmp_path / "a.ipynb", cells())
    uris = nb.cell_uris
    await wait_for(
        lambda: by_code(client.diagnostics.get(uris[5]), "undeclared-import"), what="PIL"
    )
    found = await code_actions(client, uris[5], 0)
    [add] = [a for a in found if a.title == "Add 'pillow' to the notebook's dependencies"]
    resolved = await client.code_action_resolve_async(add)
    assert resolved.edit is not None
    changes = resolved.edit.document_changes or []
    assert [c.text_document.uri for c in changes if isinstance(c, types.TextDocumentEdit)] == [
        uris[0]
    ]
    before = nb.texts()
    for c in changes:
        assert isinstance(c, types.TextDocumentEdit)
        nb.apply_cell_edits(c.text_document.uri, list(c.edits))
    after = nb.texts()
    assert after[1:] == before[1:]
    assert '"pillow"' in after[0] and '"pandas"' in after[0]
    await wait_for(
        lambda: not by_code(client.diagnostics.get(uris[5]), "undeclared-import"), what="fixed"
    )
    nb.close()


async def test_move_pip_lines_removes_an_emptied_cell(
    session: tuple[LanguageClient, Recorder], tmp_path: Path
) -> None:
    client, rec = session
    nb = Notebook(client, rec, tmp_path / "m.ipynb", cells())
    uris = list(nb.cell_uris)
    await wait_for(lambda: by_code(client.diagnostics.get(uris[3]), "pip-install"), what="pip")
    found = await code_actions(client, uris[3], 0)
    [move] = [a for a in found if a.title == "Move to declared dependencies"]
    assert move.command is not None and move.edit is None, "removing a cell takes the command path"
    before = nb.texts()
    result = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command=move.command.command, arguments=move.command.arguments)
    )
    assert result["ok"]
    await wait_for(lambda: len(nb.cells) == 5, what="the emptied cell removed")
    assert rec.notebook_edits[-1]["edits"] == [
        {"kind": "replaceCells", "start": 3, "deleteCount": 1, "cells": []}
    ]
    after = nb.texts()
    assert after[1:] == before[1:3] + before[4:], "only the declaration and the pip cell changed"
    assert '"scikit-image>=0.22"' in after[0]
    # The other pip line (in a cell with code) is moved by the edit path and only its line goes.
    await wait_for(
        lambda: by_code(client.diagnostics.get(nb.cell_uris[3]), "pip-install"), what="pip 2"
    )
    found = await code_actions(client, nb.cell_uris[3], 1)
    [move] = [a for a in found if a.title == "Move to declared dependencies"]
    resolved = await client.code_action_resolve_async(move)
    assert resolved.edit is not None
    for c in resolved.edit.document_changes or []:
        assert isinstance(c, types.TextDocumentEdit)
        nb.apply_cell_edits(c.text_document.uri, list(c.edits))
    assert nb.texts()[3] == "import numpy as np\nx = np.zeros(3)"
    assert '"numpy"' in nb.texts()[0]
    nb.close()


async def test_metadata_declaration_is_edited_through_the_notebook(
    session: tuple[LanguageClient, Recorder], tmp_path: Path
) -> None:
    client, rec = session
    md: dict[str, Any] = {"uv": {"dependencies": ["pandas"]}, "kernelspec": {"name": "python3"}}
    nb = Notebook(client, rec, tmp_path / "md.ipynb", [("code", "import pandas\nimport yaml")], md)
    uri = nb.cell_uris[0]
    await wait_for(lambda: by_code(client.diagnostics.get(uri), "undeclared-import"), what="yaml")
    assert await titles(client, uri) == [
        "Install Script Dependencies",
        "Lock Versions",
        "Check Portability",
    ]
    found = await code_actions(client, uri, 1)
    [add] = [a for a in found if a.title.startswith("Add 'pyyaml'")]
    assert add.command is not None and add.command.command == "envlens.installAndRerun"
    result = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="envlens.add", arguments=[nb.uri, ["pyyaml"]])
    )
    assert result["changed"]
    await wait_for(
        lambda: nb.metadata.get("uv", {}).get("dependencies") == ["pandas", "pyyaml"], what="md"
    )
    assert nb.metadata["kernelspec"] == {"name": "python3"}
    assert nb.texts() == ["import pandas\nimport yaml"]
    await wait_for(
        lambda: not by_code(client.diagnostics.get(uri), "undeclared-import"), what="fixed"
    )
    nb.close()


async def test_invalid_notebook_metadata_is_an_error_not_a_crash(
    session: tuple[LanguageClient, Recorder], tmp_path: Path
) -> None:
    client, rec = session
    nb = Notebook(client, rec, tmp_path / "bad.ipynb", [("code", "import os")], {"uv": "garbage"})
    [err] = await wait_for(
        lambda: by_code(client.diagnostics.get(nb.cell_uris[0]), "declaration-error"), what="error"
    )
    assert "metadata.uv" in err.message and err.severity == types.DiagnosticSeverity.Error
    nb.close()
    ok = Notebook(client, rec, tmp_path / "ok.ipynb", cells())
    await wait_for(lambda: client.diagnostics.get(ok.cell_uris[5]), what="the server still answers")
    ok.close()


async def test_typing_a_dependency_announces_the_new_environment(
    session: tuple[LanguageClient, Recorder], tmp_path: Path
) -> None:
    """The editor's kernel label follows `envlens/declarationChanged`: sent once the server has the
    edit, with the key a resolve then answers (no polling, no stale label)."""
    client, rec = session
    nb = Notebook(client, rec, tmp_path / "typed.ipynb", [("code", "import os")])
    first = await wait_for(
        lambda: [c for c in rec.declaration_changes if c["uri"] == nb.uri], what="first key"
    )
    nb.set_cell(0, DECL.replace("pandas", "tinybeta") + "\nimport tinybeta")
    changes = await wait_for(
        lambda: [c for c in rec.declaration_changes if c["uri"] == nb.uri][len(first) :],
        what="the new key",
    )
    resolved = await request(client, "envlens/resolve", {"uri": nb.uri})
    assert resolved["declared"] == ["tinybeta"]
    assert changes[-1]["key"] == resolved["key"] != first[-1]["key"]
    nb.close()
