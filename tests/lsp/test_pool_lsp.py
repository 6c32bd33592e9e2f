"""The server prewarms the shared environment of files that declare nothing: opening one is instant."""

from __future__ import annotations

from pathlib import Path

import pytest
from lsp_helpers import Editor, Recorder, request, wait_for
from pytest_lsp import LanguageClient

from envlens.resolve import pool_resolution

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_pool_environment_is_built_at_start(
    session: tuple[LanguageClient, Recorder], lsp_env: dict[str, str], tmp_path: Path
) -> None:
    client, rec = session
    ready = Path(lsp_env["ENVLENS_CACHE_DIR"]) / "envs" / pool_resolution().key / "ready"
    await wait_for(ready.exists, timeout=120, what="the shared environment to be built")
    ed = Editor(client, rec, tmp_path / "plain.py", "import os\nprint(os.getcwd())\n")
    info = await request(client, "envlens/resolve", {"uri": ed.uri})
    assert info["source"]["kind"] == "none"
    assert info["key"] == pool_resolution().key
    assert info["built"] is True
    ed.close()
