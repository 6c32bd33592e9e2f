"""Fixtures for the LSP tests: `session` is a real `envlens serve` and its pytest-lsp client (see lsp_helpers)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from lsp_helpers import Recorder, start_client
from pytest_lsp import LanguageClient


@pytest.fixture(scope="module")
def lsp_env(
    wheelhouse: Path, tiny_index: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("UV_INDEX_URL", "UV_EXTRA_INDEX_URL", "UV_INDEX", "VIRTUAL_ENV"):
        env.pop(name, None)
    env["ENVLENS_CACHE_DIR"] = str(tmp_path_factory.mktemp("lsp-cache"))
    env["ENVLENS_CONFIG_DIR"] = str(tmp_path_factory.mktemp("lsp-config"))
    env["UV_DEFAULT_INDEX"] = tmp_path_factory.mktemp("empty-index").as_uri()
    env["UV_FIND_LINKS"] = f"{wheelhouse},{tiny_index}"
    return env


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def session(lsp_env: dict[str, str]) -> AsyncIterator[tuple[LanguageClient, Recorder]]:
    client, rec = await start_client(lsp_env)
    yield client, rec
    await client.shutdown_session()
    await client.stop()
