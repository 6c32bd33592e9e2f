"""The shapes of envlens's own LSP messages (docs/protocol.md; mirrored in extension/src/protocol.ts)."""

from __future__ import annotations

from typing import Any, Literal, TypedDict

RESOLVE = "envlens/resolve"
ENVIRONMENT = "envlens/environment"
APPLY_NOTEBOOK_EDIT = "envlens/applyNotebookEdit"  # server -> client request
TRUST_STATE = "envlens/trustState"
# server -> client notification {uri, key}: a document's declaration now means another environment
# (sent once the server has read the edit, so a resolve asked after it sees the new text).
DECLARATION_CHANGED = "envlens/declarationChanged"

KERNEL_START = "envlens/kernel/start"
KERNEL_EXECUTE = "envlens/kernel/execute"
KERNEL_INTERRUPT = "envlens/kernel/interrupt"
KERNEL_RESTART = "envlens/kernel/restart"
KERNEL_SHUTDOWN = "envlens/kernel/shutdown"
KERNEL_UPDATE = "envlens/kernel/update"
KERNEL_COMM_SEND = "envlens/kernel/commSend"  # client -> server: a widget front end's message
KERNEL_PIP_CELL = "envlens/kernel/pipCell"
KERNEL_OUTPUT = "envlens/kernel/output"  # server -> client notification: a cell's output
KERNEL_COMM = "envlens/kernel/comm"  # server -> client notification: a widget message
KERNEL_INPUT = "envlens/kernel/input"  # server -> client request: input() / getpass()

CMD_INSTALL = "envlens.install"
CMD_SYNC = "envlens.sync"
CMD_LOCK = "envlens.lock"
CMD_ADD = "envlens.add"
CMD_REMOVE = "envlens.remove"
CMD_DECLARE_FROM_IMPORTS = "envlens.declareFromImports"
CMD_REVERT = "envlens.revert"
CMD_IMPORT = "envlens.import"
CMD_PRUNE = "envlens.pruneEnvironments"

# The environment lifecycle (envlens.lsp.lifecycle).
HISTORY = "envlens/history"
HISTORY_LOG = "envlens/historyLog"
JOBS = "envlens/jobs"
JOB_LOG = "envlens/jobLog"
CMD_MOVE_PIP_INSTALLS = "envlens.movePipInstalls"
CMD_INSTALL_AND_RERUN = "envlens.installAndRerun"
CMD_CHECK_PORTABILITY = "envlens.checkPortability"
CMD_TRUST = "envlens.trust"


class UriParams(TypedDict):
    uri: str


class SourceInfo(TypedDict):
    kind: str
    label: str
    path: str | None
    cell: int | None
    startLine: int | None
    endLine: int | None


class ResolveResult(TypedDict):
    path: str
    runtime: Literal["python", "deno"]
    source: SourceInfo
    backend: str
    requirements: list[str]
    declared: list[str]
    condaPackages: list[str]
    channels: list[str]
    requiresPython: str | None
    locked: bool
    lockHash: str | None
    key: str
    envPath: str
    built: bool


class PackageInfo(TypedDict):
    name: str
    version: str


OperationStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]


class OperationInfo(TypedDict):
    """An operation (a job, kept across restarts: envs/jobs.py)."""

    id: str
    title: str
    kind: str  # add | remove | sync | import | revert | lock | check
    status: OperationStatus
    log: str
    started: float
    ended: float | None
    error: str | None
    version: int | None  # the history version it recorded


class EnvironmentInfo(TypedDict):
    key: str
    built: bool
    envPath: str
    pythonVersion: str | None
    packages: list[PackageInfo]
    lockState: Literal["none", "fresh", "stale"]
    trusted: bool
    operations: list[OperationInfo]


class NotebookCellData(TypedDict, total=False):
    kind: Literal["code", "markdown"]
    source: str
    metadata: dict[str, Any]


class NotebookOperation(TypedDict, total=False):
    """`replaceCells` (start, deleteCount, cells) or `metadata` (the notebook's Jupyter metadata)."""

    kind: Literal["replaceCells", "metadata"]
    start: int
    deleteCount: int
    cells: list[NotebookCellData]
    metadata: dict[str, Any]


class ApplyNotebookEditParams(TypedDict):
    uri: str
    edits: list[NotebookOperation]


class CommandResult(TypedDict, total=False):
    ok: bool
    key: str
    envPath: str
    pythonVersion: str
    reused: bool
    changed: bool
    added: list[str]
    removed: list[str]
    distribution: str
