"""Settings from `workspace/configuration` (section `envlens`), applied without a restart."""

from __future__ import annotations

import logging
from typing import Any

from lsprotocol import types

from envlens.lsp.server import EnvlensServer, client_answer
from envlens.settings import Settings

log = logging.getLogger("envlens.lsp")


def apply(ls: EnvlensServer, data: Any) -> None:
    """Take a client's `envlens` section; report invalid values and keep their defaults."""
    if not isinstance(data, dict):
        data = {}
    settings, problems = Settings.from_mapping(data)
    for problem in problems:
        ls.show(f"envlens settings: {problem}", types.MessageType.Warning)
        log.warning("settings: %s", problem)
    changed = settings != ls.settings
    ls.settings = settings
    ls.config = dict(data)
    if changed:
        from envlens.lsp import lifecycle

        lifecycle.on_settings_changed(ls)  # another default declaration: other spares
        ls.touch_all()
        ls.refresh_lenses()


async def fetch(ls: EnvlensServer) -> None:
    if not ls.supports("workspace", "configuration"):
        return
    try:
        result = await client_answer(
            ls.workspace_configuration_async(
                types.ConfigurationParams(items=[types.ConfigurationItem(section="envlens")])
            )
        )
    except Exception as exc:
        log.info("workspace/configuration failed: %s", exc)
        return
    apply(ls, result[0] if result else None)


def register(server: EnvlensServer) -> None:
    @server.feature(types.INITIALIZED)
    async def initialized(ls: EnvlensServer, params: types.InitializedParams) -> None:
        import asyncio

        ls.bind_loop(asyncio.get_running_loop())
        await fetch(ls)
        from envlens.lsp import lifecycle

        # Off the loop: settle earlier jobs, prune unused environments, keep the pool full.
        lifecycle.on_initialized(ls)

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def did_change_configuration(
        ls: EnvlensServer, params: types.DidChangeConfigurationParams
    ) -> None:
        pushed = params.settings
        if (
            isinstance(pushed, dict)
            and isinstance(pushed.get("envlens"), dict)
            and not ls.supports("workspace", "configuration")
        ):
            apply(ls, pushed["envlens"])
            return
        await fetch(ls)
