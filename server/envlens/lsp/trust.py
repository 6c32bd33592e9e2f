"""Trust over LSP: `envlens/trustState` for the extension's trust dialog; `approve_json` behind the
`envlens.trust` command (registered in commands.py); `keep_trusted` for commands that edit a
declaration; `require_trusted` before an edit whose purpose is to install. The install, sync and
kernel-start handlers call `envlens.trust.require_trusted` on the resolution they build.

The decisions are in `envlens.trust`; this module only finds the file's current resolution (the
editor's buffer when the file is open) and translates.
"""

from __future__ import annotations

from typing import Any

from envlens import trust
from envlens.errors import EnvlensError
from envlens.lsp import protocol as P
from envlens.lsp.context import editor_file, failure, request_uri, target
from envlens.lsp.server import EnvlensServer
from envlens.resolve import Resolution, resolve
from envlens.sources.notebook import parse_notebook

METADATA_PATH = ["envlens", "trust"]  # where a notebook's signature goes in its Jupyter metadata


def require_trusted(server: EnvlensServer, uri: str) -> trust.TrustState:
    """The gate before an action whose purpose is to install: raises UntrustedError (its error
    reply's data says "UntrustedError", so the client can open the trust dialog)."""
    res, nb, _ = editor_file(server, uri)
    return trust.require_trusted(res, notebook=nb)


def keep_trusted(server: EnvlensServer, uri: str, before: Resolution | trust.TrustState) -> bool:
    """Call after a command edited the declaration (add, remove, lock, declare imports, move pip
    installs), with the trust state (`state_before(server, uri)`) taken before the edit: a trusted
    file stays trusted."""
    after, _, is_open = editor_file(server, uri)
    return trust.resign_if_trusted(before, after=after, write_file=not is_open)


def keep_trusted_after_edit(
    server: EnvlensServer, uri: str, before: trust.TrustState, new_text: str
) -> bool:
    """Like `keep_trusted`, with the edited file's new text (the editor's didChange may still be on
    its way after workspace/applyEdit). `new_text` is the notebook's or script's whole new text."""
    _, path = target(server, uri)
    is_open = server.is_open(server.doc_key(uri))
    if path.suffix == ".ipynb":
        after = resolve(path, notebook=parse_notebook(new_text, path))
    else:
        after = resolve(path, text=new_text)
    return trust.resign_if_trusted(before, after=after, write_file=not is_open)


def state_before(server: EnvlensServer, uri: str) -> trust.TrustState:
    """The file's trust state, to take before an edit and hand to `keep_trusted` after it."""
    res, nb, _ = editor_file(server, uri)
    return trust.trust_state(res, notebook=nb)


def state_json(server: EnvlensServer, uri: str) -> dict[str, Any]:
    res, nb, _ = editor_file(server, uri)
    return {"uri": uri, **trust.trust_state(res, notebook=nb).to_json()}


def approve_json(server: EnvlensServer, uri: str) -> dict[str, Any]:
    """Approve the file's current declaration.

    A notebook open in the editor is not written behind its back: the approval is recorded on this
    machine, and `signature` is returned for the client to set at metadata.envlens.trust (so it is
    saved with the notebook); a closed notebook is signed on disk.
    """
    res, nb, is_open = editor_file(server, uri)
    state = trust.approve(res, write_file=not is_open, notebook=nb)
    signature = (
        trust.sign(res)
        if res.path.suffix == ".ipynb" and state.status not in ("nothing-declared", "project")
        else None
    )
    return {
        "ok": True,
        "uri": uri,
        **state.to_json(),
        "signature": signature,
        "metadataPath": METADATA_PATH if signature else None,
    }


def register(server: EnvlensServer) -> None:
    @server.feature(P.TRUST_STATE)
    def trust_state(ls: EnvlensServer, params: Any) -> dict[str, Any]:
        try:
            return state_json(ls, request_uri(params))
        except (EnvlensError, OSError) as exc:
            raise failure(ls, exc, log=False) from None
