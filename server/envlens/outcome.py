"""The outcome of one headless run as a JSON record: what `envlens run --record FILE` writes, what a
matrix worker returns and what a Slurm task leaves in `status/<task>.json`, so the summary of a
matrix and of a job array read the same thing.

    {"status": "ok" | "failed" | "error", "exit": 0 | 1 | 2 | 3, "seconds": 2.31,
     "error": "<the one-line message>", "error_type": "ValueError", "error_message": "<full text>",
     "values": {"accuracy": 0.93}, "missing": ["loss"], "env": "<key>", "start": ..., "end": ...}

`failed`: a cell raised (its exception type and message are kept whole, line breaks included);
`error`: the run could not happen (the environment, the kernel, bad input).
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from envlens.errors import CellExecutionError, EnvlensError
from envlens.fileio import atomic_write_text

if TYPE_CHECKING:
    from envlens.kernels.run import RunReport

Record = dict[str, Any]


def of_report(report: RunReport) -> Record:
    record: Record = {
        "status": "ok" if report.error is None else "failed",
        "exit": 0 if report.error is None else 1,
        "seconds": round(report.seconds, 3),
        "env": report.key,
        "output": str(report.output),
    }
    if report.error is not None:
        record.update(of_error(report.error))
        record["status"] = "failed"
    if report.values or report.missing:
        record["values"] = report.values
        record["missing"] = report.missing
    return record


def of_error(exc: EnvlensError, seconds: float | None = None) -> Record:
    """A run that failed: a cell's exception keeps its own type and message."""
    if isinstance(exc, CellExecutionError):
        kind, message, status = exc.ename, exc.evalue, "failed"
    else:
        kind, message, status = type(exc).__name__, exc.one_line(), "error"
    record: Record = {
        "status": status,
        "exit": exc.exit_code,
        "error": exc.one_line(),
        "error_type": kind,
        "error_message": message,
    }
    if seconds is not None:
        record["seconds"] = round(seconds, 3)
    return record


def process_start(default: float) -> float:
    """When this process started (wall clock), so a record's time includes Python's own start-up;
    `default` where the system cannot say (not Linux)."""
    try:
        with open("/proc/self/stat", encoding="ascii") as f:
            ticks = int(f.read().rsplit(")", 1)[1].split()[19])  # start, in ticks since boot
        age = time.clock_gettime(time.CLOCK_BOOTTIME) - ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return default
    return time.time() - age if 0 <= age < 3600 else default


def write(path: Path, record: Record, *, started: float) -> None:
    """The record with the run's wall-clock start (the process's) and end and the host, written
    atomically."""
    data = {
        **record,
        "start": round(process_start(started), 3),
        "end": round(time.time(), 3),
        "host": socket.gethostname(),
    }
    atomic_write_text(path, json.dumps(data, indent=1, default=str) + "\n")
