"""Slurm per-task overhead: a job array on a REAL one-node cluster against `envlens matrix` of the
same notebook, measured in the same run.

    .venv/bin/python tests/bench/bench_slurm.py [--tasks 20] [--sleep 1.5] [--profile]

The notebook's own work is a `time.sleep(--sleep)` cell. Both sides start from a fresh envlens cache,
so each builds the environment once (the matrix before fanning out; the array on the node, by its
first task, the others waiting for it), and both share uv's cache, as nodes sharing a home do.
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=20)
    ap.add_argument("--sleep", type=float, default=1.5, help="the notebook's own work, seconds")
    ap.add_argument("--profile", action="store_true", help="cProfile every task; print phases")
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

        matrix_env = {**env, "ENVLENS_CACHE_DIR": str(tmp / "matrix-cache")}
        m_wall, m_cpu = envlens(
            ["matrix", str(nb), *grid, "-j", str(cpus), "--out-dir", str(tmp / "matrix")],
            matrix_env,
        )
        m_runs = json.loads((tmp / "matrix" / "sweep" / "summary.json").read_text())["runs"]
        m_secs = [float(r["seconds"]) for r in m_runs]

        slurm_env = {**env, "ENVLENS_CACHE_DIR": str(tmp / "slurm-cache")}
        profiles = tmp / "profiles"
        if args.profile:
            profiles.mkdir()
            site = tmp / "site"
            site.mkdir()
            (site / "sitecustomize.py").write_text(PROFILER)
            slurm_env["PYTHONPATH"] = os.pathsep.join(
                p for p in [str(site), env.get("PYTHONPATH", "")] if p
            )
            slurm_env["ENVLENS_BENCH_PROFILE"] = str(profiles)
        s_wall, _ = envlens(
            ["slurm", str(nb), *grid, "--out-dir", str(tmp / "slurm"), "--wait"], slurm_env
        )
        job = tmp / "slurm" / "sweep"
        records = [json.loads(p.read_text()) for p in sorted((job / "status").glob("*.json"))]
        t_secs = [float(r["end"]) - float(r["start"]) for r in records]
        builds = [p for p in (tmp / "slurm-cache" / "envs").iterdir() if not p.name.startswith(".")]
        compiled = all((p / "envlens-bytecode").exists() for p in builds)

        load = os.getloadavg()[0]
        m, t = statistics.median(m_secs), statistics.median(t_secs)
        print(f"{args.tasks} runs of a notebook that sleeps {args.sleep:g} s; node: {cpus} CPUs; "
              f"load average {load:.1f}")  # fmt: skip
        print(
            f"matrix run (its own time)    : median {m:5.2f} s  (min {min(m_secs):.2f}, max {max(m_secs):.2f})"
        )
        print(
            f"Slurm task (envlens process) : median {t:5.2f} s  (min {min(t_secs):.2f}, max {max(t_secs):.2f})"
        )
        print(f"per-task overhead            : {t - m:5.2f} s  (goal <= {GOAL:g} s)")
        print(f"whole matrix -j {cpus}            : {m_wall:5.1f} s")
        print(f"whole slurm --wait           : {s_wall:5.1f} s  -> {(s_wall - m_wall) * cpus / args.tasks:.2f} s per task, "
              "dispatch and polling included")  # fmt: skip
        print(f"environments built on the node: {len(builds)} (bytecode compiled: {compiled})")
        if args.profile:
            medians, cpu, kernel_cpu = phases(profiles)
            print("where a task's time goes (median over tasks, wall seconds):")
            for label, secs in medians:
                print(f"  {label:50} {secs:6.2f}")
            print(f"CPU seconds per task: envlens {statistics.median(cpu):.2f}, its kernel "
                  f"{statistics.median(kernel_cpu):.2f}; per matrix run (the whole matrix's CPU / "
                  f"{args.tasks}): {m_cpu / args.tasks:.2f}")  # fmt: skip
        if t - m > GOAL:
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
