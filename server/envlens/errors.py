"""Every expected failure, as a typed exception.

Each one carries what a user needs: the file, the line where it applies, the dependency, and what to
do next. One boundary each (CLI, LSP, extension) turns them into a message; nothing else formats them.
"""

from __future__ import annotations

from pathlib import Path


class EnvlensError(Exception):
    """An expected failure. ``exit_code`` 2 is bad input, 1 a failure of the work itself."""

    exit_code = 1

    def __init__(
        self,
        message: str,
        *,
        path: Path | str | None = None,
        line: int | None = None,
        column: int | None = None,
        cell: int | None = None,
        hint: str | None = None,
        log: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.path = Path(path) if path is not None else None
        self.line = line  # 1-based, as editors and compilers print it
        self.column = column  # 1-based
        self.cell = cell  # 1-based notebook cell number; then `line` counts within that cell
        self.hint = hint
        self.log = log  # full tool output, for "Show Logs"

    def location(self) -> str:
        if self.path is None:
            return ""
        where = str(self.path)
        if self.cell is not None:
            where += f", cell {self.cell}"
            if self.line is not None:
                where += f", line {self.line}"
            return where
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return where

    def one_line(self) -> str:
        """`file:line: what is wrong. What to do.`: the form the CLI prints."""
        text = self.message.rstrip(".") + "."
        if self.hint:
            text += " " + self.hint.rstrip(".") + "."
        where = self.location()
        return f"{where}: {text}" if where else text


class BadInputError(EnvlensError):
    """The user's file or arguments are wrong; nothing was changed."""

    exit_code = 2


class DeclarationError(BadInputError):
    """A declaration that cannot be read: broken TOML, two script blocks, bad metadata."""


class InvalidRequirementError(DeclarationError):
    """A requirement string that PEP 508 does not accept."""

    def __init__(self, requirement: str, reason: str, **kwargs: object) -> None:
        hint = (
            kwargs.pop("hint", None) or "Write it as a PEP 508 requirement, for example 'numpy>=2'"
        )
        super().__init__(
            f"invalid requirement {requirement!r}: {reason}",
            hint=str(hint),
            **kwargs,  # type: ignore[arg-type]
        )
        self.requirement = requirement


class NotebookFormatError(BadInputError):
    """A notebook file that is not valid notebook JSON."""


class UnknownRuntimeError(BadInputError):
    """A kernelspec that names neither Python nor Deno."""


class FileAccessError(EnvlensError):
    """The operating system refused a read or write (permissions, immutable, disk full...)."""


class UvNotFoundError(EnvlensError):
    """No uv binary to run."""


class PythonNotFoundError(EnvlensError):
    """requires-python asks for a version that no interpreter on this machine has."""

    def __init__(self, message: str, *, available: list[str], **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.available = available


class ResolutionError(EnvlensError):
    """uv could not find versions that satisfy the declaration (unknown package, conflict)."""


class BuildError(EnvlensError):
    """Building the environment failed for another reason (killed, disk, network)."""


class BuildCancelledError(BuildError):
    """The build was cancelled (by the user or the editor); nothing was left behind."""


class TrustKeyError(EnvlensError):
    """The machine's trust key cannot be used (wrong permissions, wrong size, unreadable)."""


class LockError(EnvlensError):
    """The lock is missing, corrupt, for another declaration, or out of date."""


class UntrustedError(EnvlensError):
    """The file declares dependencies this machine has not approved."""

    exit_code = 3


class KernelError(EnvlensError):
    """The kernel failed to start, died, or did not answer."""


class CellExecutionError(EnvlensError):
    """A cell raised; carries the cell number and the error for the summary."""

    def __init__(
        self, message: str, *, cell: int, ename: str, evalue: str, **kwargs: object
    ) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.cell = cell
        self.ename = ename
        self.evalue = evalue


class CondaPackageNotFoundError(ResolutionError):
    """A conda package (or version of it) that no declared channel has for this platform."""


class ChannelUnreachableError(BuildError):
    """A conda channel that cannot be read (no network, wrong URL, missing folder)."""


class ToolUnavailableError(EnvlensError):
    """A tool envlens acquires by itself (Deno) could not be found, acquired or approved."""
