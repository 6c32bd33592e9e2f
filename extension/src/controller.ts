// The "envlens" notebook controller: runs cells in kernel sessions of the sidecar
// (envlens/kernel/*), streams outputs into the cell, records the env key each cell ran in.
import { randomUUID } from "node:crypto";
import * as vscode from "vscode";
import { canonicalName, controllerDescription, controllerDetail, controllerLabel } from "./core/labels";
import { RESTRICTED_KERNEL_LABEL } from "./core/restricted";
import { appendsToPrevious, outputItems, type OutputItem } from "./core/outputs";
import {
  Methods,
  type ExecuteResult,
  type DeclarationChangedNotification,
  type KernelOutputNotification,
  type KernelInputRequest,
  type KernelStartResult,
  type KernelUpdateResult,
  type NbOutput,
  type PipCell,
  type ResolveResult,
  ServerCommands,
  TRUST_STATE,
  type TrustState,
} from "./core/protocol";
import { hasPipInstall, pipReport } from "./core/pip";
import { jupyterMetadataOf } from "./notebookEdits";
import { readSettings, type Sidecar } from "./sidecar";

export const CONTROLLER_ID = "envlens";

interface Session extends KernelStartResult {
  /** The file whose declaration the kernel runs in (a script for the percent-script output notebook). */
  source: string;
}

