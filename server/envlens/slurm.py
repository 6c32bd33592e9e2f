"""`envlens slurm`: the parameter matrix as a Slurm job array.

The lock is what makes every node build the same environment, so a fresh lock is required. The job
folder (`<out-dir>/<stem>/`) holds `params.json` (one object per task), `job.sbatch` (an array
`--array=0-N`; task i runs `envlens run --locked --trust --record status/<i>.json -p ...` for
combination i), `logs/`, `status/<i>.json` (each task's outcome record, envlens.outcome: status,
seconds, the error's type and message, the `--collect` values) and the output notebooks, named as
`envlens matrix` names them, so the same summary reads both. Every path in job.sbatch goes through
envlens.script_quote: a file or folder name with a space, a quote, `$(...)` or a line break is read
back exactly and never runs as a command.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from envlens.errors import BadInputError, EnvlensError, LockError
from envlens.fileio import atomic_write_text
from envlens.matrix import Params, RunResult, job_folder, output_path
from envlens.params import as_arguments, describe
from envlens.script_quote import shell_join, shell_word, slurm_filename

_TIME = re.compile(r"^(\d+-)?\d+(:\d{1,2}){0,2}$")  # sbatch's forms: M, M:S, H:M:S, D-H[:M[:S]]
_MEM = re.compile(r"^\d+[KMGT]?$", re.IGNORECASE)


@dataclass(frozen=True)
class Resources:
    partition: str | None = None
    time: str | None = None
    cpus: int | None = None
    mem: str | None = None

    def check(self) -> None:
        if self.time is not None and not _TIME.match(self.time):
            raise BadInputError(
                f"--time {self.time!r} is not a Slurm time",
                hint="Write it as MINUTES, HH:MM:SS or DAYS-HH:MM:SS, for example --time 01:00:00",
            )
        if self.cpus is not None and self.cpus < 1:
            raise BadInputError(f"--cpus must be at least 1, not {self.cpus}", hint="Pass --cpus 1")
        if self.mem is not None and not _MEM.match(self.mem):
            raise BadInputError(
                f"--mem {self.mem!r} is not a Slurm memory size",
                hint="Write it as a number with K, M, G or T, for example --mem 4G",
            )
        if self.partition is not None and not re.match(r"^[\w.,-]+$", self.partition):
            raise BadInputError(
                f"--partition {self.partition!r} is not a partition name", hint="Check sinfo"
            )

    def directives(self) -> list[str]:
        lines = []
        if self.partition:
            lines.append(f"#SBATCH --partition={self.partition}")
        if self.time:
            lines.append(f"#SBATCH --time={self.time}")
        if self.cpus:
            lines.append(f"#SBATCH --cpus-per-task={self.cpus}")
        if self.mem:
            lines.append(f"#SBATCH --mem={self.mem}")
        return lines


@dataclass(frozen=True)
class Job:
    folder: Path
    script: Path
    params_file: Path
    path: Path
    key: str
    combos: list[Params]
    collect: list[str] = field(default_factory=list)

    def output(self, index: int) -> Path:
        return output_path(self.folder, index, self.combos[index])


def envlens_executable() -> list[str]:
    """The absolute path of the envlens that runs now, so the nodes run the same one."""
    candidate = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if candidate is not None and candidate.name == "envlens" and candidate.exists():
        return [str(candidate.absolute())]
    beside = Path(sys.executable).parent / "envlens"
    if beside.exists():
        return [str(beside.absolute())]
    found = shutil.which("envlens")
    if found:
        return [str(Path(found).absolute())]
    return [str(Path(sys.executable).absolute()), "-m", "envlens"]


def check_locked(path: Path) -> tuple[str, str]:
    """The file's env key and its lock, or LockError saying how to lock it."""
    from envlens.locking.drift import require_fresh_lock
    from envlens.resolve import resolve
    from envlens.settings import Settings

    settings = Settings.from_env()
    res = resolve(path, settings=settings)
    if res.lock_text is None:
        raise LockError(
            f"{path.name} has no lock; a Slurm job needs one: the lock is what makes every node "
            "rebuild the same environment",
            path=path,
            hint=f"Run `envlens lock {path}` first",
        )
    require_fresh_lock(res, settings)
    return res.key, res.lock_text


