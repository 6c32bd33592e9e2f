"""Bad input never takes the server down; settings apply without a restart."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest
from lsp_helpers import Editor, Recorder, by_code, request, start_client, wait_for
from lsprotocol import types
from pytest_lsp import LanguageClient

pytestmark = pytest.mark.asyncio(loop_scope="module")

HEADER = '# /// script\n# dependencies = ["numpy"]\n# ///\n'


async def alive(client: LanguageClient, tmp_path: Path, rec: Recorder) -> None:
    ed = Editor(client, rec, tmp_path / "alive.py", "import yaml\n")
    await wait_for(
        lambda: by_code(client.diagnostics.get(ed.uri), "undeclared-import"), what="alive"
    )
    ed.close()


async def test_typing_a_block_character_by_character(
    session: tuple[LanguageClient, Recorder], tmp_path: Path
) -> None:
    client, rec = session
    final = HEADER + "# %%\nimport numpy\n"
    ed = Editor(client, rec, tmp_path / "typing.py", "")
    for i in range(1, len(final) + 1):
        ed.set_text(final[:i])
    await wait_for(
        lambda: client.diagnostics.get(ed.uri) == [] or client.diagnostics.get(ed.uri) == (),
        what="clean at the end",
    )
    ed.close()
    await alive(client, tmp_path, rec)


async def test_huge_file_and_binary_garbage(
    session: tuple[LanguageClient, Recorder], tmp_path: Path
) -> None:
    client, rec = session
    huge = (
        HEADER + "".join(f"# %%\nimport os\nx{i} = {i}\n" for i in range(100_000)) + "import yaml\n"
    )
    ed = Editor(client, rec, tmp_path / "huge.py", huge)
    [w] = await wait_for(
        lambda: by_code(client.diagnostics.get(ed.uri), "undeclared-import"), 60, "huge"
    )
    assert w.range.start.line == huge.count("\n") - 1
    ed.close()
    rnd = random.Random(3)
    garbage = bytes(rnd.randrange(256) for _ in range(20_000)).decode("latin-1")
    ed = Editor(
        client, rec, tmp_path / "garbage.py", "# /// script\n" + garbage + "\n# ///\n" + garbage
    )
    await wait_for(lambda: client.diagnostics.get(ed.uri) is not None, what="garbage handled")
    lenses = await client.text_document_code_lens_async(
        types.CodeLensParams(text_document=types.TextDocumentIdentifier(ed.uri))
    )
    assert lenses is not None
    ed.close()
    await alive(client, tmp_path, rec)


async def test_settings_apply_without_restart(lsp_env: dict[str, str], tmp_path: Path) -> None:
    client, rec = await start_client(
        lsp_env, {"newNotebookDeclaration": "sideways", "defaultPython": "3.12"}
    )
    try:
        [warning] = await wait_for(lambda: client.messages, what="the invalid setting reported")
        assert (
            warning.type == types.MessageType.Warning
            and "newNotebookDeclaration" in warning.message
        )
        ed = Editor(client, rec, tmp_path / "s.py", "# /// script\n# dependencies = []\n# ///\n")
        first = await request(client, "envlens/resolve", {"uri": ed.uri})
        assert first["requiresPython"] == "==3.12.*"
        client.set_configuration({"defaultPython": "3.11"}, section="envlens")
        client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))

        async def key_changed() -> bool:
            again = await request(client, "envlens/resolve", {"uri": ed.uri})
            return bool(again["requiresPython"] == "==3.11.*" and again["key"] != first["key"])

        for _ in range(100):
            if await key_changed():
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the new defaultPython was not applied")
        ed.close()
    finally:
        await client.shutdown_session()
        await client.stop()