export type UpToDate = "none" | "current" | "added" | "restarted" | "kept" | "cancelled";

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
  /** Env key -> its Python version, once built. */
  private readonly pythonOf = new Map<string, string>();
  private readonly changed = new vscode.EventEmitter<vscode.NotebookDocument>();
  /** A notebook's resolution or session changed (status bar items, views). */
  readonly onDidChange = this.changed.event;
  private readonly disposables: vscode.Disposable[] = [];
  private readonly timers = new Map<string, NodeJS.Timeout>();
  /** Cell document URI -> the env key its last run in this session used. */
  private readonly ranIn = new Map<string, string>();
  /** Notebook -> the number of its latest refresh. */
  private readonly refreshes = new Map<string, number>();
  /** Notebooks whose kernel starts on their next run only, not as they refresh (a script's hidden
   * outputs notebook once the script closed). */
  readonly cold = new WeakSet<vscode.NotebookDocument>();
  /** Notebooks whose kernel is envlens's (VS Code selected this controller for them). */
  readonly selected = new WeakSet<vscode.NotebookDocument>();
  /** The newest refresh whose answer is applied, per notebook. */
  private readonly applied = new Map<string, number>();
  /** The running session of each notebook (sessions whose start finished). */
  private readonly live = new Map<string, Session>();
  private readonly kernelEmitter = new vscode.EventEmitter<{ nb: vscode.NotebookDocument; sessionId: string; reason: "restart" | "shutdown" }>();
  /** A kernel restarted or stopped: its widgets are gone. */
  readonly onDidResetKernel = this.kernelEmitter.event;
  /** One declaration update at a time per notebook. */
  private readonly updating = new Map<string, Promise<UpToDate>>();
  /** Notebook -> its kernel restart under way. */
  private readonly restarting = new Map<string, Promise<void>>();
  /** executionId -> cancels the input box of a cell that ended. */
  private readonly inputs = new Map<string, vscode.CancellationTokenSource>();

  constructor(private readonly sidecar: Sidecar) {
    this.controller = vscode.notebooks.createNotebookController(CONTROLLER_ID, "jupyter-notebook", "envlens");
    this.controller.supportedLanguages = ["python", "typescript"]; // Deno notebooks run TypeScript
    this.controller.supportsExecutionOrder = true;
    this.controller.description = "Runs cells in the environment the notebook declares";
    this.controller.executeHandler = async (cells, nb) => {
      await this.execute(cells, nb);
    };
    this.controller.interruptHandler = (nb) => this.interrupt(nb);
    this.controller.onDidChangeSelectedNotebooks(({ notebook, selected }) => (selected ? this.selected.add(notebook) : this.selected.delete(notebook)));
    sidecar.onNotification<KernelOutputNotification>(Methods.kernelOutput, (n) => this.listeners.get(n.executionId)?.(n.output));
    // Typing a dependency (an untitled notebook too): the label follows once the sidecar has the edit.
    sidecar.onNotification<DeclarationChangedNotification>(Methods.declarationChanged, (n) => {
      const nb = vscode.workspace.notebookDocuments.find((d) => d.uri.toString() === n.uri);
      this.sidecar.log.debug(`declaration changed: ${n.uri} -> ${n.key ?? "an error"}${nb ? "" : " (no such notebook open)"}`);
      if (nb) void this.refresh(nb);
    });
    sidecar.onRequest<KernelInputRequest, { value: string | null }>(Methods.kernelInput, (r) => this.askInput(r));
    this.disposables.push(
      this.controller,
      this.changed,
      this.kernelEmitter,
      sidecar.onDidChangeState((s) => {
        if (s === "starting" || s === "failed" || s === "stopped") {
          this.sessions.clear(); // kernels die with the sidecar
          this.live.clear();
        }
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
      // Typing in a cell changes its text document, not the notebook: the declaration may change.
      vscode.workspace.onDidChangeTextDocument((e) => {
        if (e.document.uri.scheme !== "vscode-notebook-cell") return;
        const nb = vscode.workspace.notebookDocuments.find((n) => n.uri.path === e.document.uri.path && n.getCells().some((c) => c.document === e.document));
        if (nb) this.refreshSoon(nb);
      }),
      vscode.window.onDidChangeActiveNotebookEditor(() => this.updateLabel()),
      vscode.window.onDidChangeVisibleNotebookEditors(() => this.updateLabel()),
      vscode.window.onDidChangeActiveTextEditor(() => this.updateLabel()),
    );
  }

  /** The notebook whose kernel the controller's label describes: the active one, else the only
   * visible one (a script's outputs beside it). The label is the controller's, not the notebook's:
   * two notebooks side by side show the focused one's. */
  private labelledNotebook(): vscode.NotebookDocument | undefined {
    const active = vscode.window.activeNotebookEditor?.notebook;
    if (active) return active;
    const visible = [...new Set(vscode.window.visibleNotebookEditors.map((e) => e.notebook))];
    return visible.length === 1 ? visible[0] : undefined;
  }

  /** The session of a notebook, once started. */
  sessionOf(nb: vscode.NotebookDocument): Session | undefined {
    return this.live.get(this.keyOf(nb));
  }

  notebookOfSession(sessionId: string): vscode.NotebookDocument | undefined {
    for (const [k, s] of this.live) {
      if (s.sessionId === sessionId) return vscode.workspace.notebookDocuments.find((n) => this.keyOf(n) === k);
    }
    return undefined;
  }

  /** The notebook's declaration names this distribution (canonical name). */
  declares(nb: vscode.NotebookDocument, canonical: string): boolean {
    const res = this.resolved.get(this.keyOf(nb));
    return Boolean(res?.requirements.some((r) => canonicalName(r) === canonical));
  }

  /** The kernel runs in an older environment than the declaration's (built or not). */
  kernelBehind(nb: vscode.NotebookDocument): boolean {
    const s = this.sessionOf(nb);
    const res = this.resolved.get(this.keyOf(nb));
    return Boolean(s && res && s.key !== res.key);
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
    const k = this.keyOf(nb);
    // Refreshes overlap (opening a notebook also makes the sidecar announce its declaration): each
    // answer counts unless a newer one was applied already, so the first label shows at once.
    const gen = (this.refreshes.get(k) ?? 0) + 1;
    this.refreshes.set(k, gen);
    const res = await this.sidecar.resolve(this.sourceUri(nb));
    const stale = (this.applied.get(k) ?? 0) > gen;
    this.sidecar.log.debug(`refresh ${k} #${gen}: ${res ? res.requirements.join(", ") || "no dependencies" : "not resolved"}${stale ? " (superseded)" : ""}`);
    if (!res || stale) return res;
    this.applied.set(k, gen);
    if (res.pythonVersion) this.pythonOf.set(res.key, res.pythonVersion);
    this.resolved.set(k, res);
    if (res.runtime === "python") this.controller.updateNotebookAffinity(nb, vscode.NotebookControllerAffinity.Preferred);
    this.updateLabel();
    this.changed.fire(nb);
    // A built environment with more packages reaches the running kernel at once (no question:
    // anything else waits for the next run, which asks).
    const session = this.sessionOf(nb);
    if (session && session.key !== res.key && res.built) void this.bringUpToDate(nb, { ask: false });
    if (!this.sessions.has(k)) void this.warmStart(nb, res);
    return res;
  }

  /** The kernel of an approved notebook whose environment is built starts as the notebook opens:
   * its first run does not wait for Python and ipykernel to load. Asks nothing and builds nothing;
   * a failure is left for the first run to report. */
  private async warmStart(nb: vscode.NotebookDocument, res: ResolveResult): Promise<void> {
    if (res.runtime !== "python" || !res.built || nb.isClosed || this.cold.has(nb) || !readSettings().settings.startKernelOnOpen) return;
    try {
      const state = await this.sidecar.request<TrustState>(TRUST_STATE, { uri: this.sourceUri(nb).toString() });
      if (!state.trusted || nb.isClosed || this.sessions.has(this.keyOf(nb))) return;
      await this.session(nb);
      this.sidecar.log.info(`started the kernel of ${nb.uri.fsPath || nb.uri.toString()} as it opened (envlens.startKernelOnOpen)`);
    } catch (e) {
      this.sidecar.log.info(`the kernel of ${nb.uri.toString()} did not start as it opened: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  updateLabel(): void {
    const nb = this.labelledNotebook();
    if (!nb || nb.notebookType !== "jupyter-notebook" || !vscode.workspace.isTrusted) return;
    const res = this.resolved.get(this.keyOf(nb));
    const session = this.sessionOf(nb);
    // Until the notebook is resolved, nothing of another notebook's environment shows.
    const label = controllerLabel(res, res ? this.pythonOf.get(res.key) : undefined);
    const changed = label !== this.controller.label;
    this.controller.label = label;
    this.sidecar.log.debug(`kernel label for ${nb.uri.toString()}: ${this.controller.label}`);
    this.controller.description = res ? controllerDescription(res) : "Reading the notebook's declaration";
    this.controller.detail = res ? controllerDetail(res, this.pythonOf.get(res.key), session?.key) : undefined;
    if (changed && res?.runtime === "python") this.redrawToolbar(nb);
  }

  /** VS Code redraws the notebook toolbar's kernel item on an affinity change, not on a label
   * change; and the extension host sends a label change a microtask late, after any affinity
   * change made in the same turn. So: the same affinity again, on the next turn. */
  private redrawToolbar(nb: vscode.NotebookDocument): void {
    setTimeout(() => {
      if (nb.isClosed) return;
      this.controller.updateNotebookAffinity(nb, vscode.NotebookControllerAffinity.Preferred);
    }, 0);
  }

  /** After the declaration changed: hot-add the new environment's packages when only packages are
   * added, else (with `ask`) ask whether to restart into it. Every run asks again until then. */
  bringUpToDate(nb: vscode.NotebookDocument, opts: { ask: boolean }): Promise<UpToDate> {
    const k = this.keyOf(nb);
    const previous = this.updating.get(k) ?? Promise.resolve<UpToDate>("none");
    const next = previous.catch(() => "none" as const).then(() => this.update(nb, opts));
    this.updating.set(k, next);
    void next.finally(() => this.updating.get(k) === next && this.updating.delete(k));
    return next;
  }

  private async update(nb: vscode.NotebookDocument, opts: { ask: boolean }): Promise<UpToDate> {
    const session = this.sessionOf(nb);
    if (!session) return "none";
    const source = this.sourceUri(nb);
    const res = await this.sidecar.resolve(source);
    if (!res || res.key === session.key) return "current";
    const name = fileName(source);
    if (opts.ask && this.sidecar.gate && !(await this.sidecar.gate.ensure(source))) return "cancelled";
    let upd: KernelUpdateResult;
    try {
      const run = (): Promise<KernelUpdateResult> => this.sidecar.request<KernelUpdateResult>(Methods.kernelUpdate, { sessionId: session.sessionId, uri: source.toString() });
      upd = opts.ask
        ? await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `envlens: bringing the kernel of ${name} up to date` }, run)
        : await run();
    } catch (e) {
      if (opts.ask) void vscode.window.showErrorMessage(`envlens could not update the kernel of ${name}: ${messageOf(e)}`, "Show Logs").then((c) => c && this.sidecar.log.show());
      else this.sidecar.log.info(`updating the kernel of ${name} waits for the next run: ${messageOf(e)}`);
      return "kept";
    }
    if (upd.status !== "restart") {
      session.key = upd.key;
      this.sidecar.log.info(`the running kernel of ${name} took ${upd.added.join(", ") || "the new environment"} without a restart`);
      if (upd.added.length) void vscode.window.showInformationMessage(`envlens: ${upd.added.map((a) => a.split(" ")[0]).join(", ")} can be imported in the running kernel of ${name} (no restart).`);
      this.updateLabel();
      this.changed.fire(nb);
      return upd.status === "added" ? "added" : "current";
    }
    if (!opts.ask) return "kept";
    const restart = "Restart Kernel";
    const keep = "Run in the Running Kernel";
    const choice = await vscode.window.showWarningMessage(
      `The declaration of ${name} changed and the running kernel cannot take it: ${upd.reason}. Restart the kernel into the new environment? Its variables will be lost.`,
      { modal: true, detail: "Until the kernel restarts, cells run in the environment it started in; you will be asked again before the next run." },
      restart,
      keep,
    );
    if (choice === restart) {
      await this.restart(nb);
      return "restarted";
    }
    return choice === keep ? "kept" : "cancelled";
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
        (session) => {
          if (this.sessions.get(k) === s) this.live.set(k, session);
          void this.refresh(nb);
        },
        () => this.sessions.get(k) === s && this.sessions.delete(k),
      );
    }
    return s;
  }

  /** Runs the cells in order; false when one failed (as Jupyter does, the rest are not run). */
  async execute(cells: vscode.NotebookCell[], nb: vscode.NotebookDocument): Promise<boolean> {
    await this.restarting.get(this.keyOf(nb))?.catch(() => undefined);
    // A changed declaration: hot add, or the question "restart?" before the next cell runs.
    if (this.sessionOf(nb) && vscode.workspace.isTrusted) {
      const state = await this.bringUpToDate(nb, { ask: true });
      if (state === "cancelled") return false;
    }
    for (const cell of cells) {
      if (cell.kind !== vscode.NotebookCellKind.Code) continue;
      if (!(await this.runCell(cell, nb))) return false;
    }
    return true;
  }

  private async runCell(cell: vscode.NotebookCell, nb: vscode.NotebookDocument): Promise<boolean> {
    const exec = this.controller.createNotebookCellExecution(cell);
    exec.start(Date.now());
    if (cell.outputs.length) await exec.clearOutput(); // a round trip to the window, for nothing on a new cell
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
    let code = cell.document.getText();
    if (hasPipInstall(code)) {
      const pip = await this.sidecar.request<PipCell | null>(Methods.kernelPipCell, { code }).catch(() => null);
      if (pip) {
        const ok = await this.pipInstall(nb, exec, pip);
        if (!ok || !pip.remaining.trim()) {
          exec.end(ok, Date.now());
          return ok;
        }
        code = pip.remaining;
        session = this.sessionOf(nb) ?? session; // a restart gave a new session
      }
    }
    const executionId = randomUUID();
    const inputTokens = new vscode.CancellationTokenSource();
    this.inputs.set(executionId, inputTokens);
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
        code,
        executionId,
      });
    } catch (e) {
      this.endInput(executionId);
      this.listeners.delete(executionId);
      await chain;
      this.sessions.delete(this.keyOf(nb)); // a dead or unknown session starts afresh next time
      await exec.appendOutput(errorOutput("envlens: the cell could not run", messageOf(e)));
      exec.end(false, Date.now());
      return false;
    }
    this.endInput(executionId);
    this.listeners.delete(executionId);
    await chain;
    // The result's outputs are authoritative (streams coalesced, clear_output applied).
    if (JSON.stringify(result.outputs) !== JSON.stringify(coalesce(streamed))) {
      await exec.replaceOutput([...exec.cell.outputs.filter((o) => o.metadata?.envlens === "pip"), ...result.outputs.map(toCellOutput)]);
    }
    if (result.executionCount !== null && result.executionCount !== undefined) exec.executionOrder = result.executionCount;
    // Provenance is written before the execution ends: VS Code's ipynb serializer then copies it
    // into its own execution_count edit, and nothing edits the cell after the user sees its output
    // (an edit then closes a quick-fix menu opened on the cell, or drops its command).
    await this.recordProvenance(nb, cell, session.key, false).catch(() => undefined);
    exec.end(result.status === "aborted" ? undefined : result.status === "ok", Date.now());
    void this.recordProvenance(nb, cell, session.key, true);
    return result.status === "ok";
  }

  /** Each executed cell's metadata.envlens.env holds the env key it ran in (docs: provenance). */
  private async recordProvenance(nb: vscode.NotebookDocument, cell: vscode.NotebookCell, key: string, ended: boolean): Promise<void> {
    const id = cell.document.uri.toString();
    this.ranIn.set(id, key);
    if (ended) this.changed.fire(nb);
    // Untitled notebooks and a script's outputs notebook: nothing of the user's to annotate.
    if (nb.isUntitled || this.sourceOf.has(this.keyOf(nb))) return;
    // VS Code's ipynb serializer updates a cell's metadata after an execution (execution_count)
    // from a copy taken when the execution ended: once ended, write it again only if it was lost.
    for (const delay of ended ? [300, 1000, 3000] : [0]) {
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

  /** `%pip install x` in a cell: x goes into the declaration (approval first), is built, and the
   * running kernel takes it (or the user is asked to restart). Never pip in the kernel. */
  private async pipInstall(nb: vscode.NotebookDocument, exec: vscode.NotebookCellExecution, pip: PipCell): Promise<boolean> {
    const source = this.sourceUri(nb);
    const say = async (text: string, error = false): Promise<void> => {
      const item = error ? vscode.NotebookCellOutputItem.stderr(text) : vscode.NotebookCellOutputItem.stdout(text);
      await exec.appendOutput(new vscode.NotebookCellOutput([item], { envlens: "pip" }));
    };
    let state: UpToDate = "none";
    try {
      if (pip.requirements.length) {
        await this.sidecar.command(ServerCommands.add, [source.toString(), pip.requirements]);
        await this.sidecar.command(ServerCommands.sync, [source.toString()]);
        await this.refresh(nb);
        state = this.sessionOf(nb) ? await this.bringUpToDate(nb, { ask: true }) : "none";
      }
    } catch (e) {
      await say(`envlens: ${messageOf(e)}\n`, true);
      return false;
    }
    await say(pipReport(fileName(source), pip, state));
    return pip.problems.length === 0 && state !== "cancelled";
  }

  private async askInput(r: KernelInputRequest): Promise<{ value: string | null }> {
    const nb = this.notebookOfSession(r.sessionId);
    const token = this.inputs.get(r.executionId)?.token;
    const value = await vscode.window.showInputBox(
      {
        title: `${nb ? fileName(this.sourceUri(nb)) : "envlens"}: the running cell asks for input`,
        prompt: r.prompt || (r.password ? "Password" : "Input"),
        password: r.password,
        ignoreFocusOut: true, // clicking Interrupt must not answer it
        placeHolder: "Enter to answer; Escape interrupts the cell",
      },
      token,
    );
    return { value: value ?? null };
  }

  private endInput(executionId: string): void {
    this.inputs.get(executionId)?.cancel();
    this.inputs.get(executionId)?.dispose();
    this.inputs.delete(executionId);
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
  /** Restarts the notebook's kernel (into its current environment). A cell run meanwhile waits
   * for the new kernel instead of reaching the one being stopped. */
  async restart(nb: vscode.NotebookDocument): Promise<void> {
    const k = this.keyOf(nb);
    const previous = this.restarting.get(k);
    const p = (async () => {
      await previous?.catch(() => undefined);
      await this.restartNow(nb);
    })();
    this.restarting.set(k, p);
    try {
      await p;
    } finally {
      if (this.restarting.get(k) === p) this.restarting.delete(k);
    }
  }

  private async restartNow(nb: vscode.NotebookDocument): Promise<void> {
    const k = this.keyOf(nb);
    const s = await this.sessions.get(k)?.catch(() => undefined);
    const res = await this.sidecar.resolve(this.sourceUri(nb));
    void this.refresh(nb);
    if (s && res && s.key === res.key) {
      await this.sidecar.request(Methods.kernelRestart, { sessionId: s.sessionId });
      this.kernelEmitter.fire({ nb, sessionId: s.sessionId, reason: "restart" });
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
    const running = this.live.get(k);
    this.live.delete(k);
    if (running) this.kernelEmitter.fire({ nb, sessionId: running.sessionId, reason: "shutdown" });
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

function fileName(uri: vscode.Uri): string {
  return uri.path.split("/").pop() ?? uri.toString();
}

export function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