def _task_cases(job: Job) -> str:
    lines = []
    for i, combo in enumerate(job.combos):
        argv = [*as_arguments(combo), "-o", str(job.output(i))]
        lines.append(f"  {i}) set -- {shell_join(argv)} ;;")
    return "\n".join(lines)


def _log_lines(job: Job) -> tuple[list[str], list[str]]:
    """The `--output` directive, or (when no #SBATCH line can hold the job folder's name: a line
    break in it) a redirect in the script body, where the quoted name is safe."""
    pattern = slurm_filename(str(job.folder / "logs"), "%A_%a.out")
    if pattern is not None:
        return [f"#SBATCH --output={pattern}"], []
    return [], [
        "# The job folder's name cannot be written in an #SBATCH line, so each task sends its",
        "# output to logs/ itself (Slurm's own messages go to slurm-<job>_<task>.out where sbatch",
        "# ran).",
        'exec >"$JOB/logs/${SLURM_ARRAY_JOB_ID:-0}_$TASK.out" 2>&1',
    ]


def sbatch_script(job: Job, resources: Resources, envlens: list[str], timeout: float | None) -> str:
    """The job array. Every path in it is quoted by envlens.script_quote (no path reaches a comment
    or an unquoted word), so any name a file system allows is read back exactly."""
    options = ["--locked", "--trust"]
    if timeout:
        options += ["--timeout", f"{timeout:g}"]
    if job.collect:
        options += ["--collect", *job.collect]
    name = re.sub(r"[^\w.-]", "-", f"envlens-{job.path.stem}")
    directives, redirect = _log_lines(job)
    lines = [
        "#!/bin/bash",
        f"#SBATCH --job-name={name}",
        f"#SBATCH --array=0-{len(job.combos) - 1}",
        *directives,
        *resources.directives(),
        f"# Written by `envlens slurm` for FILE below (environment {job.key}).",
        "# Each array task runs one combination of params.json; every node builds the same",
        "# environment from the lock (--locked; the first task on a node builds it, the others",
        "# wait for it) and runs it unattended (--trust: approved when the job was written).",
        "# Task i leaves status/i.json: its status, seconds, error and --collect values.",
        "# Copy this folder and the file (with its lock) to a cluster as is.",
        "set -u",
    ]
    for var in ("ENVLENS_CACHE_DIR", "UV_CACHE_DIR"):
        # Nodes that share a file system share the caches: uv's cache makes a build links, not
        # downloads; envlens's store holds the built environment.
        if os.environ.get(var):
            lines.append(f"export {var}={shell_word(os.environ[var])}")
    lines += [
        f"ENVLENS=({shell_join(envlens)})",
        f"FILE={shell_word(str(job.path))}",
        f"JOB={shell_word(str(job.folder))}",
        'TASK="${SLURM_ARRAY_TASK_ID:?run this script with sbatch (it is a job array)}"',
        *redirect,
        'case "$TASK" in',
        _task_cases(job),
        '  *) echo "envlens: no combination $TASK in params.json" >&2; exit 2 ;;',
        "esac",
        'RECORD="$JOB/status/$TASK.json"',
        'cd -- "${FILE%/*}/" || exit 2',
        f'"${{ENVLENS[@]}}" run {shell_join(options)} --record "$RECORD" "$@" "$FILE"',
        "code=$?",
        "# envlens writes the record itself; this one is for a task that could not (it crashed).",
        'if [ ! -s "$RECORD" ]; then',
        '  mkdir -p "$JOB/status"',
        '  printf \'{"exit": %s, "host": "%s"}\\n\' "$code" "${SLURMD_NODENAME:-}" > "$RECORD"',
        "fi",
        'exit "$code"',
        "",
    ]
    return "\n".join(lines)


