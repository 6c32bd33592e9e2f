// The "envlens" notebook controller: runs cells in kernel sessions of the sidecar
// (envlens/kernel/*), streams outputs into the cell, records the env key each cell ran in.
import { randomUUID } from "node:crypto";
import * as vscode from "vscode";
import { controllerDescription, controllerLabel } from "./core/labels";
import { RESTRICTED_KERNEL_LABEL } from "./core/restricted";
import { appendsToPrevious, outputItems, type OutputItem } from "./core/outputs";
import {
  Methods,
  type ExecuteResult,
  type KernelOutputNotification,
  type KernelStartResult,
  type NbOutput,
  type ResolveResult,
} from "./core/protocol";
import { jupyterMetadataOf } from "./notebookEdits";
import type { Sidecar } from "./sidecar";

export const CONTROLLER_ID = "envlens";

interface Session extends KernelStartResult {
  /** The file whose declaration the kernel runs in (a script for the percent-script output notebook). */
  source: string;
}

function toVsItem(item: OutputItem): vscode.NotebookCellOutputItem {
  switch (item.kind) {
    case "stdout":
      return vscode.NotebookCellOutputItem.stdout(item.text);
    case "stderr":
      return vscode.NotebookCellOutputItem.stderr(item.text);
    case "error":
      return vscode.NotebookCellOutputItem.error({ name: item.name, message: item.message, stack: item.stack });
    case "binary":
      return new vscode.NotebookCellOutputItem(Buffer.from(item.base64, "base64"), item.mime);
    case "json":
      return vscode.NotebookCellOutputItem.json(item.value, item.mime);
    case "text":
      return vscode.NotebookCellOutputItem.text(item.text, item.mime);
  }
}

export function toCellOutput(output: NbOutput): vscode.NotebookCellOutput {
  const metadata = output.output_type === "execute_result" || output.output_type === "display_data" ? { outputType: output.output_type, metadata: output.metadata ?? {} } : { outputType: output.output_type };
  return new vscode.NotebookCellOutput(outputItems(output).map(toVsItem), metadata);
}

export class EnvlensController implements vscode.Disposable {
  readonly controller: vscode.NotebookController;
  private readonly sessions = new Map<string, Promise<Session>>();
  private readonly listeners = new Map<string, (o: NbOutput) => void>();
  readonly resolved = new Map<string, ResolveResult>();
  /** Untitled output notebooks of percent scripts -> the script whose environment they use. */
  readonly sourceOf = new Map<string, string>();
  private readonly offered = new Set<string>();
  /** Env key -> its Python version, once built. */
  private readonly pythonOf = new Map<string, string>();
  private readonly changed = new vscode.EventEmitter<vscode.NotebookDocument>();
  /** A notebook's resolution or session changed (status bar items, views). */
  readonly onDidChange = this.changed.event;
  private readonly disposables: vscode.Disposable[] = [];
  private readonly timers = new Map<string, NodeJS.Timeout>();
  /** Cell document URI -> the env key its last run in this session used. */
  private readonly ranIn = new Map<string, string>();

  constructor(private readonly sidecar: Sidecar) {
    this.controller = vscode.notebooks.createNotebookController(CONTROLLER_ID, "jupyter-notebook", "envlens");
    this.controller.supportedLanguages = ["python", "typescript"]; // Deno notebooks run TypeScript
    this.controller.supportsExecutionOrder = true;
    this.controller.description = "Runs cells in the environment the notebook declares";
    this.controller.executeHandler = async (cells, nb) => {
      await this.execute(cells, nb);
    };
    this.controller.interruptHandler = (nb) => this.interrupt(nb);
    sidecar.onNotification<KernelOutputNotification>(Methods.kernelOutput, (n) => this.listeners.get(n.executionId)?.(n.output));
    this.disposables.push(
      this.controller,
      this.changed,
      sidecar.onDidChangeState((s) => {
        if (s === "starting" || s === "failed" || s === "stopped") this.sessions.clear(); // kernels die with the sidecar
        if (s === "running") vscode.workspace.notebookDocuments.forEach((nb) => void this.refresh(nb));
      }),
      vscode.workspace.onDidOpenNotebookDocument((nb) => void this.refresh(nb)),
      sidecar.onDidRunCommand((c) => {
        const nb = vscode.workspace.notebookDocuments.find((n) => n.uri.toString() === c.uri);
        if (nb) void this.refresh(nb);
      }),
      vscode.workspace.onDidCloseNotebookDocument((nb) => void this.shutdown(nb)),
      vscode.workspace.onDidSaveNotebookDocument((nb) => void this.refresh(nb)),
      vscode.workspace.onDidChangeNotebookDocument((e) => this.refreshSoon(e.notebook)),
      vscode.window.onDidChangeActiveNotebookEditor((ed) => ed && this.updateLabel(ed.notebook)),
    );
  }

