"""`envlens slurm PATH --grid ... [--partition P] [--time T] [--cpus N] [--mem M] [--submit] [--wait]
[--collect NAME ...]`.

Writes a Slurm job array (one task per combination of parameters) that rebuilds the file's
environment from its lock on every node; `--submit` hands it to sbatch, `--wait` waits for the array
and prints the same summary as `envlens matrix`.
"""

from __future__ import annotations

import argparse
from typing import Any

from envlens.cli.common import say
from envlens.cli.matrix_cmd import add_parameter_arguments, combinations


def register(sub: Any) -> None:
    p = sub.add_parser(
        "slurm",
        help="run a parameter matrix as a Slurm job array, every node building the env from the lock",
        description="Write a job folder (params.json, job.sbatch: a job array whose task i runs "
        "`envlens run --locked --trust` with combination i) for a file with a fresh lock; "
        "optionally submit it and wait for the summary.",
    )
    add_parameter_arguments(p)
    p.add_argument("--partition", help="sbatch --partition")
    p.add_argument("--time", help="sbatch --time per task (for example 01:00:00)")
    p.add_argument("--cpus", type=int, help="sbatch --cpus-per-task")
    p.add_argument("--mem", help="sbatch --mem per task (for example 4G)")
    p.add_argument("--submit", action="store_true", help="submit the array with sbatch")
    p.add_argument(
        "--wait",
        action="store_true",
        help="submit, wait until every task ended, print the summary (exit 1 if any failed)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from envlens import trust
    from envlens.collect import check_names
    from envlens.matrix import print_report, require_all_ok, write_summary
    from envlens.slurm import Resources, collect, submit, wait, write_job

    resources = Resources(args.partition, args.time, args.cpus, args.mem)
    resources.check()
    combos = combinations(args)
    names = check_names(args.collect)
    job = write_job(
        args.path,
        combos,
        args.out_dir,
        resources,
        timeout=args.timeout,
        trust_override=trust.batch_override(args.trust),
        collect=names,
    )
    say(f"wrote {job.script} ({len(combos)} tasks) and {job.params_file}")
    if not (args.submit or args.wait):
        say(f"submit it with: sbatch {job.script}")
        return 0
    job_id = submit(job)
    print(job_id, flush=True)
    say(f"submitted job array {job_id} ({len(combos)} tasks); logs in {job.folder / 'logs'}")
    if not args.wait:
        return 0
    wait(job, job_id, progress=say)
    results = collect(job)
    summary = write_summary(job.folder, job.path, results, names, env=job.key, slurm_job=job_id)
    print_report(results, summary, names)
    require_all_ok(results, summary)
    return 0
