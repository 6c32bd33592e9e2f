"""installAndRerun on a notebook: the package is declared, the environment synced, the file stays
approved, and the lens ends on the built environment (not on "Installing...")."""

from __future__ import annotations

from pathlib import Path

import pytest
from lsp_helpers import Notebook, Recorder, request
from lsprotocol import types
from pytest_lsp import LanguageClient

pytestmark = pytest.mark.asyncio(loop_scope="module")

DECL = '# /// script\n# dependencies = ["tinyalpha"]\n# ///'


async def run(client: LanguageClient, command: str, *args: object) -> object:
    return await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command=command, arguments=list(args))
    )


async def titles(client: LanguageClient, uri: str) -> list[str]:
    lenses = await client.text_document_code_lens_async(
        types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri))
    )
    return [x.command.title for x in lenses or [] if x.command]


async def test_install_and_rerun_declares_syncs_and_settles(
    session: tuple[LanguageClient, Recorder], tmp_path: Path
) -> None:
    client, rec = session
    nb = Notebook(
        client,
        rec,
        tmp_path / "study.ipynb",
        [("code", DECL), ("code", "import tinyalpha"), ("code", "import tinybeta")],
        {"kernelspec": {"name": "python3", "language": "python"}},
    )
    # tinybeta is on no public index: this machine approved it once before, so it is not questioned.
    known = tmp_path / "known.py"
    known.write_text('# /// script\n# dependencies = ["tinybeta"]\n# ///\n', encoding="utf-8")
    await run(client, "envlens.trust", known.as_uri())
    await run(client, "envlens.trust", nb.uri)
    await run(client, "envlens.install", nb.uri)
    result = await run(client, "envlens.installAndRerun", nb.uri, "tinybeta")
    assert isinstance(result, dict) and result["ok"] and result["distribution"] == "tinybeta"
    assert '"tinybeta"' in nb.cells[0]["text"]
    state = await request(client, "envlens/trustState", {"uri": nb.uri})
    assert state["trusted"], state
    shown = await titles(client, nb.cells[0]["uri"])
    assert shown and shown[0].startswith("Environment ready"), shown
