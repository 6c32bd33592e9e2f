"""Slurm per-task overhead: a job array on a REAL one-node cluster against `envlens matrix` of the
same notebook, measured in the same run.

    .venv/bin/python tests/bench/bench_slurm.py [--tasks 20] [--sleep 1.5] [--profile]

The notebook's own work is a `time.sleep(--sleep)` cell. Both sides start from a fresh envlens cache,
so each builds the environment once (the matrix before fanning out; the array on the node, by its
first task, the others waiting for it), and both share uv's cache, as nodes sharing a home do.
--rounds (default 3) alternate which runs first, as the load of a shared machine drifts.
- matrix: `envlens matrix --grid i=0..N-1 -j C`, C = the node's CPUs (the array's concurrency).
- slurm:  `envlens slurm --grid i=0..N-1 --wait`.
Figures (medians):
- a matrix run's own time (kernel start, cells, writing: the summary's `seconds`) and a Slurm
  task's time (its `envlens run` process from start to end, from its status record); per-task
  overhead = task - run. Goal: at most 2 s.
- the whole command (wall), and the overhead per task it amounts to: (slurm - matrix) * C / N,
  which adds Slurm's own dispatch of each task and `--wait`'s polling.
--profile loads a sitecustomize (PYTHONPATH) into every task's envlens that stamps its progress lines
and counts its CPU, and prints where a task's time goes (median seconds per phase) and the CPU
seconds of a task against a matrix run's share of the matrix's CPU: those do not depend on the load.
The cluster comes from scripts/slurm_cluster.sh (started on free ports, stopped at the end).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from conftest import ensure_wheelhouse, make_wheel  # noqa: E402

ENVLENS = str(Path(sys.executable).parent / "envlens")
GOAL = 2.0

NOTEBOOK = """\
# /// script
# dependencies = ["tinyalpha"]
# ///

# %% tags=["parameters"]
i = 0

# %%
import time
import tinyalpha

time.sleep({sleep})
result = i * 2
"""

# Loaded by every task's `envlens run` through PYTHONPATH (--profile): stamps each stderr line with
# the seconds since start-up, and at exit writes the process's wall and CPU seconds (its own and its
# children's: the kernel) and the stamped lines, so the phases of a task can be read back.
PROFILER = """\
import os, sys, time
_dir = os.environ.get("ENVLENS_BENCH_PROFILE")
if _dir and sys.argv[0].endswith("envlens") and "run" in sys.argv:
    import atexit, json, resource
    _t0 = time.monotonic()
    _lines = []

    class _Stamped:
        def __init__(self, stream):
            self.stream = stream

        def write(self, text):
            for line in text.splitlines():
                if line.strip():
                    _lines.append([round(time.monotonic() - _t0, 3), line])
            return self.stream.write(text)

        def __getattr__(self, name):
            return getattr(self.stream, name)

    sys.stderr = _Stamped(sys.stderr)

    def _done():
        me = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        with open(os.path.join(_dir, f"{os.getpid()}.json"), "w") as f:
            json.dump({"wall": time.monotonic() - _t0, "cpu": me.ru_utime + me.ru_stime,
                       "cpu_children": kids.ru_utime + kids.ru_stime, "lines": _lines}, f)

    atexit.register(_done)