  private keyOf(nb: vscode.NotebookDocument): string {
    return nb.uri.toString();
  }

  /** The file whose declaration a notebook runs in. */
  sourceUri(nb: vscode.NotebookDocument): vscode.Uri {
    const src = this.sourceOf.get(this.keyOf(nb));
    return src ? vscode.Uri.parse(src) : nb.uri;
  }

  private refreshSoon(nb: vscode.NotebookDocument): void {
    if (nb.notebookType !== "jupyter-notebook") return;
    const k = this.keyOf(nb);
    clearTimeout(this.timers.get(k));
    this.timers.set(k, setTimeout(() => void this.refresh(nb), 800));
  }

  /** Resolve the notebook again: affinity, label, provenance, and the offer to restart. */
  async refresh(nb: vscode.NotebookDocument): Promise<ResolveResult | undefined> {
    if (nb.notebookType !== "jupyter-notebook") return undefined;
    if (!vscode.workspace.isTrusted) {
      // No sidecar in Restricted Mode: the kernel picker says why nothing will run.
      this.controller.updateNotebookAffinity(nb, vscode.NotebookControllerAffinity.Preferred);
      this.controller.label = RESTRICTED_KERNEL_LABEL;
      this.controller.description = "Trust the workspace to build the declared environment and run cells";
      return undefined;
    }
    const res = await this.sidecar.resolve(this.sourceUri(nb));
    if (!res) return undefined;
    const k = this.keyOf(nb);
    this.resolved.set(k, res);
    if (res.built && !this.pythonOf.has(res.key)) {
      const info = await this.sidecar.environment(this.sourceUri(nb));
      if (info?.pythonVersion) this.pythonOf.set(res.key, info.pythonVersion);
    }
    if (res.runtime === "python") this.controller.updateNotebookAffinity(nb, vscode.NotebookControllerAffinity.Preferred);
    this.updateLabel(nb);
    this.changed.fire(nb);
    const session = await this.sessions.get(k)?.catch(() => undefined);
    if (session && session.key !== res.key && res.built && !this.offered.has(`${k}#${res.key}`)) {
      this.offered.add(`${k}#${res.key}`);
      void vscode.window
        .showInformationMessage(
          `The declaration of ${nb.uri.path.split("/").pop()} changed and its environment is ready: restart the kernel to use it?`,
          "Restart Kernel",
        )
        .then((c) => {
          if (c === "Restart Kernel") void this.restart(nb);
        });
    }
    return res;
  }

  updateLabel(nb: vscode.NotebookDocument): void {
    const k = this.keyOf(nb);
    const res = this.resolved.get(k);
    if (!res || vscode.window.activeNotebookEditor?.notebook !== nb) return;
    this.controller.label = controllerLabel(res, this.pythonOf.get(res.key));
    this.controller.description = controllerDescription(res);
  }

