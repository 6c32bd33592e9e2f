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
}

export type OperationStatus = "running" | "succeeded" | "failed";

export interface Operation {
  id: string;
  title: string;
  status: OperationStatus;
  log: string;
  started: number;
  ended: number | null;
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
