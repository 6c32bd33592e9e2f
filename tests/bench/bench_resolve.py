"""Resolving 1,000 notebooks: detect the runtime, read the declaration, build the EnvSpec, key it.

    .venv/bin/python tests/bench/bench_resolve.py [--n 1000] [--rounds 5] [--profile]

No environment is built. The notebooks are a realistic mix in a git checkout: 40 % with a PEP 723
cell (juv's form), 20 % with nteract's `metadata.uv`, 10 % with conda metadata, 20 % declaring
nothing (the walk up for a project file ends at `.git`), 10 % under a folder with a pyproject.toml;
each has a dozen cells, some with outputs (about 10 kB). The floor printed beside it is reading
the same files and `json.loads` alone. Goal: at most 300 microseconds per notebook.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from envlens.resolve import resolve
from envlens.settings import Settings

GOAL_US = 300.0


def cells(i: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for j in range(12):
        if j % 4 == 3:
            out.append(
                {
                    "cell_type": "markdown",
                    "metadata": {},
                    "source": [f"## Part {j}\n", "Some text.\n"],
                }
            )
            continue
        outputs = []
        if j % 3 == 0:
            outputs = [
                {
                    "output_type": "stream",
                    "name": "stdout",
                    "text": [f"row {k}\n" for k in range(40)],
                }
            ]
        out.append(
            {
                "cell_type": "code",
                "execution_count": j,
                "id": f"{i:04d}{j:04d}",
                "metadata": {},
                "outputs": outputs,
                "source": [
                    "import numpy as np\n",
                    f"x{j} = np.arange({i + j})\n",
                    f"x{j}.sum()\n",
                ],
            }
        )
    return out


def make_notebooks(root: Path, n: int) -> list[Path]:
    repo = root / "repo"
    (repo / ".git").mkdir(parents=True)
    proj = repo / "proj"
    proj.mkdir()
    (proj / "pyproject.toml").write_text(
        '[project]\nname = "p"\nversion = "0"\ndependencies = ["numpy>=1.26", "pandas"]\n'
    )
    paths: list[Path] = []
    for i in range(n):
        kind = i % 10
        body = cells(i)
        metadata: dict[str, Any] = {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python", "version": "3.12.1"},
        }
        folder = repo / "nbs" / f"g{i % 20}"
        if kind < 4:
            decl = (
                f'# /// script\n# requires-python = ">=3.10"\n'
                f'# dependencies = ["numpy>=1.{i % 20}", "pandas", "matplotlib"]\n# ///'
            )
            body.insert(
                0,
                {
                    "cell_type": "code",
                    "execution_count": None,
                    "id": f"d{i:07d}",
                    "metadata": {"jupyter": {"source_hidden": True}},
                    "outputs": [],
                    "source": decl.splitlines(keepends=True),
                },
            )
        elif kind < 6:
            metadata["uv"] = {
                "dependencies": ["polars", f"requests>=2.{i % 30}"],
                "requires-python": ">=3.11",
            }
        elif kind == 6:
            metadata["conda"] = {
                "dependencies": ["numpy", "scipy"],
                "channels": ["conda-forge"],
                "python": "3.12",
            }
        elif kind == 9:
            folder = proj / "notebooks"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"nb{i:05d}.ipynb"
        data = {"cells": body, "metadata": metadata, "nbformat": 4, "nbformat_minor": 5}
        path.write_text(json.dumps(data, indent=1) + "\n")
        paths.append(path)
    return paths


def time_resolve(paths: list[Path], settings: Settings) -> float:
    t0 = time.perf_counter()
    for p in paths:
        resolve(p, settings=settings).key  # noqa: B018 - the key is part of the work
    return (time.perf_counter() - t0) / len(paths)


def time_floor(paths: list[Path]) -> float:
    t0 = time.perf_counter()
    for p in paths:
        with open(p, encoding="utf-8", newline="") as f:
            json.loads(f.read())
    return (time.perf_counter() - t0) / len(paths)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="print where the time goes")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="envlens-bench-resolve-"))
    try:
        paths = make_notebooks(root, args.n)
        size = sum(p.stat().st_size for p in paths) / len(paths)
        settings = Settings.from_env()
        kinds = {resolve(p, settings=settings).declaration.kind for p in paths}
        time_resolve(paths, settings)  # warm the OS cache and imports
        ours = [time_resolve(paths, settings) for _ in range(args.rounds)]
        floor = [time_floor(paths) for _ in range(args.rounds)]
        o, f = statistics.median(ours) * 1e6, statistics.median(floor) * 1e6
        print(
            f"resolve {args.n} notebooks (mean {size / 1000:.1f} kB; kinds: {', '.join(sorted(kinds))})"
        )
        print(
            f"  envlens resolve   median {o:6.0f} us per notebook  ({o * args.n / 1e6:.2f} s for {args.n})"
        )
        print(f"  read + json.loads median {f:6.0f} us per notebook  (floor)")
        print(
            f"  ratio vs goal {o / GOAL_US:.2f}x  goal <= {GOAL_US:.0f} us  {'OK' if o <= GOAL_US else 'MISSED'}"
        )
        if args.profile:
            prof = cProfile.Profile()
            prof.enable()
            time_resolve(paths, settings)
            prof.disable()
            pstats.Stats(prof).sort_stats("cumulative").print_stats(30)
        return 0 if o <= GOAL_US else 1
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
