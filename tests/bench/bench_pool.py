"""A new notebook that declares nothing, opened with a prewarmed pool -> ready kernel, against the
floor measured in the same run.

    .venv/bin/python tests/bench/bench_pool.py [--n 10]

envlens: `KernelRegistry.start` (what `envlens/kernel/start` runs) on a new notebook with no
declaration, in a cache whose store does not hold the default environment yet but whose pool holds
a spare (envs/pool.py): resolve, take the spare (a rename and its `ready` record), record version 1
in the file's history, start the kernel, kernel_info reply.
Floor: jupyter-client on its own (AsyncKernelManager + wait_for_ready, IPC like envlens) starting
`python -m ipykernel_launcher` in that same environment, ready.

After each envlens round the environment goes back to the pool as a spare (renamed, its pool
record written again, its `ready` record removed): the very content the pool's builder made,
bytecode and all, so every round takes a spare as a user's first undeclared notebook does,
without building one spare per round. Rounds alternate envlens / floor; medians are printed.
Goal: at most 1.10x.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_kernel_start import alternate, jupyter_client_start, report


def write_notebook(path: Path) -> Path:
    """A new notebook as the editor makes one: a code cell, no declaration."""
    cell = {"cell_type": "code", "execution_count": None, "id": "c1", "metadata": {},
            "outputs": [], "source": ["print('hello')"]}  # fmt: skip
    data = {"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    return path


async def main_async(n: int, work: Path) -> bool:
    # Before envlens is imported: every folder envlens writes lives in `work`.
    os.environ["ENVLENS_CACHE_DIR"] = str(work / "cache")
    os.environ["ENVLENS_STATE_DIR"] = str(work / "state")
    os.environ["ENVLENS_CONFIG_DIR"] = str(work / "config")
    from envlens import paths
    from envlens.envs import history, pool
    from envlens.envs.record import read_ready
    from envlens.kernels.registry import KernelRegistry
    from envlens.resolve import pool_resolution
    from envlens.settings import Settings

    settings = Settings.from_env()
    key = pool_resolution(settings).key
    t0 = time.perf_counter()
    built = pool.replenish(settings)
    (spare,) = pool.spares(key)
    print(
        f"prewarmed {built} spare in {time.perf_counter() - t0:.1f} s "
        f"(Python {spare.python_version}, bytecode compiled): {spare.path.name}"
    )

    def to_pool() -> None:
        """The environment a round took goes back to the pool, as the spare it was."""
        env = paths.env_dir(key)
        record = read_ready(env)
        assert record is not None, "the round did not take the spare"
        paths.ready_file(env).unlink()
        (env / pool.RECORD).write_text(
            json.dumps(
                {
                    "key": key,
                    "created": time.time(),
                    "python_version": record["python_version"],
                    "base_python": record["base_python"],
                }
            )
        )
        os.rename(env, pool.pool_dir() / f"{key}-{uuid.uuid4().hex[:8]}")

    counter = 0

    async def ours() -> float:
        nonlocal counter
        counter += 1
        nb = write_notebook(work / "notebooks" / f"Untitled-{counter}.ipynb")
        registry = KernelRegistry()
        t = time.perf_counter()
        managed = await registry.start(nb, settings=settings)
        elapsed = time.perf_counter() - t
        await registry.shutdown_all()
        assert managed.session.kernel_info, "no kernel_info reply"
        (v1,) = history.load(nb).versions
        assert v1.action == "pool", f"round {counter} did not take the spare: {v1.action}"
        to_pool()
        return elapsed

    specs = work / "specs"

    async def floor() -> float:
        (current,) = pool.spares(key)  # the same environment, wherever it is now
        argv = [str(paths.env_python(current.path)), "-m", "ipykernel_launcher"]
        return await jupyter_client_start(argv, work / "notebooks", specs)

    (work / "notebooks").mkdir()
    await ours()  # warm the OS caches for both
    await floor()
    a, b = await alternate(n, ours, floor)
    return report(
        "new undeclared notebook with a prewarmed pool -> ready kernel", a, b, 1.10, "jupyter-cl."
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10, help="rounds per measurement (default 10)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="envlens-bench-pool-"))
    try:
        ok = asyncio.run(main_async(args.n, work))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