"""

# Phases of a task, each ending at the first stderr line that starts with this text (after
# "envlens: "), in order; the last phase ends when the process exits.
PHASES = [
    ("start-up, imports, resolve, approval, lock check", "environment "),
    ("environment (cache hit, or build / wait for it)", "starting the kernel"),
    ("kernel start to ready", "cell "),
    ("cells (the notebook's own work), shutdown, write", "ran "),
    ("after the run (bytecode wait, record, exit)", None),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_cluster(base: Path) -> str:
    ports = {"SLURMCTLD_PORT": str(_free_port()), "SLURMD_PORT": str(_free_port())}
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "slurm_cluster.sh"), "start", str(base)],
        capture_output=True,
        text=True,
        env={**os.environ, **ports},
        check=False,
    )
    if proc.returncode != 0:
        sys.exit(f"the cluster did not start:\n{proc.stderr[-2000:]}")
    return proc.stdout.strip().rsplit("=", 1)[1]


def node_cpus(conf: str) -> int:
    out = subprocess.run(
        ["sinfo", "-h", "-o", "%c"],
        capture_output=True,
        text=True,
        env={**os.environ, "SLURM_CONF": conf},
    )
    return int(out.stdout.split()[0])


def envlens(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the command and everything it waited for)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run([ENVLENS, *args], capture_output=True, text=True, env=env, check=False)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    if proc.returncode != 0:
        sys.exit(f"envlens {' '.join(args[:1])} failed:\n{proc.stderr[-3000:]}")
    return elapsed, cpu


def phases(folder: Path) -> tuple[list[tuple[str, float]], list[float], list[float]]:
    """Median seconds per phase; each task's CPU seconds (envlens, and its kernel)."""
    per_phase: dict[str, list[float]] = {label: [] for label, _ in PHASES}
    cpu: list[float] = []
    kernel_cpu: list[float] = []
    for path in folder.glob("*.json"):
        data = json.loads(path.read_text())
        cpu.append(data["cpu"])
        kernel_cpu.append(data["cpu_children"])
        last = 0.0
        for label, marker in PHASES:
            if marker is None:
                end = data["wall"]
            else:
                found = [t for t, ln in data["lines"] if ln.startswith("envlens: " + marker)]
                if not found:
                    continue
                end = found[0]
            per_phase[label].append(end - last)
            last = end
    medians = [(label, statistics.median(v)) for label, v in per_phase.items() if v]
    return medians, cpu, kernel_cpu


def matrix_round(
    nb: Path, grid: list[str], cpus: int, tmp: Path, env: dict[str, str]
) -> dict[str, Any]:
    out = tmp / "matrix"
    wall, cpu = envlens(
        ["matrix", str(nb), *grid, "-j", str(cpus), "--out-dir", str(out)],
        {**env, "ENVLENS_CACHE_DIR": str(tmp / "matrix-cache")},
    )
    runs = json.loads((out / "sweep" / "summary.json").read_text())["runs"]
    return {"wall": wall, "cpu": cpu, "secs": [float(r["seconds"]) for r in runs]}


