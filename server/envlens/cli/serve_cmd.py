"""`envlens serve`: the language server on stdio (the sidecar the VS Code extension starts).

stdout carries JSON-RPC and nothing else: anything else that prints goes to stderr, and Python
logging goes to stderr and to the client's `window/logMessage`.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("serve", help="start the language server on stdio (for editors)")
    p.add_argument("--stdio", action="store_true", help="talk LSP on stdin/stdout (the default)")
    p.set_defaults(func=serve)


def serve(args: argparse.Namespace) -> int:
    from envlens import surface
    from envlens.lsp.server import LspLogHandler, create_server

    surface.use("editor")  # messages now name editor actions ("Show Logs"), not commands
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print() must not corrupt the JSON-RPC stream
    server = create_server()
    envlens_log = logging.getLogger("envlens")
    envlens_log.setLevel(logging.INFO if not getattr(args, "verbose", False) else logging.DEBUG)
    envlens_log.addHandler(LspLogHandler(server))
    logging.getLogger("pygls").setLevel(logging.WARNING)
    server.start_io(stdin, stdout)
    return 0
