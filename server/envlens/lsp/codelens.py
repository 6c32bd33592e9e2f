"""Code lenses on the declaration: install (with its state), sync, lock, declare from imports."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lsprotocol import types

from envlens.analysis import Analysis
from envlens.envs.inventory import EnvKnowledge
from envlens.lsp import protocol as P
from envlens.lsp.diagnostics import lsp_range, uri_of
from envlens.lsp.server import EnvlensServer


@dataclass(frozen=True)
class Lens:
    title: str
    command: str
    arguments: list[Any]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def plan_lenses(
    a: Analysis,
    uri: str,
    *,
    installing: bool,
    failed: str | None,
    knowledge: EnvKnowledge | None,
    previous_key: str | None,
) -> list[Lens]:
    """The lenses for one document, from its analysis and its environment's state."""
    res = a.resolution
    if res is None or res.runtime != "python":
        return []
    if not a.declared:
        if a.imports:
            return [Lens("Declare Dependencies from Imports", P.CMD_DECLARE_FROM_IMPORTS, [uri])]
        return []
    count = len(res.spec.requirements) + len(res.spec.conda_packages)
    lenses: list[Lens] = []
    if installing:
        lenses.append(Lens(f"Installing {_plural(count, 'package')}...", P.CMD_INSTALL, [uri]))
    elif res.built:
        python = ""
        if knowledge is not None and knowledge.python_version:
            python = ", Python " + ".".join(knowledge.python_version.split(".")[:2])
        n = len(knowledge.packages) if knowledge is not None else 0
        lenses.append(
            Lens(f"Environment ready: {_plural(n, 'package')}{python}", P.CMD_INSTALL, [uri])
        )
    elif failed:
        lenses.append(Lens(f"Install failed: {failed}", P.CMD_INSTALL, [uri]))
    elif previous_key is not None and previous_key != res.key:
        lenses.append(Lens("Sync Environment", P.CMD_SYNC, [uri]))
    else:
        lenses.append(Lens("Install Script Dependencies", P.CMD_INSTALL, [uri]))
    if res.declaration.inline and res.spec.backend == "uv":
        if any(f.kind == "stale-lock" for f in a.findings):
            lenses.append(
                Lens("Lock is out of date: Re-lock", P.CMD_LOCK, [uri, {"upgrade": False}])
            )
        else:
            lenses.append(Lens("Lock Versions", P.CMD_LOCK, [uri, {"upgrade": False}]))
        lenses.append(Lens("Check Portability", P.CMD_CHECK_PORTABILITY, [uri]))
    return lenses


def lenses_for(ls: EnvlensServer, uri: str) -> list[types.CodeLens]:
    key = ls.doc_key(uri)
    a = ls.analysis(key)
    if a is None or uri_of(a, key, a.anchor.cell) != uri:
        return []
    res = a.resolution
    knowledge = ls.knowledge_for(res) if res is not None else None
    previous = None
    if res is not None and not res.built:
        previous = ls.previous_build(res.declaration.path or res.path)
    rng = lsp_range(a, a.anchor)
    return [
        types.CodeLens(
            range=rng,
            command=types.Command(title=lens.title, command=lens.command, arguments=lens.arguments),
        )
        for lens in plan_lenses(
            a,
            key,
            installing=res is not None and res.key in ls.running,
            failed=ls.failed.get(res.key) if res is not None else None,
            knowledge=knowledge,
            previous_key=previous,
        )
    ]


def register(server: EnvlensServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_CODE_LENS, types.CodeLensOptions(resolve_provider=False))
    def code_lens(ls: EnvlensServer, params: types.CodeLensParams) -> list[types.CodeLens]:
        return lenses_for(ls, params.text_document.uri)
