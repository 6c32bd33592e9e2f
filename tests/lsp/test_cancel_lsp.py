"""Cancelling a build from the editor's progress notification stops uv and leaves nothing built."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from lsp_helpers import Editor, Recorder, start_client, wait_for
from lsprotocol import types
from pytest_lsp import LanguageClient

from envlens.resolve import pool_resolution

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def slow_env(
    lsp_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory, slow_sdist_maker: Any
) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("slow-index")
    slow_sdist_maker(folder)
    env = dict(lsp_env)
    env["UV_FIND_LINKS"] = f"{folder},{lsp_env['UV_FIND_LINKS']}"
    env["TINYSLOW_STARTED"] = str(folder / "build-started")
    env["TINYSLOW_SECONDS"] = "60"
    return env


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def slow_session(slow_env: dict[str, str]) -> AsyncIterator[tuple[LanguageClient, Recorder]]:
    client, rec = await start_client(slow_env)
    yield client, rec
    await client.shutdown_session()
    await client.stop()


async def test_cancel_a_build(
    slow_session: tuple[LanguageClient, Recorder], slow_env: dict[str, str], tmp_path: Path
) -> None:
    client, rec = slow_session
    ed = Editor(
        client, rec, tmp_path / "slow.py", '# /// script\n# dependencies = ["tinyslow"]\n# ///\n'
    )
    await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="envlens.trust", arguments=[ed.uri])
    )
    tokens_before = set(client.progress_reports)
    install = asyncio.ensure_future(
        client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="envlens.install", arguments=[ed.uri])
        )
    )
    started = Path(slow_env["TINYSLOW_STARTED"])
    await wait_for(started.exists, timeout=60, what="the slow package's build to start")
    [token] = set(client.progress_reports) - tokens_before
    client.protocol.notify(
        types.WINDOW_WORK_DONE_PROGRESS_CANCEL,
        types.WorkDoneProgressCancelParams(token=token),
    )
    with pytest.raises(Exception, match="cancelled"):
        await asyncio.wait_for(install, timeout=30)  # well before the 60 s build would end
    end = client.progress_reports[token][-1]
    assert end.kind == "end" and "cancelled" in (end.message or "")
    envs = Path(slow_env["ENVLENS_CACHE_DIR"]) / "envs"
    pool = pool_resolution().key  # the shared environment, prewarmed at start
    built = (
        [p for p in envs.iterdir() if (p / "ready").exists() and p.name != pool]
        if envs.exists()
        else []
    )
    assert built == []
    ed.close()
