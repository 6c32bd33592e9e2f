"""Trust in the editor: nothing is installed or started before approval; the dialog's data; approving."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lsp_helpers import Editor, Recorder, request
from lsprotocol import types
from pytest_lsp import LanguageClient

from envlens.resolve import pool_resolution

pytestmark = pytest.mark.asyncio(loop_scope="module")

SCRIPT = """# /// script
# dependencies = ["tinyalpha", "reqeusts"]
# ///

# %%
import tinyalpha
"""


async def run(client: LanguageClient, command: str, *args: object) -> object:
    return await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command=command, arguments=list(args))
    )


def built(cache: Path) -> list[str]:
    """Environments built for files (the shared ipykernel-only one is prewarmed at start)."""
    envs = cache / "envs"
    pool = pool_resolution().key
    return (
        [p.name for p in envs.iterdir() if not p.name.startswith(".") and p.name != pool]
        if envs.exists()
        else []
    )


async def test_untrusted_script_installs_nothing_until_approved(
    session: tuple[LanguageClient, Recorder], lsp_env: dict[str, str], tmp_path: Path
) -> None:
    client, rec = session
    (tmp_path / ".git").mkdir()
    path = tmp_path / "foreign.py"
    path.write_text(SCRIPT, encoding="utf-8")
    ed = Editor(client, rec, path, SCRIPT)
    cache = Path(lsp_env["ENVLENS_CACHE_DIR"])

    state = await request(client, "envlens/trustState", {"uri": ed.uri})
    assert state["trusted"] is False
    assert state["packages"] == ["reqeusts", "tinyalpha"]
    [typo] = [f for f in state["flags"] if f["kind"] == "typo"]
    assert typo["package"] == "reqeusts" and typo["detail"].startswith("did you mean requests?")
    assert {f["package"] for f in state["flags"] if f["kind"] == "new"} == {"reqeusts", "tinyalpha"}

    for command in ("envlens.install", "envlens.sync"):
        with pytest.raises(Exception, match="not approved") as err:
            await run(client, command, ed.uri)
        assert "Trust This File's Dependencies" in str(err.value), "the editor's words (item 9)"
    with pytest.raises(Exception, match="not approved"):
        await request(client, "envlens/kernel/start", {"uri": ed.uri})
    assert built(cache) == []
    info = await request(client, "envlens/environment", {"uri": ed.uri})
    assert info["trusted"] is False

    # The user approves what the editor shows (an unsaved change counts, not the file on disk).
    ed.set_text(SCRIPT.replace(', "reqeusts"', ""))
    result = await run(client, "envlens.trust", ed.uri)
    assert isinstance(result, dict) and result["ok"] and result["trusted"]
    assert result["packages"] == ["tinyalpha"]
    assert path.read_text(encoding="utf-8") == SCRIPT  # the script file is not touched
    state = await request(client, "envlens/trustState", {"uri": ed.uri})
    assert state["trusted"] and state["flags"] == []

    result = await run(client, "envlens.install", ed.uri)
    assert isinstance(result, dict) and result["ok"]
    assert len(built(cache)) == 1

    # Changing the declaration in the editor needs a new approval.
    ed.set_text(SCRIPT.replace('"reqeusts"', '"tinybeta"'))
    state = await request(client, "envlens/trustState", {"uri": ed.uri})
    assert state["trusted"] is False and state["status"] == "changed"
    with pytest.raises(Exception, match="not approved"):
        await run(client, "envlens.sync", ed.uri)
    ed.close()


async def test_closed_notebook_is_signed_on_disk(
    session: tuple[LanguageClient, Recorder], tmp_path: Path
) -> None:
    client, _ = session
    (tmp_path / ".git").mkdir()
    nb = tmp_path / "shared.ipynb"
    cell = {
        "cell_type": "code",
        "execution_count": None,
        "id": "decl",
        "metadata": {},
        "outputs": [],
        "source": ["# /// script\n", '# dependencies = ["tinyalpha"]\n', "# ///"],
    }
    nb.write_text(
        json.dumps({"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}, indent=1)
        + "\n"
    )
    uri = nb.as_uri()
    assert (await request(client, "envlens/trustState", {"uri": uri}))["trusted"] is False
    result = await run(client, "envlens.trust", uri)
    assert isinstance(result, dict) and result["trusted"]
    assert result["signature"].startswith("hmac-sha256:")
    assert result["metadataPath"] == ["envlens", "trust"]
    assert json.loads(nb.read_text())["metadata"]["envlens"]["trust"] == result["signature"]


async def test_envlens_edits_keep_an_approved_script_approved(
    session: tuple[LanguageClient, Recorder], tmp_path: Path
) -> None:
    client, rec = session
    ed = Editor(client, rec, tmp_path / "kept.py", SCRIPT.replace(', "reqeusts"', ""))
    await run(client, "envlens.trust", ed.uri)
    assert (await request(client, "envlens/trustState", {"uri": ed.uri}))["trusted"]
    # Adding through envlens (a quick fix, the view) is the user's own change: still approved.
    await run(client, "envlens.add", ed.uri, ["tabulate"])
    assert '"tabulate"' in ed.text
    state = await request(client, "envlens/trustState", {"uri": ed.uri})
    assert state["trusted"], state
    await run(client, "envlens.remove", ed.uri, ["tabulate"])
    assert (await request(client, "envlens/trustState", {"uri": ed.uri}))["trusted"]
    # ... except a name to question (not on PyPI, or a look-alike): the trust dialog asks first.
    await run(client, "envlens.add", ed.uri, ["tinybeta"])
    state = await request(client, "envlens/trustState", {"uri": ed.uri})
    assert not state["trusted"]
    assert any(f["package"] == "tinybeta" and f["kind"] == "unknown" for f in state["flags"])
    ed.close()


async def test_lock_and_portability_wait_for_approval(
    session: tuple[LanguageClient, Recorder], tmp_path: Path
) -> None:
    client, rec = session
    ed = Editor(client, rec, tmp_path / "unapproved.py", SCRIPT)
    for command in ("envlens.lock", "envlens.checkPortability"):
        with pytest.raises(Exception, match="not approved"):
            await run(client, command, ed.uri)
    assert not (tmp_path / "unapproved.py.lock").exists()
    ed.close()
