"""The server keeps a prewarmed environment ready: a new notebook that declares nothing takes it,
its kernel starts without a build, and the pool is replenished in the background."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lsp_helpers import Notebook, Recorder, request, wait_for
from pytest_lsp import LanguageClient

from envlens.resolve import pool_resolution

pytestmark = pytest.mark.asyncio(loop_scope="module")


def spares(cache: Path, key: str) -> list[Path]:
    pool = cache / "envs" / ".pool"
    if not pool.is_dir():
        return []
    return [
        p
        for p in pool.iterdir()
        if (p / "pool.json").exists() and json.loads((p / "pool.json").read_text())["key"] == key
    ]


async def test_new_notebook_takes_a_prewarmed_environment(
    session: tuple[LanguageClient, Recorder], lsp_env: dict[str, str], tmp_path: Path
) -> None:
    client, rec = session
    cache = Path(lsp_env["ENVLENS_CACHE_DIR"])
    key = pool_resolution().key  # the server's settings are the defaults too
    await wait_for(lambda: spares(cache, key), timeout=300, what="a prewarmed environment")
    (spare,) = spares(cache, key)

    nb = Notebook(client, rec, tmp_path / "Untitled-1.ipynb", [("code", "import sys")])
    info = await request(client, "envlens/resolve", {"uri": nb.uri})
    assert info["source"]["kind"] == "none" and info["key"] == key and info["built"] is False

    started = await request(client, "envlens/kernel/start", {"uri": nb.uri})
    assert started["key"] == key
    assert not spare.exists() and (cache / "envs" / key / "ready").exists()  # taken, not built
    out = await request(
        client,
        "envlens/kernel/execute",
        {
            "sessionId": started["sessionId"],
            "code": "import sys; print(sys.prefix)",
            "executionId": "x1",
        },
    )
    assert out["outputs"][0]["text"].strip() == str(cache / "envs" / key)
    await request(client, "envlens/kernel/shutdown", {"sessionId": started["sessionId"]})

    history = await request(client, "envlens/history", {"uri": nb.uri})
    (v1,) = history["versions"]
    assert v1["action"] == "pool" and v1["status"] == "ready" and history["inUse"] == 1

    # Replenished in the background: a new spare, not the one taken.
    await wait_for(lambda: spares(cache, key), timeout=300, what="the pool to be replenished")
    assert spares(cache, key) != [spare]
    nb.close()
