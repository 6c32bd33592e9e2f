"""Time to a ready kernel (kernel_info reply), against baselines measured in the same run.

    .venv/bin/python tests/bench/bench_kernel_start.py [--n 10] [--only a|b]

(a) cached environment: envlens's whole path (resolve + ensure_environment, a cache hit + kernel
    start, i.e. `KernelRegistry.start`, what `envlens/kernel/start` runs) against the floor:
    jupyter-client's `start_new_async_kernel` way (AsyncKernelManager + wait_for_ready) starting
    `python -m ipykernel_launcher` in that same environment. Goal: at most 1.10x.
(b) new requirements (ipykernel, numpy, pandas; wheels already in uv's cache, warmed first): a fresh
    envlens cache each round, so the environment is built, then the kernel started; against
    `uv run --no-project --with ipykernel --with numpy --with pandas python -m ipykernel_launcher`
    started by jupyter-client the same way. Goal: at most 1.0x.

Rounds alternate envlens / baseline so drift on a shared machine hits both. Medians are printed.
Needs PyPI the first time (to fill uv's cache).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager

from envlens.environment import ensure_environment
from envlens.envs.uv import find_uv
from envlens.envs.uv_backend import stop_bytecode, wait_for_bytecode
from envlens.kernels.registry import KernelRegistry
from envlens.resolve import resolve
from envlens.settings import Settings


def write_notebook(path: Path, dependencies: list[str]) -> Path:
    decl = (
        "# /// script\n# dependencies = [" + ", ".join(f'"{d}"' for d in dependencies) + "]\n# ///"
    )
    cell = {
        "cell_type": "code",
        "execution_count": None,
        "metadata": {},
        "outputs": [],
        "source": decl.splitlines(keepends=True),
    }
    data = {
        "cells": [cell],
        "metadata": {
            "kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1) + "\n")
    return path


async def jupyter_client_start(argv: list[str], cwd: Path, specs: Path) -> float:
    """jupyter-client on its own: a kernelspec with `argv`, AsyncKernelManager, wait_for_ready."""
    name = f"bench{abs(hash(tuple(argv))) % 10**8}"
    spec_dir = specs / name
    spec_dir.mkdir(parents=True, exist_ok=True)
    (spec_dir / "kernel.json").write_text(
        json.dumps(
            {"argv": [*argv, "-f", "{connection_file}"], "display_name": name, "language": "python"}
        )
    )
    ksm = KernelSpecManager(kernel_dirs=[str(specs)])
    t0 = time.perf_counter()
    # IPC in a private folder, as envlens does (and ipykernel 7 asks for): same transport both sides.
    ipc = Path(tempfile.mkdtemp(prefix="bench-ipc-"))
    km = AsyncKernelManager(
        kernel_name=name, kernel_spec_manager=ksm, transport="ipc", ip=str(ipc / "k")
    )
    await km.start_kernel(cwd=str(cwd))
    kc = km.client()
    kc.start_channels()
    await kc.wait_for_ready(timeout=120)
    elapsed = time.perf_counter() - t0
    kc.stop_channels()
    await km.shutdown_kernel(now=True)
    shutil.rmtree(ipc, ignore_errors=True)
    return elapsed


async def envlens_start(nb: Path, settings: Settings) -> float:
    registry = KernelRegistry()
    t0 = time.perf_counter()
    managed = await registry.start(nb, settings=settings)
    elapsed = time.perf_counter() - t0
    await registry.shutdown_all()
    assert managed.session.kernel_info, "no kernel_info reply"
    return elapsed


def report(label: str, ours: list[float], base: list[float], goal: float, base_label: str) -> bool:
    o, b = statistics.median(ours), statistics.median(base)
    ratio = o / b
    ok = ratio <= goal
    print(f"{label}")
    print(
        f"  envlens     median {o * 1000:7.0f} ms  (min {min(ours) * 1000:.0f}, max {max(ours) * 1000:.0f}, n={len(ours)})"
    )
    print(
        f"  {base_label:<11} median {b * 1000:7.0f} ms  (min {min(base) * 1000:.0f}, max {max(base) * 1000:.0f}, n={len(base)})"
    )
    print(f"  ratio {ratio:.2f}x  goal <= {goal:.2f}x  {'OK' if ok else 'MISSED'}")
    return ok


async def alternate(
    n: int, ours: Callable[[], Awaitable[float]], base: Callable[[], Awaitable[float]]
) -> tuple[list[float], list[float]]:
    a: list[float] = []
    b: list[float] = []
    for i in range(n):
        if i % 2 == 0:
            a.append(await ours())
            b.append(await base())
        else:
            b.append(await base())
            a.append(await ours())
    return a, b


async def bench_cached(n: int, work: Path) -> bool:
    os.environ["ENVLENS_CACHE_DIR"] = str(work / "cache-a")
    settings = Settings.from_env()
    nb = write_notebook(work / "a" / "cached.ipynb", ["six"])
    res = resolve(nb, settings=settings)
    t0 = time.perf_counter()
    info = ensure_environment(res, settings=settings)
    print(
        f"(a) built the environment once in {time.perf_counter() - t0:.1f} s "
        f"(Python {info.python_version}); waiting for its bytecode"
    )
    wait_for_bytecode(info.env_dir)
    specs = work / "specs-a"
    argv = [str(info.python), "-m", "ipykernel_launcher"]
    await jupyter_client_start(argv, nb.parent, specs)  # warm the OS caches for both
    await envlens_start(nb, settings)
    ours, base = await alternate(
        n, lambda: envlens_start(nb, settings), lambda: jupyter_client_start(argv, nb.parent, specs)
    )
    # Where envlens's time goes, outside the kernel.
    t0 = time.perf_counter()
    for _ in range(100):
        r = resolve(nb, settings=settings)
    t_resolve = (time.perf_counter() - t0) / 100
    t0 = time.perf_counter()
    for _ in range(100):
        ensure_environment(r, settings=settings)
    t_ensure = (time.perf_counter() - t0) / 100
    print(
        f"    resolve {t_resolve * 1e6:.0f} us, ensure_environment (cache hit) {t_ensure * 1e6:.0f} us"
    )
    return report("(a) ready kernel, cached environment", ours, base, 1.10, "jupyter-cl.")


async def bench_new(n: int, work: Path) -> bool:
    reqs = ["numpy", "pandas"]
    nb = write_notebook(work / "b" / "fresh.ipynb", reqs)
    settings = Settings.from_env()
    uv = str(find_uv(settings))
    counter = 0

    def fresh_cache() -> None:
        nonlocal counter
        counter += 1
        cache = work / f"cache-b{counter}"
        os.environ["ENVLENS_CACHE_DIR"] = str(cache)

    # Warm uv's cache (wheels) through both paths, and learn the Python envlens picks.
    fresh_cache()
    info = ensure_environment(resolve(nb, settings=settings), settings=settings)
    wait_for_bytecode(info.env_dir)
    python = info.python_version
    # The same interpreter envlens used (by path: uv may not find pyenv versions by number).
    base = subprocess.run(
        [str(info.python), "-c", "import sys; print(sys.base_prefix)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    interpreter = str(Path(base) / "bin" / "python3")
    argv = [
        uv,
        "run",
        "--no-project",
        "--python",
        interpreter,
        *[x for r in ["ipykernel", *reqs] for x in ("--with", r)],
        "python",
        "-m",
        "ipykernel_launcher",
    ]
    specs = work / "specs-b"
    warm = await jupyter_client_start(argv, nb.parent, specs)
    print(
        f"(b) warmed: envlens built in {info.seconds:.1f} s, `uv run --with` first start {warm:.1f} s "
        f"(Python {python})"
    )

    async def ours() -> float:
        fresh_cache()
        return await envlens_start(nb, settings)

    def clear_old() -> None:
        # One new environment at a time, as a user makes them: stop this round's background
        # bytecode compile (the environment is thrown away) so rounds do not pile compiles up.
        for p in work.glob("cache-b*"):
            for env in (p / "envs").glob("*"):
                stop_bytecode(env)
            shutil.rmtree(p, ignore_errors=True)

    async def ours_and_clean() -> float:
        t = await ours()
        clear_old()
        return t

    a, b = await alternate(n, ours_and_clean, lambda: jupyter_client_start(argv, nb.parent, specs))
    return report(
        "(b) ready kernel, new requirements (ipykernel numpy pandas)", a, b, 1.0, "uv run"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10, help="rounds per measurement (default 10)")
    parser.add_argument("--only", choices=["a", "b"])
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="envlens-bench-"))
    ok = True
    try:
        if args.only in (None, "a"):
            ok = asyncio.run(bench_cached(args.n, work)) and ok
        if args.only in (None, "b"):
            ok = asyncio.run(bench_new(args.n, work)) and ok
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
