"""The editor's quick fixes question what `envlens add` and `envlens declare` question (issue 12):
an import nobody publishes is not guessed, an ambiguous one offers each candidate, and "Declare
all imports" adds what `envlens declare` adds. A real `envlens serve` and a pytest-lsp client."""

from __future__ import annotations

from pathlib import Path

import pytest
from lsp_helpers import Editor, Recorder, by_code, request, wait_for
from lsprotocol import types
from pytest_lsp import LanguageClient

pytestmark = pytest.mark.asyncio(loop_scope="module")

SCRIPT = """\
# /// script
# dependencies = ["numpy"]
# ///

# %%
import numpy
import kaggle_secrets
import skvideo.io
from google.cloud import storage
"""


async def actions(client: LanguageClient, uri: str, line: int) -> list[types.CodeAction]:
    result = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri),
            range=types.Range(types.Position(line, 0), types.Position(line, 0)),
            context=types.CodeActionContext(diagnostics=[]),
        )
    )
    return [a for a in result or [] if isinstance(a, types.CodeAction)]


async def test_quick_fixes_question_what_the_cli_questions(
    session: tuple[LanguageClient, Recorder], tmp_path: Path
) -> None:
    client, rec = session
    (tmp_path / ".git").mkdir()
    path = tmp_path / "q.py"
    path.write_text(SCRIPT, encoding="utf-8")
    ed = Editor(client, rec, path, SCRIPT)
    diags = await wait_for(
        lambda: by_code(client.diagnostics.get(ed.uri), "undeclared-import") or None,
        what="undeclared-import warnings",
    )
    by_line = {d.range.start.line: d.message for d in diags}
    assert "no distribution on PyPI is known to provide it" in by_line[6]  # kaggle_secrets
    assert "'scikit-video'" in by_line[7]
    assert "'google-cloud-storage'" in by_line[8], "from google.cloud import storage"

    unknown = [a for a in await actions(client, ed.uri, 6) if a.title.startswith("Add ")]
    assert unknown and all(not a.is_preferred for a in unknown)
    assert "?" in unknown[0].title and "PyPI" in unknown[0].title
    known = [a for a in await actions(client, ed.uri, 7) if a.title.startswith("Add ")]
    assert (
        known[0].title == "Add 'scikit-video' to the script dependencies" and known[0].is_preferred
    )

    declare_all = [a for a in await actions(client, ed.uri, 7) if a.title == "Declare all imports"]
    assert declare_all
    resolved = await client.code_action_resolve_async(declare_all[0])
    assert resolved.edit is not None and resolved.edit.document_changes
    new_text = "".join(
        e.new_text
        for c in resolved.edit.document_changes
        if isinstance(c, types.TextDocumentEdit)
        for e in c.edits
    )
    assert "scikit-video" in new_text and "google-cloud-storage" in new_text
    assert "kaggle" not in new_text, "an unknown import is listed, never guessed"
    ed.close()


async def test_adding_a_look_alike_says_so_and_waits_for_approval(
    session: tuple[LanguageClient, Recorder], tmp_path: Path
) -> None:
    client, rec = session
    (tmp_path / ".git").mkdir(exist_ok=True)
    text = '# /// script\n# dependencies = ["numpy"]\n# ///\nimport numpy\n'
    path = tmp_path / "t.py"
    path.write_text(text, encoding="utf-8")
    ed = Editor(client, rec, path, text)
    await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="envlens.trust", arguments=[ed.uri])
    )
    shown = len(client.messages)
    result = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="envlens.add", arguments=[ed.uri, ["pandsa"]])
    )
    assert result["questioned"][0]["package"] == "pandsa"
    message = await wait_for(lambda: client.messages[shown:], what="a warning")
    assert "pandsa: did you mean pandas?" in message[0].message
    assert message[0].type == types.MessageType.Warning
    state = await request(client, "envlens/trustState", {"uri": ed.uri})
    assert not state["trusted"]
    ed.close()
