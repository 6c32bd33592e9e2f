"""Lock time: envlens's lock_file (pins + uv's lock) against plain `uv lock --script`, same declaration,
same run, alternating, each from no lock at all. Goal: envlens at most 1.2x uv.

Run: .venv/bin/python tests/bench/bench_lock.py [--rounds N] [--offline-index]
(PyPI by default: uv's index revalidation is part of both figures.)
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conftest import write_script
from envlens.envs.uv import find_uv
from envlens.locking.versions import lock_file

DECLARATION = ["requests>=2", "rich", "attrs[tests] ; python_version >= '3.9'"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--requires-python", default=">=3.10")
    args = ap.parse_args()
    uv = str(find_uv())
    ours: list[float] = []
    theirs: list[float] = []
    cli: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["ENVLENS_CACHE_DIR"] = str(
            Path(tmp) / "cache"
        )  # nothing built: no installed pins
        for i in range(args.rounds + 1):  # round 0 warms uv's cache for both
            a = write_script(Path(tmp) / f"uv{i}.py", DECLARATION, args.requires_python)
            b = write_script(Path(tmp) / f"envlens{i}.py", DECLARATION, args.requires_python)
            t = time.perf_counter()
            subprocess.run([uv, "lock", "--script", str(a)], check=True, capture_output=True)
            uv_s = time.perf_counter() - t
            t = time.perf_counter()
            lock_file(b)
            ours_s = time.perf_counter() - t
            c = write_script(Path(tmp) / f"cli{i}.py", DECLARATION, args.requires_python)
            t = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "envlens", "lock", "--trust", str(c)],
                check=True,
                capture_output=True,
            )
            cli_s = time.perf_counter() - t
            if i:
                theirs.append(uv_s)
                ours.append(ours_s)
                cli.append(cli_s)
    u, o = statistics.median(theirs), statistics.median(ours)
    print(
        f"uv lock --script : median {u * 1000:7.0f} ms  ({', '.join(f'{x * 1000:.0f}' for x in theirs)})"
    )
    print(
        f"envlens lock     : median {o * 1000:7.0f} ms  ({', '.join(f'{x * 1000:.0f}' for x in ours)})"
    )
    c = statistics.median(cli)
    print(
        f"envlens lock CLI : median {c * 1000:7.0f} ms  ({', '.join(f'{x * 1000:.0f}' for x in cli)})"
    )
    print(
        f"ratio envlens/uv : {o / u:.2f}x in process (the editor's case; goal <= 1.2x), "
        f"{c / u:.2f}x as a CLI process"
    )


if __name__ == "__main__":
    main()