  private session(nb: vscode.NotebookDocument): Promise<Session> {
    const k = this.keyOf(nb);
    let s = this.sessions.get(k);
    if (!s) {
      const sourceUri = this.sourceUri(nb);
      const source = sourceUri.toString();
      s = (async () => {
        if (this.sidecar.gate && !(await this.sidecar.gate.ensure(sourceUri))) {
          throw new Error(`No kernel was started: the dependencies of ${sourceUri.fsPath} are not approved. Run the cell again to review them.`);
        }
        const r = await this.sidecar.request<KernelStartResult>(Methods.kernelStart, { uri: source });
        if (r.pythonVersion) this.pythonOf.set(r.key, r.pythonVersion);
        return { ...r, source };
      })();
      this.sessions.set(k, s);
      s.then(
        () => this.refresh(nb),
        () => this.sessions.get(k) === s && this.sessions.delete(k),
      );
    }
    return s;
  }

  /** Runs the cells in order; false when one failed (as Jupyter does, the rest are not run). */
  async execute(cells: vscode.NotebookCell[], nb: vscode.NotebookDocument): Promise<boolean> {
    for (const cell of cells) {
      if (cell.kind !== vscode.NotebookCellKind.Code) continue;
      if (!(await this.runCell(cell, nb))) return false;
    }
    return true;
  }

  private async runCell(cell: vscode.NotebookCell, nb: vscode.NotebookDocument): Promise<boolean> {
    const exec = this.controller.createNotebookCellExecution(cell);
    exec.start(Date.now());
    await exec.clearOutput();
    if (!vscode.workspace.isTrusted) {
      await exec.replaceOutput(errorOutput("Restricted workspace", "envlens runs no cell in a restricted workspace: trust the workspace to run it."));
      exec.end(false, Date.now());
      return false;
    }
    let session: Session;
    try {
      session = await this.session(nb);
    } catch (e) {
      await exec.replaceOutput(errorOutput("envlens: the kernel did not start", messageOf(e)));
      exec.end(false, Date.now());
      return false;
    }
    const executionId = randomUUID();
    const streamed: NbOutput[] = [];
    let chain: Thenable<void> = Promise.resolve();
    this.listeners.set(executionId, (o) => {
      const previous = streamed[streamed.length - 1];
      const append = appendsToPrevious(previous, o);
      streamed.push(o);
      chain = chain.then(() => {
        const shown = exec.cell.outputs;
        if (append && shown.length > 0) return exec.appendOutputItems(outputItems(o).map(toVsItem), shown[shown.length - 1]);
        return exec.appendOutput(toCellOutput(o));
      });
    });
    exec.token.onCancellationRequested(() => void this.interrupt(nb));
    let result: ExecuteResult;
    try {
      result = await this.sidecar.request<ExecuteResult>(Methods.kernelExecute, {
        sessionId: session.sessionId,
        code: cell.document.getText(),
        executionId,
      });
    } catch (e) {
      this.listeners.delete(executionId);
      await chain;
      this.sessions.delete(this.keyOf(nb)); // a dead or unknown session starts afresh next time
      await exec.appendOutput(errorOutput("envlens: the cell could not run", messageOf(e)));
      exec.end(false, Date.now());
      return false;
    }
    this.listeners.delete(executionId);
    await chain;
    // The result's outputs are authoritative (streams coalesced, clear_output applied).
    if (JSON.stringify(result.outputs) !== JSON.stringify(coalesce(streamed))) {
      await exec.replaceOutput(result.outputs.map(toCellOutput));
    }
    if (result.executionCount !== null && result.executionCount !== undefined) exec.executionOrder = result.executionCount;
    exec.end(result.status === "aborted" ? undefined : result.status === "ok", Date.now());
    void this.recordProvenance(nb, cell, session.key);
    return result.status === "ok";
  }