def slurm_round(
    nb: Path, grid: list[str], tmp: Path, env: dict[str, str], profile: bool
) -> dict[str, Any]:
    slurm_env = {**env, "ENVLENS_CACHE_DIR": str(tmp / "slurm-cache")}
    profiles = tmp / "profiles"
    if profile:
        profiles.mkdir()
        site = tmp / "site"
        site.mkdir()
        (site / "sitecustomize.py").write_text(PROFILER)
        slurm_env["PYTHONPATH"] = os.pathsep.join(
            p for p in [str(site), env.get("PYTHONPATH", "")] if p
        )
        slurm_env["ENVLENS_BENCH_PROFILE"] = str(profiles)
    wall, _ = envlens(
        ["slurm", str(nb), *grid, "--out-dir", str(tmp / "slurm"), "--wait"], slurm_env
    )
    job = tmp / "slurm" / "sweep"
    records = [json.loads(p.read_text()) for p in sorted((job / "status").glob("*.json"))]
    envs = [p for p in (tmp / "slurm-cache" / "envs").iterdir() if not p.name.startswith(".")]
    return {
        "wall": wall,
        "secs": [float(r["end"]) - float(r["start"]) for r in records],
        "builds": len(envs),
        "compiled": all((p / "envlens-bytecode").exists() for p in envs),
        "profiles": profiles if profile else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3, help="matrix and array, alternating order")
    ap.add_argument("--sleep", type=float, default=1.5, help="the notebook's own work, seconds")
    ap.add_argument("--profile", action="store_true", help="stamp every task's phases and CPU")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="envlens-bench-slurm-", dir="/tmp"))
    tmp.chmod(0o755)  # munged's socket folder and every folder above it must be reachable
    conf = start_cluster(tmp / "cluster")
    try:
        cpus = node_cpus(conf)
        tiny = tmp / "tiny"
        tiny.mkdir()
        make_wheel(tiny, "tinyalpha", "2.0", {"tinyalpha": "__version__ = '2.0'\n"})
        (tmp / "empty").mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("UV_INDEX", "UV_EXTRA"))}
        env.update(
            SLURM_CONF=conf,
            ENVLENS_TRUST="1",
            ENVLENS_CONFIG_DIR=str(tmp / "config"),
            UV_DEFAULT_INDEX=(tmp / "empty").as_uri(),
            UV_FIND_LINKS=f"{ensure_wheelhouse()},{tiny}",
        )
        nb = tmp / "work" / "sweep.py"
        nb.parent.mkdir()
        nb.write_text(NOTEBOOK.format(sleep=args.sleep))
        envlens(["lock", str(nb)], {**env, "ENVLENS_CACHE_DIR": str(tmp / "lock-cache")})
        grid = ["--grid", "i=" + ",".join(str(i) for i in range(args.tasks))]
        print(f"{args.tasks} runs of a notebook that sleeps {args.sleep:g} s; node: {cpus} CPUs; "
              f"{args.rounds} rounds, matrix and array in turn, each from a fresh envlens cache")  # fmt: skip
        rounds = []
        for r in range(args.rounds):
            where = tmp / f"round{r}"
            where.mkdir()
            load = os.getloadavg()[0]
            if r % 2 == 0:
                m = matrix_round(nb, grid, cpus, where, env)
                s = slurm_round(nb, grid, where, env, args.profile)
            else:
                s = slurm_round(nb, grid, where, env, args.profile)
                m = matrix_round(nb, grid, cpus, where, env)
            mm, tt = statistics.median(m["secs"]), statistics.median(s["secs"])
            rounds.append((m, s, mm, tt))
            print(f"round {r + 1}: matrix run {mm:5.2f} s, Slurm task {tt:5.2f} s -> overhead "
                  f"{tt - mm:5.2f} s; whole: matrix {m['wall']:5.1f} s, slurm {s['wall']:5.1f} s "
                  f"-> {(s['wall'] - m['wall']) * cpus / args.tasks:5.2f} s per task; "
                  f"builds on the node {s['builds']} (bytecode {'compiled' if s['compiled'] else 'MISSING'}); "
                  f"load average {load:.1f}")  # fmt: skip
        overhead = statistics.median(tt - mm for _m, _s, mm, tt in rounds)
        amortized = statistics.median(
            (s["wall"] - m["wall"]) * cpus / args.tasks for m, s, _mm, _tt in rounds
        )
        all_m = [x for m, _s, _mm, _tt in rounds for x in m["secs"]]
        all_t = [x for _m, s, _mm, _tt in rounds for x in s["secs"]]
        print(f"matrix run (its own time)    : median {statistics.median(all_m):5.2f} s")
        print(f"Slurm task (envlens process) : median {statistics.median(all_t):5.2f} s")
        print(
            f"per-task overhead            : {overhead:5.2f} s (median of rounds; goal <= {GOAL:g} s)"
        )
        print(f"whole command, per task      : {amortized:5.2f} s (Slurm's dispatch and --wait's polling in)")  # fmt: skip
        if args.profile:
            medians, cpu, kernel_cpu = phases(rounds[-1][1]["profiles"])
            print("where a task's time goes (last round, median over tasks, wall seconds):")
            for label, secs in medians:
                print(f"  {label:50} {secs:6.2f}")
            m_cpu = statistics.median(m["cpu"] for m, _s, _mm, _tt in rounds) / args.tasks
            print(f"CPU seconds per task: envlens {statistics.median(cpu):.2f}, its kernel "
                  f"{statistics.median(kernel_cpu):.2f}; per matrix run (the whole matrix's CPU / "
                  f"{args.tasks}): {m_cpu:.2f}")  # fmt: skip
        if overhead > GOAL:
            sys.exit(1)
    finally:
        subprocess.run(
            ["bash", str(ROOT / "scripts" / "slurm_cluster.sh"), "stop", str(tmp / "cluster")],
            capture_output=True,
            check=False,
        )
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
