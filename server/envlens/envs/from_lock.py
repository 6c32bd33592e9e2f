"""Environments from a lock, exactly: the lock becomes a pinned requirements file with hashes.

`uv export --script FILE --frozen` turns uv's lock into requirements (scripts use their own
`<file>.py.lock`; notebooks go through a temporary script beside them with `metadata["uv.lock"]`
as its lock, as juv does). The environment is then `uv pip install -r that ipykernel`: every locked
package at its locked version, its hashes verified, and ipykernel resolved around them.

The file is cached by the lock's hash and the declaration, so rebuilding from the same lock costs
no uv call. A lock that no longer matches the declaration is refused with a LockError.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal

from envlens import paths
from envlens.envs.runner import run, tool_env
from envlens.fileio import atomic_write_text
from envlens.resolve import Resolution
from envlens.settings import Settings

ExportFormat = Literal["requirements.txt", "pylock.toml"]


def _uv(settings: Settings | None, uv: Path | None) -> Path:
    if uv is not None:
        return uv
    from envlens.envs.uvbin import find_uv

    return find_uv(settings)


def checked_lock(resolution: Resolution, settings: Settings | None = None) -> str:
    """The file's lock text, when it exists, parses, and still belongs to the declaration."""
    from envlens.lock import require_fresh_lock

    if resolution.spec.backend == "conda":  # exports are PyPI formats made from a uv lock
        from envlens.envs.conda_lock import lock_where
        from envlens.errors import BadInputError

        raise BadInputError(
            f"{resolution.path.name} declares conda packages; exports are made from uv locks",
            path=resolution.path,
            hint=f"Share the conda lock itself ({lock_where(resolution)[1]}, pixi's lock format)",
        )

    return require_fresh_lock(resolution, settings)


def uv_export(
    resolution: Resolution,
    fmt: ExportFormat = "requirements.txt",
    *,
    settings: Settings | None = None,
    uv: Path | None = None,
    hashes: bool = True,
) -> str:
    """uv's export of the file's (fresh) lock, without uv's header (it names a temporary file)."""
    from envlens.lock import declaration_script, lock_failure, lock_workspace

    lock_text = checked_lock(resolution, settings)
    uv_bin = _uv(settings, uv)
    with lock_workspace(resolution, declaration_script(resolution), lock_text) as ws:
        args: list[str | Path] = [
            uv_bin,
            "export",
            "--script",
            ws.script,
            "--frozen",
            "--no-header",
            "--format",
            fmt,
            "--no-python-downloads",
        ]
        if not hashes:
            args.append("--no-hashes")
        res = run(args, cwd=ws.script.parent, env=tool_env())
        if not res.ok:
            raise lock_failure(res, resolution, [res.log()])
        return res.stdout


def locked_requirements(
    resolution: Resolution, settings: Settings | None = None, *, uv: Path | None = None
) -> Path:
    """A requirements.txt of the lock (pinned, with hashes), cached by lock and declaration."""
    from envlens.lock import declaration_script

    lock_text = checked_lock(resolution, settings)
    digest = hashlib.sha256(
        (lock_text + "\0" + declaration_script(resolution)).encode()
    ).hexdigest()[:16]
    target = paths.cache_dir() / "locked" / f"{digest}.txt"
    if target.exists():
        return target
    text = uv_export(resolution, settings=settings, uv=uv)
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(target, text)
    return target


def lock_install_args(
    resolution: Resolution, settings: Settings | None = None, *, uv: Path | None = None
) -> list[str] | None:
    """What the uv backend installs instead of the declaration: `-r <locked requirements>`, when
    the file has a lock that matches its declaration; None (build from the declaration) otherwise,
    for the editor's "Lock is out of date" diagnostic says so and a build should still work."""
    from envlens.lock import lock_state

    if resolution.lock_text is None or lock_state(resolution, settings) != "fresh":
        return None
    return ["-r", str(locked_requirements(resolution, settings, uv=uv))]
