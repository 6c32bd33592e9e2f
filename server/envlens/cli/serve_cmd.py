"""`envlens serve`: the language server on stdio (the sidecar the VS Code extension starts).

stdout carries JSON-RPC and nothing else: anything else that prints goes to stderr, and Python
logging goes to stderr and to the client's `window/logMessage`.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any

from envlens.errors import BadInputError, ToolUnavailableError


def register(sub: Any) -> None:
    p = sub.add_parser("serve", help="start the language server on stdio (for editors)")
    p.add_argument("--stdio", action="store_true", help="talk LSP on stdin/stdout (the default)")
    p.set_defaults(func=serve)


def serve(args: argparse.Namespace) -> int:
    from envlens import surface
    from envlens.lsp.app import create_server
    from envlens.lsp.server import LspLogHandler

    _listen_for_debugger()
    surface.use("editor")  # messages now name editor actions ("Show Logs"), not commands
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print() must not corrupt the JSON-RPC stream
    server = create_server()
    envlens_log = logging.getLogger("envlens")
    envlens_log.setLevel(logging.INFO if not getattr(args, "verbose", False) else logging.DEBUG)
    envlens_log.addHandler(LspLogHandler(server))
    # Once, through window/logMessage: the editor shows the sidecar's stderr as errors, so an info
    # line there read "[error] envlens: 0 earlier job(s) listed".
    envlens_log.propagate = False
    logging.getLogger("pygls").setLevel(logging.WARNING)
    server.start_io(stdin, stdout)
    return 0


def _listen_for_debugger() -> None:
    """ENVLENS_DEBUGPY=PORT (set by .vscode/launch.json): a Python debugger can attach to the
    sidecar on 127.0.0.1:PORT. Development only; a port that cannot be used stops the start."""
    port = os.environ.get("ENVLENS_DEBUGPY")
    if not port:
        return
    try:
        import debugpy
    except ImportError:
        raise ToolUnavailableError(
            "ENVLENS_DEBUGPY is set but debugpy is not installed in the sidecar's environment",
            hint="Run the sidecar from the repository's .venv (bash scripts/bootstrap.sh)",
        ) from None
    if not port.isdigit():
        raise BadInputError(f"ENVLENS_DEBUGPY must be a port number, not {port!r}")
    debugpy.listen(("127.0.0.1", int(port)))
    print(f"envlens: a debugger can attach to the sidecar on 127.0.0.1:{port}", file=sys.stderr)
