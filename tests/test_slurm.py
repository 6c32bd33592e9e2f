"""`envlens slurm`: a job array on a REAL one-node Slurm cluster (scripts/slurm_cluster.sh installs
slurm-wlm and munge when missing and starts munged, slurmctld and slurmd; all stopped at the end)."""

from __future__ import annotations

import csv
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


def _outputs_text(path: Path) -> str:
    nb = json.loads(path.read_text())
    return "".join(
        "".join(o.get("text", ""))
        for c in nb["cells"]
        if c["cell_type"] == "code"
        for o in c["outputs"]
    )


HOSTILE_FOLDER = "dir $(touch PWNED) 'q' \"d\" `touch PWNED` ; #x %A"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("folder", "stem", "out_dir", "directive"),
    [
        # Everything an #SBATCH line can hold: the logs stay in the --output directive.
        (HOSTILE_FOLDER, "swe ep's $(touch PWNED)", "out dir 'x' $(touch PWNED) 100%", True),
        # A line break (and a backslash) no #SBATCH line can hold: the task redirects its own
        # output in the quoted script body instead; nothing is refused and nothing runs.
        (
            HOSTILE_FOLDER + "\n#SBATCH --wrap=touch PWNED\ntouch PWNED",
            "n\nb $(touch PWNED)",
            "out\ndir\\ $(touch PWNED)",
            False,
        ),
    ],
)
def test_any_path_is_safe_in_the_job_script(
    slurm_cluster: str,
    offline_index: Path,
    tmp_path: Path,
    write_script: Any,
    folder: str,
    stem: str,
    out_dir: str,
    directive: bool,
) -> None:
    """Issue 10: a hostile notebook folder, file name and --out-dir, under a REAL sbatch."""
    work = tmp_path / "work"  # the tasks' and sbatch's folder: a `touch PWNED` would land here
    (tmp_path / folder).mkdir(parents=True)
    work.mkdir()
    script = write_script(tmp_path / folder / f"{stem}.py", ["tinyalpha"], body=BODY)
    assert envlens("lock", str(script)).returncode == 0
    out = tmp_path / out_dir
    proc = subprocess.run(
        [ENVLENS, "slurm", str(script), "--grid", "alpha=1,2", "--out-dir", str(out), "--wait"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=work,
        env={**os.environ, "ENVLENS_TRUST": "1"},
    )
    assert proc.returncode == 0, proc.stderr
    pwned = [p for p in tmp_path.rglob("PWNED*")] + [p for p in Path.cwd().glob("PWNED*")]
    assert not pwned, pwned
    folder_out = out / stem
    text = (folder_out / "job.sbatch").read_text()
    assert ("#SBATCH --output=" in text) is directive
    for line in text.splitlines():  # no path (hence no line of one) outside a quoted word
        assert not line.startswith(("touch", "$(", "#SBATCH --wrap")), line
    runs = json.loads((folder_out / "summary.json").read_text())["runs"]
    assert [r["status"] for r in runs] == ["ok", "ok"]
    for i, r in enumerate(runs):
        assert Path(r["output"]).parent == folder_out
        assert f"RESULT alpha={i + 1} tinyalpha=2.0" in _outputs_text(Path(r["output"]))
        assert Path(r["log"]).parent == folder_out / "logs"
        assert "ran 3 cells" in Path(r["log"]).read_text()


@pytest.mark.slow
def test_collected_values_and_whole_error_messages(
    slurm_cluster: str, offline_index: Path, tmp_path: Path, write_script: Any
) -> None:
    """Issue 12 item 8: --collect values and a failed task's exception type and full message."""
    body = BODY + (
        "\n# %%\nscore = {'alpha': alpha, 'twice': [alpha, alpha]}\n"
        "if alpha == 2:\n    raise ValueError('bad alpha: 2\\nsecond line: \"quoted\"')\n"
    )
    script = write_script(tmp_path / "sweep.py", ["tinyalpha"], body=body)
    assert envlens("lock", str(script)).returncode == 0
    proc = envlens(
        "slurm", str(script), "--grid", "alpha=1,2", "--out-dir", str(tmp_path / "j"),
        "--wait", "--collect", "score", "alpha", "never_set",
    )  # fmt: skip
    assert proc.returncode == 1
    assert "1 of 2 runs failed: #1 (alpha=2): failed" in proc.stderr
    summary = json.loads((tmp_path / "j" / "sweep" / "summary.json").read_text())
    assert summary["collect"] == ["score", "alpha", "never_set"]
    ok, bad = summary["runs"]
    assert ok["values"] == {"score": {"alpha": 1, "twice": [1, 1]}, "alpha": 1}
    assert ok["missing"] == ["never_set"]
    assert bad["status"] == "failed" and bad["error_type"] == "ValueError"
    assert bad["error_message"] == 'bad alpha: 2\nsecond line: "quoted"'
    assert "values" not in bad
    rows = list(csv.DictReader((tmp_path / "j" / "sweep" / "summary.csv").open()))
    assert [r["alpha"] for r in rows] == ["1", "2"]
    assert rows[0]["score"] == '{"alpha": 1, "twice": [1, 1]}' and rows[0]["never_set"] == ""
    assert rows[0]["value:alpha"] == "1"  # a collected name that is also a parameter
    assert rows[1]["error_type"] == "ValueError" and rows[1]["error_message"].startswith(
        "bad alpha"
    )
    _job_id, head, *_rows = proc.stdout.splitlines()  # the job id, then the table
    header = head.split()
    assert header == ["#", "params", "status", "seconds", "score", "alpha", "never_set", "output"]


@pytest.mark.slow
def test_sbatch_reads_directive_values_back(slurm_cluster: str, tmp_path: Path) -> None:
    """What sbatch itself parses out of the #SBATCH lines envlens.script_quote writes."""
    from envlens.script_quote import sbatch_value, slurm_filename

    for text in ["a b", 'it\'s "q"', "#x $(touch PWNED) `y` ; &", "100% ü \\ end", "-x"]:
        job = tmp_path / "j.sh"
        value = sbatch_value(text)
        output = slurm_filename(f"/tmp/{text.replace(chr(92), '')}", "%A_%a.out")
        assert value is not None and output is not None
        job.write_text(
            f"#!/bin/bash\n#SBATCH --job-name={value}\n#SBATCH --output={output}\ntrue\n"
        )
        proc = subprocess.run(
            ["sbatch", "-v", "--test-only", str(job)], capture_output=True, text=True, timeout=60
        )
        parsed = dict(
            (k.strip(), v.strip())
            for k, _, v in (
                ln.removeprefix("sbatch: ").partition(":") for ln in proc.stderr.splitlines()
            )
        )
        assert parsed.get("job-name") == text, proc.stderr
        folder = text.replace("\\", "").replace("%", "%%")
        assert parsed.get("output") == f"/tmp/{folder}/%A_%a.out", proc.stderr