def write_job(
    path: Path,
    combos: Sequence[Params],
    out_dir: Path,
    resources: Resources,
    *,
    timeout: float | None = None,
    trust_override: bool = False,
    collect: Sequence[str] = (),
) -> Job:
    """Check everything (lock, approval, parameter names), then write the job folder."""
    from envlens.matrix import prepare_checks

    path = path.absolute()
    resources.check()
    key, _lock = check_locked(path)
    prepare_checks(path, combos, trust_override=trust_override)
    for combo in combos:
        as_arguments(combo)
    folder = job_folder(out_dir, path)
    (folder / "logs").mkdir(parents=True, exist_ok=True)
    status = folder / "status"
    if status.exists():  # an earlier job's records would be read as this one's
        shutil.rmtree(status)
    status.mkdir()
    params_file = folder / "params.json"
    atomic_write_text(params_file, json.dumps(list(combos), indent=1) + "\n")
    job = Job(folder, folder / "job.sbatch", params_file, path, key, list(combos), list(collect))
    atomic_write_text(job.script, sbatch_script(job, resources, envlens_executable(), timeout))
    job.script.chmod(0o755)
    return job


# --- submitting and waiting ----------------------------------------------------------------------


def _tool(name: str, job: Job) -> str:
    found = shutil.which(name)
    if found is None:
        raise EnvlensError(
            f"{name} was not found: this machine has no Slurm client",
            path=job.script,
            hint=f"Copy {job.folder} and {job.path.name} (with its lock) to a cluster login node "
            f"and run `sbatch {job.script.name}` in that folder",
        )
    return found


def submit(job: Job) -> str:
    """sbatch the array; returns the job id."""
    sbatch = _tool("sbatch", job)
    proc = subprocess.run(
        [sbatch, "--parsable", str(job.script)],
        capture_output=True,
        text=True,
        check=False,
        cwd=job.folder,
    )
    if proc.returncode != 0:
        raise EnvlensError(
            f"sbatch refused the job: {proc.stderr.strip() or proc.stdout.strip()}",
            path=job.script,
            hint="Check --partition, --time, --cpus and --mem against `sinfo`",
        )
    return proc.stdout.strip().split(";")[0]


def wait(
    job: Job, job_id: str, *, poll: float = 1.0, progress: Callable[[str], None] | None = None
) -> None:
    """Poll squeue until no task of the array is pending or running."""
    squeue = _tool("squeue", job)
    last = ""
    while True:
        proc = subprocess.run(
            [squeue, "-h", "-j", job_id, "-o", "%T"], capture_output=True, text=True, check=False
        )
        if proc.returncode != 0 and "Invalid job id" not in proc.stderr:
            raise EnvlensError(
                f"squeue failed: {proc.stderr.strip()}",
                hint=f"Check the job with `squeue -j {job_id}`; the outputs go to {job.folder}",
            )
        states = proc.stdout.split()
        if not states:
            return
        counts = ", ".join(f"{states.count(s)} {s.lower()}" for s in sorted(set(states)))
        if progress and counts != last:
            progress(f"job {job_id}: {counts}")
        last = counts
        time.sleep(poll)


def _log_error(job: Job, index: int) -> tuple[str | None, str | None]:
    logs = sorted((job.folder / "logs").glob(f"*_{index}.out"), key=lambda p: p.stat().st_mtime)
    if not logs:
        return None, None
    text = logs[-1].read_text(errors="replace")
    errors = [ln for ln in text.splitlines() if ln.startswith("envlens: error:")]
    message = errors[-1].removeprefix("envlens: error:").strip() if errors else None
    return str(logs[-1]), message


def _read_record(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def collect(job: Job) -> list[RunResult]:
    """Each task's record (written by `envlens run --record`) and log into the matrix's rows."""
    results = []
    for i, combo in enumerate(job.combos):
        r = RunResult(i, dict(combo), job.output(i))
        log, message = _log_error(job, i)
        if log:
            r.extra["log"] = log
        data = _read_record(job.folder / "status" / f"{i}.json")
        if data is None:
            r.status = "missing"
            r.error = message or "the task left no status record (cancelled, or out of time?)"
            results.append(r)
            continue
        if data.get("host"):
            r.extra["host"] = data["host"]
        if "status" in data:
            r.apply(data)
        else:  # the script's own record: envlens could not write one (it crashed or was killed)
            code = data.get("exit")
            r.status = "error"
            r.error = message or f"envlens ended with exit code {code} and left no record"
            r.error_type, r.error_message = "exit", r.error
        results.append(r)
    return results


__all__ = ["Job", "Resources", "collect", "describe", "submit", "wait", "write_job"]
