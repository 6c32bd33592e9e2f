"""Fixtures for the LSP tests: `session` is a real `envlens serve` and its pytest-lsp client (see lsp_helpers)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from lsp_helpers import Recorder, start_client
from pytest_lsp import LanguageClient


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def session(lsp_env: dict[str, str]) -> AsyncIterator[tuple[LanguageClient, Recorder]]:
    client, rec = await start_client(lsp_env)
    yield client, rec
    await client.shutdown_session()
    await client.stop()
