"""A conda notebook in the editor: the real `envlens serve` builds its environment with py-rattler
(from a worker thread while its event loop runs) from a local channel, and starts its kernel."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from lsp_helpers import request, start_client
from lsprotocol import types
from pytest_lsp import LanguageClient

from condachannel import make_channel
from envlens.envs.interpreters import find_interpreter
from envlens.envs.uv import find_uv

pytestmark = pytest.mark.slow
module_loop = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def conda_env(lsp_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return {**lsp_env, "RATTLER_CACHE_DIR": str(tmp_path_factory.mktemp("rattler"))}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def client(conda_env: dict[str, str]) -> AsyncIterator[LanguageClient]:
    c, _ = await start_client(conda_env)
    yield c
    await c.shutdown_session()
    await c.stop()


@module_loop
async def test_conda_notebook_kernel_starts_in_a_rattler_environment(
    client: LanguageClient, conda_env: dict[str, str], tmp_path: Path
) -> None:
    interp = find_interpreter("==3.12.*", uv=find_uv())
    channel = make_channel(tmp_path / "channel", interp.path, str(interp.version))
    nb = tmp_path / "conda.ipynb"
    meta = {"conda": {"dependencies": ["tinytool"], "channels": ["./channel"], "python": "3.12"}}
    nb.write_text(
        json.dumps(
            {
                "cells": [],
                "metadata": {"kernelspec": {"name": "python3", "language": "python"}, **meta},
                "nbformat": 4,
                "nbformat_minor": 5,
            }
        )
    )
    assert channel.exists()
    subprocess.run(
        [sys.executable, "-m", "envlens", "trust", "--yes", str(nb)],
        env=conda_env,
        check=True,
        capture_output=True,
    )
    started = await request(client, "envlens/kernel/start", {"uri": nb.as_uri()})
    assert started["pythonVersion"] == str(interp.version)
    env = Path(conda_env["ENVLENS_CACHE_DIR"]) / "envs" / started["key"]
    assert (env / "conda-meta").is_dir() and (env / "ready").exists()
    result = await request(
        client,
        "envlens/kernel/execute",
        {
            "sessionId": started["sessionId"],
            "code": "import subprocess, sys\nprint(sys.prefix)\n"
            "print(subprocess.run(['tinytool'], capture_output=True, text=True).stdout)",
            "executionId": "c1",
        },
    )
    assert result["status"] == "ok"
    assert result["outputs"][0]["text"] == f"{env}\ntinytool 2.0 in {env}\n\n"
    await request(client, "envlens/kernel/shutdown", {"sessionId": started["sessionId"]})

    # Lock Versions from the editor writes the conda lock into the notebook's metadata, and the
    # notebook stays approved (envlens's own change).
    locked = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="envlens.lock", arguments=[nb.as_uri()])
    )
    assert locked["ok"] and locked["lockPath"] == str(nb)
    data = json.loads(nb.read_text())
    assert "tinytool-2.0-0.tar.bz2" in data["metadata"]["conda.lock"]
    state = await request(client, "envlens/trustState", {"uri": nb.as_uri()})
    assert state["trusted"]
