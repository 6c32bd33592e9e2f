"""Installing from the editor: progress, lens states, environment-aware diagnostics, failures."""

from __future__ import annotations

from pathlib import Path

import pytest
from lsp_helpers import Editor, Recorder, by_code, request, wait_for
from lsprotocol import types
from pytest_lsp import LanguageClient

pytestmark = pytest.mark.asyncio(loop_scope="module")

SCRIPT = """# /// script
# dependencies = ["tinyimg"]
# ///

# %%
import timg
print(timg.__version__)
"""


async def lens_titles(client: LanguageClient, uri: str) -> list[str]:
    lenses = await client.text_document_code_lens_async(
        types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri))
    )
    return [lens.command.title for lens in lenses or [] if lens.command]


async def run(client: LanguageClient, command: str, *args: object) -> object:
    return await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command=command, arguments=list(args))
    )


async def test_install_shows_progress_and_the_environment(
    session: tuple[LanguageClient, Recorder], tmp_path: Path
) -> None:
    client, rec = session
    ed = Editor(client, rec, tmp_path / "img.py", SCRIPT)
    # Before the build, nothing says that `timg` comes from `tinyimg`.
    [warn] = await wait_for(
        lambda: by_code(client.diagnostics.get(ed.uri), "undeclared-import"), what="warning"
    )
    assert "'timg'" in warn.message
    assert await lens_titles(client, ed.uri) == [
        "Install Script Dependencies",
        "Lock Versions",
        "Check Portability",
    ]
    await run(client, "envlens.trust", ed.uri)  # the gate comes first (docs/trust.md)
    tokens_before = set(client.progress_reports)
    refreshes = rec.lens_refreshes

    await run(client, "envlens.trust", ed.uri)  # approved (tests/lsp/test_trust_lsp.py)
    result = await run(client, "envlens.install", ed.uri)
    assert isinstance(result, dict) and result["ok"] and not result["reused"]

    [token] = set(client.progress_reports) - tokens_before
    kinds = [p.kind for p in client.progress_reports[token]]
    assert kinds[0] == "begin" and kinds[-1] == "end" and "report" in kinds
    begin = client.progress_reports[token][0]
    assert begin.cancellable and "1 package" in begin.title
    assert rec.lens_refreshes >= refreshes + 2, "refreshed when the build started and ended"
    titles = await lens_titles(client, ed.uri)
    assert titles[0].startswith("Environment ready: ") and ", Python 3." in titles[0]
    # The environment knows that tinyimg provides timg: the warning goes away.
    await wait_for(
        lambda: not by_code(client.diagnostics.get(ed.uri), "undeclared-import"),
        what="the environment's import map",
    )
    info = await request(client, "envlens/environment", {"uri": ed.uri})
    names = {p["name"] for p in info["packages"]}
    assert (
        {"tinyimg", "ipykernel"} <= names
        and info["built"]
        and info["pythonVersion"].startswith("3.")
    )
    assert info["operations"][-1]["status"] == "succeeded" and info["lockState"] == "none"
    resolved = await request(client, "envlens/resolve", {"uri": ed.uri})
    assert (
        resolved["built"]
        and resolved["requirements"] == ["tinyimg"]
        and resolved["key"] == info["key"]
        and resolved["pythonVersion"] == info["pythonVersion"]  # the kernel label's, at once
    )

    # The declaration changes: the environment is out of date.
    ed.set_text(SCRIPT.replace('["tinyimg"]', '["tinyimg", "tinyalpha"]'))
    await wait_for(
        lambda: by_code(client.diagnostics.get(ed.uri), "unused-dependency"), what="hint"
    )
    assert (await lens_titles(client, ed.uri))[0] == "Sync Environment"
    await run(client, "envlens.trust", ed.uri)  # approved (tests/lsp/test_trust_lsp.py)
    await run(client, "envlens.trust", ed.uri)
    result = await run(client, "envlens.sync", ed.uri)
    assert isinstance(result, dict) and result["ok"]
    assert (await lens_titles(client, ed.uri))[0].startswith("Environment ready: ")
    ed.close()


