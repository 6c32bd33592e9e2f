"""Processes: whether one is alive, by pid (for records left by a process that may have been
killed), and background work that yields the CPU to the user's own."""

from __future__ import annotations

import contextlib
import os
import sys
import threading


def pid_alive(pid: int) -> bool:
    """True when a process with this pid exists (one owned by another user counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def background_thread_priority(niceness: int = 19) -> None:
    """Lower the calling thread's CPU priority, and so that of every process it starts (on Linux
    priority is per thread and a child inherits its parent thread's). The pool's spare builds then
    leave the CPU to the kernel a user starts meanwhile (on two cores they doubled its start).
    Elsewhere nothing changes: there the call would lower the whole sidecar."""
    if sys.platform != "linux":
        return
    with contextlib.suppress(OSError):  # a priority is a courtesy: the build runs anyway
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), niceness)
