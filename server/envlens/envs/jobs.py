"""Environment operations as jobs: add, remove, sync, import, revert (and lock, check), each with a
status (queued, running, succeeded, failed, cancelled) and a log, kept across restarts.

```
<state>/jobs/<id>.json   the job (written whole at each change of status)
<state>/jobs/<id>.log    its log, appended line by line while it runs
```
The CLI and the language server write them alike, so `envlens jobs` lists the editor's too. A job
records the process running it; one left queued or running by a process that has exited (the
sidecar was killed, the machine restarted) reads as cancelled, saying so. The newest `KEEP` jobs
are kept.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from envlens import paths
from envlens.envs.state import read_json, record_from_json, write_json
from envlens.errors import BuildCancelledError, EnvlensError
from envlens.processes import pid_alive

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
JobKind = Literal["add", "remove", "sync", "import", "revert", "lock", "check"]
DONE = ("succeeded", "failed", "cancelled")
KEEP = 200


def jobs_dir() -> Path:
    return paths.state_dir() / "jobs"


def _process_start(pid: int) -> str | None:
    """The kernel's start time of a process (so a reused pid is not taken for it), if known."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[-1].split()[19]  # field 22: starttime


def _alive(pid: int, start: str | None) -> bool:
    if start is not None and Path("/proc/self/stat").exists():
        return _process_start(pid) == start
    return pid_alive(pid)


@dataclass
class Job:
    id: str
    kind: str  # JobKind
    title: str
    path: str | None  # the notebook or script
    status: str = "queued"  # JobStatus
    created: float = 0.0
    started: float | None = None
    ended: float | None = None
    error: str | None = None
    version: int | None = None  # the history version it recorded
    key: str | None = None  # the environment it is about
    pid: int = 0
    pid_start: str | None = None

    @property
    def file(self) -> Path:
        return jobs_dir() / f"{self.id}.json"

    @property
    def log_file(self) -> Path:
        return jobs_dir() / f"{self.id}.log"

    @property
    def done(self) -> bool:
        return self.status in DONE

    def save(self) -> None:
        write_json(self.file, asdict(self))

    def append(self, line: str) -> None:
        """Add a line (or several) to the log; a log that cannot be written only loses lines."""
        with contextlib.suppress(OSError):
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
            with open(self.log_file, "a", encoding="utf-8") as f:
                f.write(line if line.endswith("\n") else line + "\n")

    def start(self) -> None:
        self.status, self.started = "running", time.time()
        self.save()

    def finish(
        self,
        status: str,
        *,
        error: str | None = None,
        version: int | None = None,
        key: str | None = None,
    ) -> None:
        if self.done:
            return
        self.status, self.ended = status, time.time()
        self.error = error
        if version is not None:
            self.version = version
        if key is not None:
            self.key = key
        if error:
            self.append(f"{status}: {error}")
        self.save()

    def read_log(self) -> str:
        try:
            return self.log_file.read_text(encoding="utf-8")
        except OSError:
            return ""

    def to_json(self, *, with_log: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "title": self.title,
            "path": self.path,
            "status": self.status,
            "created": self.created,
            "started": self.started,
            "ended": self.ended,
            "error": self.error,
            "version": self.version,
            "key": self.key,
        }
        if with_log:
            data["log"] = self.read_log()
        return data

    @classmethod
    def from_json(cls, data: Any) -> Job | None:
        return record_from_json(cls, data)


def create(
    kind: str, title: str, path: Path | None, *, status: str = "running", key: str | None = None
) -> Job:
    now = time.time()
    job = Job(
        id=f"{time.strftime('%Y%m%d%H%M%S', time.localtime(now))}-{uuid.uuid4().hex[:6]}",
        kind=kind,
        title=title,
        path=str(Path(path).absolute()) if path is not None else None,
        status=status,
        created=now,
        started=now if status == "running" else None,
        key=key,
        pid=os.getpid(),
        pid_start=_process_start(os.getpid()),
    )
    job.append(f"{title} ({time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(now))})")
    job.save()
    _trim()
    return job


def _trim() -> None:
    files = sorted(jobs_dir().glob("*.json"))
    for old in files[:-KEEP]:
        for p in (old, old.with_suffix(".log")):
            with contextlib.suppress(OSError):
                p.unlink()


def get(job_id: str) -> Job | None:
    if not job_id or "/" in job_id or job_id.startswith("."):
        return None
    return _settled(Job.from_json(read_json(jobs_dir() / f"{job_id}.json")))


def _settled(job: Job | None) -> Job | None:
    """A job whose process has exited without finishing it reads as cancelled (and is saved so)."""
    if job is None or job.done or job.pid == os.getpid() or _alive(job.pid, job.pid_start):
        return job
    job.status, job.ended = "cancelled", job.ended or time.time()
    job.error = f"stopped: the process that ran it (pid {job.pid}) exited before it finished"
    job.append(job.error)
    with contextlib.suppress(OSError):
        job.save()
    return job


def list_jobs(path: Path | None = None, *, limit: int | None = None) -> list[Job]:
    """Jobs, oldest first; of one file when `path` is given."""
    want = str(Path(path).absolute()) if path is not None else None
    out: list[Job] = []
    try:
        files = sorted(jobs_dir().glob("*.json"))
    except OSError:
        return out
    for f in files:
        job = _settled(Job.from_json(read_json(f)))
        if job is not None and (want is None or job.path == want):
            out.append(job)
    out.sort(key=lambda j: j.created)
    return out[-limit:] if limit else out


@contextlib.contextmanager
def running(kind: str, title: str, path: Path | None) -> Iterator[Job]:
    """Run a piece of work as a job: failed (with the error and the tool's output), cancelled
    (Ctrl-C, a cancel), or succeeded when the block ends."""
    job = create(kind, title, path)
    try:
        yield job
    except BuildCancelledError as exc:
        job.finish("cancelled", error=exc.one_line())
        raise
    except KeyboardInterrupt:
        job.finish("cancelled", error="interrupted")
        raise
    except EnvlensError as exc:
        if exc.log:
            job.append(exc.log)
        job.finish("failed", error=exc.one_line())
        raise
    except BaseException as exc:
        job.finish("failed", error=f"{type(exc).__name__}: {exc}")
        raise
    job.finish("succeeded")