async def test_a_failing_install_reaches_the_user(
    session: tuple[LanguageClient, Recorder], tmp_path: Path
) -> None:
    client, rec = session
    ed = Editor(client, rec, tmp_path / "bad.py", SCRIPT.replace("tinyimg", "no-such-package-xyz"))
    await wait_for(lambda: client.diagnostics.get(ed.uri) is not None, what="diagnostics")
    n_messages = len(client.messages)
    await run(client, "envlens.trust", ed.uri)  # approved (tests/lsp/test_trust_lsp.py)
    with pytest.raises(Exception) as err:
        await run(client, "envlens.install", ed.uri)
    assert "no-such-package-xyz" in str(err.value)
    shown = await wait_for(lambda: client.messages[n_messages:], what="showMessage")
    assert shown[0].type == types.MessageType.Error
    assert "no-such-package-xyz" in shown[0].message and str(ed.path) in shown[0].message
    assert "approve" not in shown[0].message, "the build failed, not the trust gate"
    assert any("no-such-package-xyz" in m.message for m in client.log_messages)
    title = (await lens_titles(client, ed.uri))[0]
    assert title.startswith("Install failed: ") and "\n" not in title
    ed.close()


async def test_commands_reject_bad_arguments(
    session: tuple[LanguageClient, Recorder], tmp_path: Path
) -> None:
    client, rec = session
    ed = Editor(client, rec, tmp_path / "args.py", SCRIPT)
    with pytest.raises(Exception, match="list of strings"):
        await run(client, "envlens.add", ed.uri, 42)
    with pytest.raises(Exception, match="invalid requirement"):
        await run(client, "envlens.add", ed.uri, ["numpy>>>2"])
    assert ed.text == SCRIPT, "a refused command changes nothing"
    result = await run(client, "envlens.add", ed.uri, ["tinyalpha>=1"])
    assert isinstance(result, dict) and result["changed"]
    await wait_for(lambda: '"tinyalpha>=1"' in ed.text, what="the edit")
    result = await run(client, "envlens.remove", ed.uri, ["tinyalpha"])
    await wait_for(lambda: ed.text == SCRIPT, what="back to the original")
    ed.close()


async def test_lock_versions_pins_through_the_editor(
    session: tuple[LanguageClient, Recorder], tmp_path: Path
) -> None:
    client, rec = session
    text = '# /// script\n# dependencies = ["tinyalpha"]\n# ///\n\n# %%\nimport tinyalpha\n'
    (tmp_path / "lock.py").write_text(text)
    ed = Editor(client, rec, tmp_path / "lock.py", text)
    await wait_for(lambda: client.diagnostics.get(ed.uri) is not None, what="diagnostics")
    await run(client, "envlens.trust", ed.uri)  # locking may run build backends: approval first
    result = await run(client, "envlens.lock", ed.uri, {"upgrade": False})
    assert isinstance(result, dict) and result["ok"]
    await wait_for(lambda: '"tinyalpha==2.0"' in ed.text, what="the pin in the buffer")
    assert ed.text == text.replace('"tinyalpha"', '"tinyalpha==2.0"'), "only the pin changed"
    assert (tmp_path / "lock.py.lock").is_file()
    assert (tmp_path / "lock.py").read_text() == text, "the file on disk is the editor's to save"
    info = await request(client, "envlens/environment", {"uri": ed.uri})
    assert info["lockState"] in ("fresh", "stale")
    ed.close()


async def test_check_portability_answers_verdicts(
    session: tuple[LanguageClient, Recorder], tmp_path: Path
) -> None:
    client, rec = session
    ed = Editor(
        client, rec, tmp_path / "port.py", '# /// script\n# dependencies = ["tinyalpha"]\n# ///\n'
    )
    await run(client, "envlens.trust", ed.uri)
    result = await run(client, "envlens.checkPortability", ed.uri)
    assert isinstance(result, dict) and result["ok"] and result["verdicts"]
    assert all(v["status"] for v in result["verdicts"])
    ed.close()
