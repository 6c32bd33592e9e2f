// Types of the extension <-> sidecar contract: keep in step with docs/protocol.md and
// server/envlens/lsp/protocol.py.

export type SourceKind =
  | "pep723"
  | "notebook-uv"
  | "notebook-conda"
  | "pyproject"
  | "uv-project"
  | "pixi"
  | "environment-yml"
  | "none";

export interface ResolveResult {
  path: string;
  runtime: "python" | "deno";
  source: {
    kind: SourceKind;
    label: string;
    path: string | null;
    cell: number | null;
    startLine: number | null;
    endLine: number | null;
  };
  backend: "uv" | "conda" | "project" | "deno";
  requirements: string[];
  declared: string[];
  condaPackages: string[];
  channels: string[];
  requiresPython: string | null;
  locked: boolean;
  lockHash: string | null;
  key: string;
  envPath: string;
  built: boolean;
  /** The built environment's Python ("3.13.0"), null before it is built. */
  pythonVersion: string | null;
}

/** An environment operation (add, remove, sync, import, revert, lock, check): a job, kept across
 * restarts of the sidecar. */
export type OperationStatus = "queued" | "running" | "succeeded" | "failed" | "cancelled";

export interface Operation {
  id: string;
  title: string;
  kind?: string;
  status: OperationStatus;
  log: string;
  started: number;
  ended: number | null;
  error?: string | null;
  /** The history version it recorded, if any. */
  version?: number | null;
}

/** One version of a file's environment (envlens/history). */
export interface HistoryVersion {
  n: number;
  time: number;
  status: "ready" | "failed" | "cancelled";
  /** build | reuse | revert | pool */
  action: string;
  key: string;
  requirements: string[];
  requiresPython: string | null;
  lockHash: string | null;
  pythonVersion: string | null;
  packages: { name: string; version: string }[];
  duration: number;
  error: string | null;
  revertedFrom: number | null;
  attempts: number;
  hasLog: boolean;
  /** A ready version whose declaration envlens can write back. */
  revertible: boolean;
  /** Its environment is still in the cache: reverting to it builds nothing. */
  built: boolean;
  /** "declared +numpy; packages +numpy 2.1.0" */
  summary: string;
}

export interface HistoryResult {
  path: string;
  /** The newest ready version: what the file's kernel runs in. */
  inUse: number | null;
  inUseKey: string | null;
  /** The key the declaration gives now (another than inUseKey after a failed build). */
  currentKey: string | null;
  versions: HistoryVersion[];
}

export interface VersionLog {
  version: number;
  log: string | null;
  /** The log went with its environment (pruned). */
  removed: boolean;
}

export interface RevertResult {
  revertedTo: number;
  version: number | null;
  key: string;
  built: boolean;
}

export interface EnvironmentInfo {
  key: string;
  built: boolean;
  envPath: string;
  pythonVersion: string | null;
  packages: { name: string; version: string }[];
  lockState: "none" | "fresh" | "stale";
  trusted: boolean;
  operations: Operation[];
}

export interface UriParams {
  uri: string;
}

export interface KernelStartResult {
  sessionId: string;
  key: string;
  label: string;
  pythonVersion: string;
  /** Set when the kernel runs in the file's last good version, not the declaration's. */
  note?: string | null;
}

export interface SessionParams {
  sessionId: string;
}

export interface ExecuteParams {
  sessionId: string;
  code: string;
  executionId: string;
}

// nbformat v4 output objects.
export type MimeBundle = Record<string, string | string[] | unknown>;

export interface StreamOutput {
  output_type: "stream";
  name: "stdout" | "stderr";
  text: string | string[];
}

export interface DisplayDataOutput {
  output_type: "display_data";
  data: MimeBundle;
  metadata?: Record<string, unknown>;
}

export interface ExecuteResultOutput {
  output_type: "execute_result";
  data: MimeBundle;
  metadata?: Record<string, unknown>;
  execution_count?: number | null;
}

export interface ErrorOutput {
  output_type: "error";
  ename: string;
  evalue: string;
  traceback: string[];
}

export type NbOutput = StreamOutput | DisplayDataOutput | ExecuteResultOutput | ErrorOutput;

export interface ExecuteResult {
  status: "ok" | "error" | "aborted";
  executionCount: number | null;
  outputs: NbOutput[];
  error?: { ename: string; evalue: string; traceback: string[] };
}

export interface KernelOutputNotification {
  sessionId: string;
  executionId: string;
  output: NbOutput;
}

export interface KernelUpdateResult {
  status: "current" | "added" | "restart";
  key: string;
  newKey: string;
  added: string[];
  reason: string;
}

export interface KernelInputRequest {
  sessionId: string;
  executionId: string;
  prompt: string;
  password: boolean;
}

/** envlens/kernel/pipCell: a cell's `%pip install` lines (server/envlens/kernels/pipmagic.py). */
export interface PipCell {
  requirements: string[];
  problems: string[];
  remaining: string;
  lines: string[];
}

export interface InstallAndRerunResult {
  ok?: boolean;
  distribution: string;
}

export const Methods = {
  resolve: "envlens/resolve",
  environment: "envlens/environment",
  kernelStart: "envlens/kernel/start",
  kernelExecute: "envlens/kernel/execute",
  kernelInterrupt: "envlens/kernel/interrupt",
  kernelRestart: "envlens/kernel/restart",
  kernelShutdown: "envlens/kernel/shutdown",
  kernelOutput: "envlens/kernel/output",
  kernelUpdate: "envlens/kernel/update",
  kernelInput: "envlens/kernel/input",
  kernelPipCell: "envlens/kernel/pipCell",
  kernelComm: "envlens/kernel/comm",
  kernelCommSend: "envlens/kernel/commSend",
  declarationChanged: "envlens/declarationChanged",
  history: "envlens/history",
  historyLog: "envlens/historyLog",
  jobs: "envlens/jobs",
  jobLog: "envlens/jobLog",
} as const;

/** The sidecar has read an edit that changes a document's environment (its key). */
export interface DeclarationChangedNotification {
  uri: string;
  key: string | null;
}

// Server-side commands (workspace/executeCommand); the client's own palette commands have other ids
// so that vscode-languageclient can register these without a clash.
export const ServerCommands = {
  install: "envlens.install",
  sync: "envlens.sync",
  lock: "envlens.lock",
  add: "envlens.add",
  remove: "envlens.remove",
  declareFromImports: "envlens.declareFromImports",
  movePipInstalls: "envlens.movePipInstalls",
  installAndRerun: "envlens.installAndRerun",
  checkPortability: "envlens.checkPortability",
  trust: "envlens.trust",
  revert: "envlens.revert",
  import: "envlens.import",
  pruneEnvironments: "envlens.pruneEnvironments",
} as const;

export interface TrustFlag {
  package: string;
  kind: "typo" | "new" | "source";
  detail: string;
}

export interface TrustState {
  uri: string;
  trusted: boolean;
  reason: string;
  status: "nothing-declared" | "project" | "signed" | "approved" | "unsigned" | "changed";
  packages: string[];
  flags: TrustFlag[];
}

export interface TrustApproval extends TrustState {
  ok: true;
  signature: string | null;
  metadataPath: string[] | null;
}

export const TRUST_STATE = "envlens/trustState";
