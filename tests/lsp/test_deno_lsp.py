"""A Deno notebook in the editor (a real `envlens serve`, pytest-lsp's client as VS Code): Deno is
missing, the server asks (window/showMessageRequest), the download is declined then accepted with
progress, and the real Deno kernel runs cells through envlens/kernel/execute.

Uses PyPI the first time on a machine (the `deno` wheel); uv's cache serves it after.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from lsp_helpers import plain, request
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from envlens.envs.tools import DENO_VERSION

pytestmark = [pytest.mark.slow, pytest.mark.pypi]
module_loop = pytest.mark.asyncio(loop_scope="module")


class Dialogs:
    def __init__(self) -> None:
        self.asked: list[types.ShowMessageRequestParams] = []
        self.answer = "Not now"
        self.outputs: list[dict[str, Any]] = []


@pytest.fixture(scope="module")
def deno_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """No Deno anywhere the server looks; PyPI (or uv's cache) reachable for the download."""
    env = dict(os.environ)
    for name in (
        "ENVLENS_DENO",
        "UV_DEFAULT_INDEX",
        "UV_FIND_LINKS",
        "UV_INDEX_URL",
        "VIRTUAL_ENV",
    ):
        env.pop(name, None)
    env["HOME"] = str(tmp_path_factory.mktemp("home"))
    env["PATH"] = os.pathsep.join(
        p for p in env["PATH"].split(os.pathsep) if not (Path(p) / "deno").exists()
    )
    env["ENVLENS_CACHE_DIR"] = str(tmp_path_factory.mktemp("deno-lsp-cache"))
    env["ENVLENS_CONFIG_DIR"] = str(tmp_path_factory.mktemp("deno-lsp-config"))
    env["ENVLENS_TOOLS_DIR"] = str(tmp_path_factory.mktemp("deno-lsp-tools") / "tools")
    return env


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def deno_client(deno_env: dict[str, str]) -> AsyncIterator[tuple[LanguageClient, Dialogs]]:
    config = ClientServerConfig(
        server_command=[sys.executable, "-m", "envlens", "serve"], server_env=deno_env
    )
    client = await config.start()
    assert isinstance(client, LanguageClient)
    dialogs = Dialogs()

    @client.feature(types.WINDOW_SHOW_MESSAGE_REQUEST)
    def show_message_request(params: types.ShowMessageRequestParams) -> types.MessageActionItem:
        dialogs.asked.append(params)
        return types.MessageActionItem(title=dialogs.answer)

    @client.feature("envlens/kernel/output")
    def on_output(params: Any) -> None:
        dialogs.outputs.append(plain(params))

    await client.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities("visual-studio-code"), process_id=os.getpid()
        )
    )
    yield client, dialogs
    await client.shutdown_session()
    await client.stop()


def deno_notebook(path: Path) -> Path:
    nb = {
        "cells": [],
        "metadata": {
            "kernelspec": {"display_name": "Deno", "language": "typescript", "name": "deno"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(nb))
    return path


@module_loop
async def test_deno_download_is_asked_declined_then_accepted_and_the_kernel_runs(
    deno_client: tuple[LanguageClient, Dialogs], deno_env: dict[str, str], tmp_path: Path
) -> None:
    client, dialogs = deno_client
    nb = deno_notebook(tmp_path / "ts.ipynb")
    tools = Path(deno_env["ENVLENS_TOOLS_DIR"])

    dialogs.answer = "Not now"
    with pytest.raises(Exception, match="download was declined") as info:
        await request(client, "envlens/kernel/start", {"uri": nb.as_uri()})
    assert "Download Deno" in str(info.value)  # what to do next, in the editor's words
    assert len(dialogs.asked) == 1
    asked = dialogs.asked[0]
    assert "ts.ipynb" in asked.message and f"Deno {DENO_VERSION}" in asked.message
    assert [a.title for a in asked.actions or []] == ["Download Deno", "Not now"]
    assert not tools.exists() or not any(tools.glob("deno-*"))

    dialogs.answer = "Download Deno"
    started = await request(client, "envlens/kernel/start", {"uri": nb.as_uri()})
    assert started["label"] == "Deno (envlens)"
    assert (tools / f"deno-{DENO_VERSION}" / "bin" / "deno").is_file()
    reports = [
        r.message
        for values in client.progress_reports.values()
        for r in values
        if getattr(r, "message", None)
    ]
    assert any(f"Downloading Deno {DENO_VERSION}" in m for m in reports), reports

    sid = started["sessionId"]
    result = await request(
        client,
        "envlens/kernel/execute",
        {"sessionId": sid, "code": "console.log('from deno'); 40 + 2", "executionId": "d1"},
    )
    assert result["status"] == "ok"
    assert result["outputs"][0] == {
        "output_type": "stream",
        "name": "stdout",
        "text": "from deno\n",
    }
    # pygls's client renames the 'text/plain' key (not an identifier) to a positional field.
    assert list(result["outputs"][1]["data"].values()) == ["\x1b[33m42\x1b[39m"]
    assert any(o["executionId"] == "d1" for o in dialogs.outputs)

    failed = await request(
        client,
        "envlens/kernel/execute",
        {"sessionId": sid, "code": "throw new TypeError('bad')", "executionId": "d2"},
    )
    assert failed["status"] == "error" and failed["error"]["ename"] == "TypeError"

    # Deno is there now: a second start asks nothing.
    await request(client, "envlens/kernel/shutdown", {"sessionId": sid})
    again = await request(client, "envlens/kernel/start", {"uri": nb.as_uri()})
    assert len(dialogs.asked) == 2
    await request(client, "envlens/kernel/shutdown", {"sessionId": again["sessionId"]})
