"""A lock that no longer matches the declaration: a warning, a "Lock is out of date" lens, a re-lock fix."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from lsp_helpers import Editor, Recorder, by_code, wait_for
from lsprotocol import types
from pytest_lsp import LanguageClient

pytestmark = pytest.mark.asyncio(loop_scope="module")

SCRIPT = '# /// script\n# requires-python = ">=3.10"\n# dependencies = ["tinyalpha"]\n# ///\nimport tinyalpha\n'


async def titles(client: LanguageClient, uri: str) -> list[str]:
    lenses = await client.text_document_code_lens_async(
        types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri))
    )
    return [x.command.title for x in lenses or [] if x.command]


async def test_stale_lock_is_flagged_and_relock_is_offered(
    session: tuple[LanguageClient, Recorder], lsp_env: dict[str, str], tmp_path: Path
) -> None:
    client, rec = session
    path = tmp_path / "locked.py"
    path.write_text(SCRIPT)
    envlens = Path(sys.executable).parent / "envlens"
    subprocess.run(
        [str(envlens), "lock", "--trust", str(path)], env=lsp_env, check=True, capture_output=True
    )
    locked = path.read_text()
    assert (tmp_path / "locked.py.lock").is_file()

    ed = Editor(client, rec, path, locked)
    assert "Lock Versions" in await titles(client, ed.uri)
    assert not by_code(client.diagnostics.get(ed.uri) or [], "stale-lock")

    # The user adds a dependency by hand: the lock no longer belongs to the declaration.
    ed.set_text(locked.replace('"tinyalpha', '"tinybeta", "tinyalpha'))
    [warning] = await wait_for(
        lambda: by_code(client.diagnostics.get(ed.uri), "stale-lock"), what="stale-lock warning"
    )
    assert warning.severity == types.DiagnosticSeverity.Warning
    assert "tinybeta is declared but not in the lock" in warning.message
    assert "Lock is out of date: Re-lock" in await titles(client, ed.uri)
    actions = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(ed.uri),
            range=warning.range,
            context=types.CodeActionContext(diagnostics=[warning]),
        )
    )
    relock = [a for a in actions or [] if isinstance(a, types.CodeAction) and "Re-lock" in a.title]
    assert relock and relock[0].command and relock[0].command.command == "envlens.lock"
    ed.close()
