"""Start ipykernel with no TCP listener of its own when its channels use IPC.

Run by the environment's interpreter as a script (`python kernel_boot.py -f CONNECTION_FILE`), in
place of `python -m ipykernel_launcher`; it imports nothing from envlens (the environment does not
have it), only the standard library, zmq and ipykernel.

Why: besides the five channels of the connection file, ipykernel's IOPub thread binds a PULL socket
on a random TCP port of 127.0.0.1 (`IOPubThread._setup_pipe_in`), through which forked
subprocesses (multiprocessing with fork) send their output. Any local user can connect to it.
With an IPC connection file, that pipe moves to a socket beside the channels' (same private
folder, mode 0700); with TCP channels (no IPC on the platform) ipykernel is left as it is.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any


def _connection_file(argv: list[str]) -> str | None:
    for i, arg in enumerate(argv):
        if arg == "-f" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--f="):
            return arg[len("--f=") :]
    return None


def _ipc_prefix(argv: list[str]) -> str | None:
    """The IPC socket prefix of the connection file, or None when its transport is not IPC."""
    path = _connection_file(argv)
    if path is None:
        return None
    try:
        with open(path, encoding="utf-8") as f:
            info = json.load(f)
    except (OSError, ValueError):
        return None  # ipykernel reports an unreadable connection file itself
    if not isinstance(info, dict) or info.get("transport") != "ipc":
        return None
    ip = info.get("ip")
    return ip if isinstance(ip, str) and ip else None


def move_iopub_pipe_to_ipc(prefix: str) -> bool:
    """Patch ipykernel's IOPubThread so its subprocess pipe is `ipc://<prefix>-pipe-<pid>`.

    Returns False (and changes nothing) when this ipykernel has no such pipe to move.
    """
    import zmq
    from ipykernel import iostream

    cls: Any = iostream.IOPubThread
    if not (hasattr(cls, "_setup_pipe_in") and hasattr(cls, "_setup_pipe_out")):
        return False
    from zmq.eventloop.zmqstream import ZMQStream

    def _setup_pipe_in(self: Any) -> None:
        # As ipykernel's own, bound to an IPC path instead of a random TCP port.
        self._pipe_uuid = os.urandom(16)  # still authenticates each message from a child
        pipe_in = self.socket.context.socket(zmq.PULL)
        pipe_in.linger = 0
        address = f"ipc://{prefix}-pipe-{os.getpid()}"
        try:
            pipe_in.bind(address)
        except zmq.ZMQError:
            self._pipe_flag = False  # as ipykernel does when it cannot bind: no subprocess output
            pipe_in.close()
            return
        self._envlens_pipe_address = address
        self._pipe_in = ZMQStream(pipe_in, self.io_loop)
        self._pipe_in.on_recv(self._handle_pipe_msg)

    def _setup_pipe_out(self: Any) -> tuple[Any, Any]:
        ctx = zmq.Context()  # a fork needs its own context
        pipe_out = ctx.socket(zmq.PUSH)
        pipe_out.linger = 3000  # as ipykernel: give up on a send after 3 s
        pipe_out.connect(self._envlens_pipe_address)
        return ctx, pipe_out

    cls._setup_pipe_in = _setup_pipe_in
    cls._setup_pipe_out = _setup_pipe_out
    return True


def main() -> None:
    # This folder is envlens's, not the user's: take it off the path before anything imports.
    here = os.path.dirname(os.path.realpath(__file__))
    if sys.path and sys.path[0] and os.path.realpath(sys.path[0]) == here:
        del sys.path[0]
    prefix = _ipc_prefix(sys.argv[1:])
    if prefix is not None:
        move_iopub_pipe_to_ipc(prefix)
    from ipykernel import kernelapp

    kernelapp.launch_new_instance()


if __name__ == "__main__":
    main()
