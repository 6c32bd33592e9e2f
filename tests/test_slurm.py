"""`envlens slurm`: a job array on a REAL one-node Slurm cluster (scripts/slurm_cluster.sh installs
slurm-wlm and munge when missing and starts munged, slurmctld and slurmd; all stopped at the end)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from envlens.resolve import resolve

ROOT = Path(__file__).resolve().parents[1]
ENVLENS = str(Path(sys.executable).parent / "envlens")

BODY = """\
# %% tags=["parameters"]
alpha = 0

# %%
import tinyalpha
print(f"RESULT alpha={alpha} tinyalpha={tinyalpha.__version__}")
"""


def envlens(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ENVLENS, *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "ENVLENS_TRUST": "1", **(env or {})},
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[str]:
    """A running one-node cluster; yields its SLURM_CONF (also set in os.environ meanwhile)."""
    # Under /tmp, readable by all: munged's socket folder and every folder above it must be.
    base = Path(tempfile.mkdtemp(prefix="envlens-slurm-", dir="/tmp"))
    base.chmod(0o755)
    script = str(ROOT / "scripts" / "slurm_cluster.sh")
    ports = {"SLURMCTLD_PORT": str(_free_port()), "SLURMD_PORT": str(_free_port())}
    started = subprocess.run(
        ["bash", script, "start", str(base)],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, **ports},
    )
    try:
        assert started.returncode == 0, started.stderr[-3000:]
        conf = started.stdout.strip().rsplit("=", 1)[1]
        old = os.environ.get("SLURM_CONF")
        os.environ["SLURM_CONF"] = conf
        try:
            yield conf
        finally:
            if old is None:
                os.environ.pop("SLURM_CONF", None)
            else:
                os.environ["SLURM_CONF"] = old
    finally:
        subprocess.run(["bash", script, "stop", str(base)], timeout=120, check=False)
        # stop removes a PID file only once its daemon is gone (a zombie counts as gone)
        left = [p.name for p in (*base.glob("run/*.pid"), *base.glob("munge/*.pid"))]
        shutil.rmtree(base, ignore_errors=True)
        assert not left, f"daemons still running: {left}"


def locked_script(folder: Path, write_script: Any) -> Path:
    script = write_script(folder / "sweep.py", ["tinyalpha"], body=BODY)
    lock = envlens("lock", str(script))
    assert lock.returncode == 0, lock.stderr
    return script


@pytest.mark.slow
def test_job_array_on_a_real_cluster(
    slurm_cluster: str, offline_index: Path, tmp_path: Path, write_script: Any
) -> None:
    script = locked_script(tmp_path, write_script)
    out = tmp_path / "jobs"
    proc = envlens("slurm", str(script), "--grid", "alpha=1,2,3", "--out-dir", str(out), "--wait")
    assert proc.returncode == 0, proc.stderr
    folder = out / "sweep"
    job_text = (folder / "job.sbatch").read_text()
    assert (
        "#SBATCH --array=0-2" in job_text
        and f"export ENVLENS_CACHE_DIR={offline_index}" in job_text
    )
    assert json.loads((folder / "params.json").read_text()) == [
        {"alpha": 1},
        {"alpha": 2},
        {"alpha": 3},
    ]
    key = resolve(script).key  # the lock-based key (the lock's hash is part of it)
    runs = json.loads((folder / "summary.json").read_text())["runs"]
    assert [r["status"] for r in runs] == ["ok", "ok", "ok"], proc.stderr
    for i, r in enumerate(runs):
        nb = json.loads(Path(r["output"]).read_text())
        text = "".join(
            "".join(o.get("text", ""))
            for c in nb["cells"]
            if c["cell_type"] == "code"
            for o in c["outputs"]
        )
        assert f"RESULT alpha={i + 1} tinyalpha=2.0" in text
        envs = {c["metadata"]["envlens"]["env"] for c in nb["cells"] if "envlens" in c["metadata"]}
        assert envs == {key}
    assert "3-" not in proc.stdout and "2-alpha=3.ipynb" in proc.stdout  # the summary table


@pytest.mark.slow
def test_a_failing_task_is_named(
    slurm_cluster: str, offline_index: Path, tmp_path: Path, write_script: Any
) -> None:
    script = write_script(
        tmp_path / "div.py", ["tinyalpha"], body=BODY.replace("print(", "print(1 / alpha, ")
    )
    assert envlens("lock", str(script)).returncode == 0
    proc = envlens(
        "slurm", str(script), "--grid", "alpha=1,0", "--out-dir", str(tmp_path / "j"), "--wait"
    )
    assert proc.returncode == 1
    assert "1 of 2 runs failed: #1 (alpha=0): failed" in proc.stderr
    assert "ZeroDivisionError" in proc.stderr


def test_without_slurm_the_script_is_still_written(
    isolated_cache: Path, tmp_path: Path, write_script: Any, offline_index: Path
) -> None:
    script = locked_script(tmp_path, write_script)
    bare = {"PATH": str(Path(sys.executable).parent)}  # no sbatch here
    proc = envlens("slurm", str(script), "--grid", "alpha=1,2", "--out-dir", str(tmp_path / "j"),
                   "--partition", "gpu", "--time", "00:10:00", "--cpus", "2", "--mem", "4G",
                   "--submit", env=bare)  # fmt: skip
    assert proc.returncode == 1
    assert "sbatch was not found" in proc.stderr and "job.sbatch" in proc.stderr
    text = (tmp_path / "j" / "sweep" / "job.sbatch").read_text()
    for line in [
        "--partition=gpu",
        "--time=00:10:00",
        "--cpus-per-task=2",
        "--mem=4G",
        "--array=0-1",
    ]:
        assert f"#SBATCH {line}" in text
    assert f"ENVLENS=({ENVLENS})" in text and "run --locked --trust" in text
    assert "-p alpha=2 -o" in text


@pytest.mark.parametrize(
    ("setup", "args", "code", "message"),
    [
        ("none", ["--grid", "alpha=1,2"], 1, "the lock is what makes every node"),
        ("stale", ["--grid", "alpha=1,2"], 1, "the lock is out of date"),
        ("locked", ["--grid", "alhpa=1,2"], 2, "unknown parameter alhpa"),
        ("locked", ["--grid", "alpha"], 2, "is not NAME=VALUE1,VALUE2"),
        ("locked", ["--grid", "alpha=1,2", "--time", "soon"], 2, "is not a Slurm time"),
    ],
)
def test_bad_input_writes_and_submits_nothing(
    offline_index: Path,
    tmp_path: Path,
    write_script: Any,
    setup: str,
    args: list[str],
    code: int,
    message: str,
) -> None:
    if setup == "none":
        script = write_script(tmp_path / "sweep.py", ["tinyalpha"], body=BODY)
    else:
        script = locked_script(tmp_path, write_script)
    if setup == "stale":
        text = script.read_text()
        script.write_text(text.replace("# dependencies = [", '# dependencies = ["tinyimg", '))
    proc = envlens("slurm", str(script), *args, "--out-dir", str(tmp_path / "j"), "--submit")
    assert proc.returncode == code, proc.stderr
    assert message in proc.stderr
    if setup == "none":
        assert "envlens lock" in proc.stderr
    assert not (tmp_path / "j").exists()
