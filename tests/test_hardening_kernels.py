"""The kernel a run starts, seen from inside it: its messages are signed with a random key, and it
listens on no TCP port (its channels and its subprocess pipe are IPC sockets in a private folder).
Output of forked subprocesses still reaches the notebook through that pipe."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from notebooks import code_cells

INSPECT = r"""
import json, os
def listening_tcp():
    # The kernel's own sockets (all threads share the descriptor table) ...
    mine = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            mine.add(target[len("socket:["):-1])
    # ... that the TCP tables show in state LISTEN (0A).
    found = []
    for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        with open(table) as f:
            for row in f.read().splitlines()[1:]:
                cols = row.split()
                if cols[3] == "0A" and cols[9] in mine:
                    found.append(cols[1])
    return found
print(json.dumps({"key": get_ipython().kernel.session.key.decode(),
                  "tcp_listeners": listening_tcp(),
                  "transport": get_ipython().kernel.parent.transport}))
"""

FORK = """
import multiprocessing
def child(i):
    print(f"child {i} reporting", flush=True)
    return i
with multiprocessing.get_context("fork").Pool(2) as pool:
    print(sorted(pool.map(child, range(3))))
"""


def notebook(path: Path, cells: list[str]) -> Path:
    nb = {
        "cells": code_cells(cells),
        "metadata": {"kernelspec": {"name": "python3", "language": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(nb, indent=1) + "\n", encoding="utf-8")
    return path


def run(nb: Path) -> list[str]:
    out = nb.with_name("out.ipynb")
    proc = subprocess.run(
        [sys.executable, "-m", "envlens", "run", str(nb), "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    cells = json.loads(out.read_text(encoding="utf-8"))["cells"]
    return ["".join(o.get("text", "")) for c in cells for o in c["outputs"]]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_run_kernel_has_a_random_key_and_no_tcp_listener(
    offline_index: Path, tmp_path: Path
) -> None:
    nb = notebook(tmp_path / "inspect.ipynb", [INSPECT, FORK])
    first, forked = run(nb)
    seen = json.loads(first)
    assert seen["transport"] == "ipc"
    assert len(seen["key"]) == 64 and int(seen["key"], 16)  # 32 random bytes, hex
    assert seen["tcp_listeners"] == []  # before: the IOPub pipe's port on 127.0.0.1
    for i in range(3):
        assert f"child {i} reporting" in forked  # forked output still arrives (through IPC)
    assert "[0, 1, 2]" in forked
    again = json.loads(run(nb)[0])
    assert again["key"] != seen["key"]  # a new key for every kernel