  /** Each executed cell's metadata.envlens.env holds the env key it ran in (docs: provenance). */
  private async recordProvenance(nb: vscode.NotebookDocument, cell: vscode.NotebookCell, key: string): Promise<void> {
    const id = cell.document.uri.toString();
    this.ranIn.set(id, key);
    this.changed.fire(nb);
    if (nb.isUntitled) return;
    // VS Code's ipynb serializer updates a cell's metadata after an execution (execution_count)
    // from a copy taken before our edit, which can drop it: write it again until it stays.
    for (const delay of [0, 300, 1000, 3000]) {
      if (delay) await new Promise((r) => setTimeout(r, delay));
      if (nb.isClosed || cell.index < 0 || this.ranIn.get(id) !== key) return;
      const md = (cell.metadata ?? {}) as Record<string, unknown>;
      const jm = jupyterMetadataOf(md);
      const envlens = (jm.envlens && typeof jm.envlens === "object" ? jm.envlens : {}) as Record<string, unknown>;
      if (envlens.env === key) continue;
      const edit = new vscode.WorkspaceEdit();
      edit.set(nb.uri, [vscode.NotebookEdit.updateCellMetadata(cell.index, { ...md, metadata: { ...jm, envlens: { ...envlens, env: key } } })]);
      await vscode.workspace.applyEdit(edit);
    }
  }

  /** The environment key a cell's outputs came from: this session's run, else its saved metadata. */
  envKeyOf(cell: vscode.NotebookCell): string | undefined {
    const ran = this.ranIn.get(cell.document.uri.toString());
    if (ran) return ran;
    const envlens = jupyterMetadataOf(cell.metadata as Record<string, unknown>).envlens as { env?: unknown } | undefined;
    return typeof envlens?.env === "string" ? envlens.env : undefined;
  }

  currentKey(nb: vscode.NotebookDocument): string | undefined {
    return this.resolved.get(this.keyOf(nb))?.key;
  }

  async interrupt(nb: vscode.NotebookDocument): Promise<void> {
    const s = await this.sessions.get(this.keyOf(nb))?.catch(() => undefined);
    if (s) await this.sidecar.request(Methods.kernelInterrupt, { sessionId: s.sessionId }).catch((e) => this.sidecar.log.warn(messageOf(e)));
  }

  /** Restart in place, or into the new environment when the declaration changed. */
  async restart(nb: vscode.NotebookDocument): Promise<void> {
    const k = this.keyOf(nb);
    const s = await this.sessions.get(k)?.catch(() => undefined);
    const res = await this.sidecar.resolve(this.sourceUri(nb));
    if (res) this.offered.add(`${k}#${res.key}`); // restarting now: no need to offer it
    void this.refresh(nb);
    if (s && res && s.key === res.key) {
      await this.sidecar.request(Methods.kernelRestart, { sessionId: s.sessionId });
      this.sidecar.log.info(`kernel restarted for ${nb.uri.fsPath}`);
      return;
    }
    await this.shutdown(nb);
    await this.session(nb);
    this.sidecar.log.info(`kernel started in the new environment for ${nb.uri.fsPath}`);
  }

  async shutdown(nb: vscode.NotebookDocument): Promise<void> {
    const k = this.keyOf(nb);
    const s = this.sessions.get(k);
    this.sessions.delete(k);
    if (nb.isClosed) {
      this.resolved.delete(k);
      this.sourceOf.delete(k);
      nb.getCells().forEach((c) => this.ranIn.delete(c.document.uri.toString()));
    }
    const session = await s?.catch(() => undefined);
    if (session) await this.sidecar.request(Methods.kernelShutdown, { sessionId: session.sessionId }).catch((e) => this.sidecar.log.warn(messageOf(e)));
  }

  dispose(): void {
    this.timers.forEach((t) => clearTimeout(t));
    this.disposables.forEach((d) => d.dispose());
  }
}

function coalesce(outputs: NbOutput[]): NbOutput[] {
  const out: NbOutput[] = [];
  for (const o of outputs) {
    const prev = out[out.length - 1];
    if (prev && prev.output_type === "stream" && o.output_type === "stream" && prev.name === o.name) {
      out[out.length - 1] = { ...prev, text: joinStream(prev.text) + joinStream(o.text) };
    } else out.push(o.output_type === "stream" ? { ...o, text: joinStream(o.text) } : o);
  }
  return out;
}

function joinStream(t: string | string[]): string {
  return Array.isArray(t) ? t.join("") : t;
}

function errorOutput(name: string, message: string): vscode.NotebookCellOutput {
  return new vscode.NotebookCellOutput([vscode.NotebookCellOutputItem.error({ name, message, stack: "" })]);
}

export function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
