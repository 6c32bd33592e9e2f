// `# %%` scripts: "Run Cell" / "Run All" lenses run cells in the script's declared environment.
// The outputs go to a jupyter-notebook beside the script, one cell per run, as VS Code's
// interactive window would show them (that window belongs to the Jupyter extension, which envlens
// does not need): the notebook's kernel runs in the script's environment. That notebook lives in
// envlens's own in-memory file system (scheme envlens-outputs) and is saved there after each run,
// so closing it or the window never asks to save a file the user did not make.
import * as vscode from "vscode";
import { cellAtLine, isPercentScript, percentCells, type PercentCell } from "./core/percent";
import { CONTROLLER_ID, type EnvlensController } from "./controller";
import { readSettings } from "./sidecar";

export const OUTPUTS_SCHEME = "envlens-outputs";

/** Files in memory, for the outputs notebooks: gone with the window, never on disk. */
class MemoryFiles implements vscode.FileSystemProvider {
  private readonly files = new Map<string, { data: Uint8Array; mtime: number; ctime: number }>();
  private readonly emitter = new vscode.EventEmitter<vscode.FileChangeEvent[]>();
  readonly onDidChangeFile = this.emitter.event;

  watch(): vscode.Disposable {
    return new vscode.Disposable(() => undefined);
  }

  stat(uri: vscode.Uri): vscode.FileStat {
    const f = this.files.get(uri.path);
    if (f) return { type: vscode.FileType.File, ctime: f.ctime, mtime: f.mtime, size: f.data.byteLength };
    if ([...this.files.keys()].some((p) => p.startsWith(uri.path.endsWith("/") ? uri.path : `${uri.path}/`)) || uri.path === "/") {
      return { type: vscode.FileType.Directory, ctime: 0, mtime: 0, size: 0 };
    }
    throw vscode.FileSystemError.FileNotFound(uri);
  }

  readDirectory(): [string, vscode.FileType][] {
    return [];
  }

  createDirectory(): void {
    // folders exist implicitly
  }

  readFile(uri: vscode.Uri): Uint8Array {
    const f = this.files.get(uri.path);
    if (!f) throw vscode.FileSystemError.FileNotFound(uri);
    return f.data;
  }

  writeFile(uri: vscode.Uri, content: Uint8Array): void {
    const now = Date.now();
    const old = this.files.get(uri.path);
    this.files.set(uri.path, { data: content, mtime: now, ctime: old?.ctime ?? now });
    this.emitter.fire([{ type: old ? vscode.FileChangeType.Changed : vscode.FileChangeType.Created, uri }]);
  }

  delete(uri: vscode.Uri): void {
    this.files.delete(uri.path);
    this.emitter.fire([{ type: vscode.FileChangeType.Deleted, uri }]);
  }

  rename(from: vscode.Uri, to: vscode.Uri): void {
    const f = this.files.get(from.path);
    if (!f) throw vscode.FileSystemError.FileNotFound(from);
    this.files.delete(from.path);
    this.files.set(to.path, f);
  }

  has(uri: vscode.Uri): boolean {
    return this.files.has(uri.path);
  }
}

/** "/work/analysis.py" -> envlens-outputs:/work/analysis.py outputs.ipynb (the tab shows "analysis.py outputs.ipynb"). */
export function outputsUri(script: vscode.Uri): vscode.Uri {
  return vscode.Uri.from({ scheme: OUTPUTS_SCHEME, path: `${script.path} outputs.ipynb` });
}

export class PercentScripts implements vscode.CodeLensProvider, vscode.Disposable {
  private readonly outputs = new Map<string, vscode.NotebookDocument>();
  private readonly disposables: vscode.Disposable[] = [];
  private readonly files = new MemoryFiles();
  private saving: NodeJS.Timeout | undefined;
  /** Outputs notebooks with a cell running (saved when it ends). */
  private readonly running = new Set<vscode.NotebookDocument>();
  /** The text documents in view (a script coming into view prepares its outputs). */
  private visible = new Set<vscode.TextDocument>();
  /** Outputs notebooks being opened, by script. */
  private readonly opening = new Map<string, Promise<{ nb: vscode.NotebookDocument; fresh: boolean }>>();
  /** Outputs notebooks shown once (their kernel selected). */
  private readonly shown = new WeakSet<vscode.NotebookDocument>();

  constructor(
    private readonly controller: EnvlensController,
    private readonly extensionId: string,
    private readonly log: vscode.LogOutputChannel,
  ) {
    this.disposables.push(
      vscode.workspace.registerFileSystemProvider(OUTPUTS_SCHEME, this.files, { isCaseSensitive: true }),
      vscode.languages.registerCodeLensProvider({ language: "python", scheme: "file" }, this),
      // A script shown in an editor: its outputs notebook opens (hidden) at once, and with it the
      // kernel, when its environment is built and approved (envlens.startKernelOnOpen): the first
      // Run Cell then waits for neither.
      // Only a script that comes into view: closing the outputs notebook (or every editor, the
      // script last) must not start its kernel again.
      vscode.window.onDidChangeVisibleTextEditors((editors) => {
        const before = this.visible;
        this.visible = new Set(editors.map((e) => e.document));
        this.visible.forEach((d) => !before.has(d) && void this.prepare(d));
      }),
      // The script closed and its outputs were never shown: its kernel is not kept for nothing.
      vscode.workspace.onDidCloseTextDocument((d) => {
        const nb = this.outputs.get(d.uri.toString());
        if (nb && !nb.isClosed && !vscode.window.visibleNotebookEditors.some((e) => e.notebook === nb)) {
          this.controller.cold.add(nb); // and not started again by the next refresh
          void this.controller.shutdown(nb);
        }
      }),
      vscode.workspace.onDidCloseNotebookDocument((nb) => {
        for (const [k, v] of this.outputs) if (v === nb) this.outputs.delete(k);
      }),
      // Whatever changes it (a run, VS Code's own execution-count update after one): saved into
      // memory shortly after, so it is never left dirty.
      vscode.workspace.onDidChangeNotebookDocument((e) => {
        if (e.notebook.uri.scheme !== OUTPUTS_SCHEME || this.running.has(e.notebook)) return;
        clearTimeout(this.saving);
        this.saving = setTimeout(() => {
          if (!e.notebook.isClosed && e.notebook.isDirty) void e.notebook.save();
        }, 300);
      }),
    );
  }

  /** Scripts already showing when the extension starts. */
  prepareVisible(): void {
    this.visible = new Set(vscode.window.visibleTextEditors.map((e) => e.document));
    this.visible.forEach((d) => void this.prepare(d));
  }

  provideCodeLenses(document: vscode.TextDocument): vscode.CodeLens[] {
    const text = document.getText();
    if (!isPercentScript(text)) return [];
    const lenses: vscode.CodeLens[] = [];
    const cells = percentCells(text).filter((c) => c.kind === "code");
    cells.forEach((cell, i) => {
      if (!/^#\s*%%/.test(document.lineAt(cell.startLine).text)) return;
      const range = new vscode.Range(cell.startLine, 0, cell.startLine, 0);
      lenses.push(new vscode.CodeLens(range, { title: "Run Cell", command: "envlens.runCell", arguments: [document.uri, cell.startLine] }));
      if (i === 0 || lenses.length === 1) {
        lenses.push(new vscode.CodeLens(range, { title: "Run All", command: "envlens.runAllCells", arguments: [document.uri] }));
      }
    });
    return lenses;
  }

  /** The notebook of this script's outputs (opened, not yet shown), and whether it is new. One
   * opening at a time per script: a Run Cell clicked while the script's showing opens it waits for
   * that opening instead of writing the file again. */
  private outputsDocument(script: vscode.Uri): Promise<{ nb: vscode.NotebookDocument; fresh: boolean }> {
    const k = script.toString();
    const open = this.outputs.get(k);
    if (open && !open.isClosed) return Promise.resolve({ nb: open, fresh: false });
    let opening = this.opening.get(k);
    if (!opening) {
      opening = this.openOutputs(script).finally(() => this.opening.delete(k));
      this.opening.set(k, opening);
    }
    return opening;
  }

  private async openOutputs(script: vscode.Uri): Promise<{ nb: vscode.NotebookDocument; fresh: boolean }> {
    const k = script.toString();
    const uri = outputsUri(script);
    const empty = { cells: [], metadata: { language_info: { name: "python" }, envlens: { outputsOf: script.fsPath } }, nbformat: 4, nbformat_minor: 5 };
    this.files.writeFile(uri, Buffer.from(JSON.stringify(empty, null, 1), "utf8"));
    // Known before the notebook opens: its label and kernel are the script's from the start.
    this.controller.sourceOf.set(uri.toString(), k);
    const nb = await vscode.workspace.openNotebookDocument(uri);
    this.controller.sourceOf.set(nb.uri.toString(), k);
    this.outputs.set(k, nb);
    return { nb, fresh: true };
  }

  /** Opens the outputs notebook of a percent script the user is looking at (see the constructor). */
  private async prepare(doc: vscode.TextDocument): Promise<void> {
    if (doc.uri.scheme !== "file" || doc.languageId !== "python" || !vscode.workspace.isTrusted) return;
    if (!readSettings().settings.startKernelOnOpen || !isPercentScript(doc.getText())) return;
    const open = this.outputs.get(doc.uri.toString());
    if (open && !open.isClosed) {
      this.wake(open); // shown again: its environment may have been built since
      return;
    }
    await this.outputsDocument(doc.uri).catch((e: unknown) => this.log.info(`the outputs notebook of ${doc.uri.fsPath} did not open: ${String(e)}`));
  }

  /** An outputs notebook opened before: its kernel may start again (refresh starts it when the
   * environment is built and approved). */
  private wake(nb: vscode.NotebookDocument): void {
    this.controller.cold.delete(nb);
    void this.controller.refresh(nb);
  }

  /** Shows the outputs notebook beside the script, with the envlens kernel selected. */
  private async show(nb: vscode.NotebookDocument): Promise<void> {
    const t0 = Date.now();
    const editor = await vscode.window.showNotebookDocument(nb, { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true });
    if (this.shown.has(nb)) return;
    this.shown.add(nb);
    const t1 = Date.now();
    const already = this.controller.selected.has(nb); // VS Code took the preferred controller itself
    if (!already) {
      this.controller.controller.updateNotebookAffinity(nb, vscode.NotebookControllerAffinity.Preferred);
      await vscode.commands.executeCommand("notebook.selectKernel", { notebookEditor: editor, id: CONTROLLER_ID, extension: this.extensionId });
    }
    this.log.debug(`outputs notebook ${nb.uri.path}: shown in ${t1 - t0} ms, kernel ${already ? "selected by VS Code" : `selected in ${Date.now() - t1} ms`}`);
  }

  private async append(nb: vscode.NotebookDocument, cell: PercentCell): Promise<number> {
    const at = nb.cellCount;
    const edit = new vscode.WorkspaceEdit();
    edit.set(nb.uri, [vscode.NotebookEdit.insertCells(at, [new vscode.NotebookCellData(vscode.NotebookCellKind.Code, cell.code, "python")])]);
    await vscode.workspace.applyEdit(edit);
    return at;
  }

  async run(script: vscode.Uri, which: "cell" | "all", line?: number): Promise<void> {
    const doc = await vscode.workspace.openTextDocument(script);
    const cells = percentCells(doc.getText()).filter((c) => c.kind === "code" && c.code.trim());
    let chosen: PercentCell[];
    if (which === "all") chosen = cells;
    else {
      const at = line ?? vscode.window.activeTextEditor?.selection.active.line ?? 0;
      const cell = cellAtLine(cells, at);
      if (!cell) throw new Error(`No # %% cell at line ${at + 1} of ${script.fsPath}.`);
      chosen = [cell];
    }
    if (!chosen.length) return;
    const t0 = Date.now();
    const { nb, fresh } = await this.outputsDocument(script);
    // Opened before (hidden, as the script showed): the kernel starts now if it has not yet (the
    // environment may have been built since); a new one does so as it opens.
    if (!fresh) this.wake(nb);
    // The first cell goes in before the editor shows: one edit less while the window draws it.
    let at = await this.append(nb, chosen[0]);
    await this.show(nb);
    this.log.debug(`run ${which} of ${script.fsPath}: outputs notebook ready in ${Date.now() - t0} ms`);
    for (const [i, cell] of chosen.entries()) {
      if (i > 0) at = await this.append(nb, cell);
      this.running.add(nb);
      let ok = false;
      try {
        const t1 = Date.now();
        ok = await this.controller.execute([nb.cellAt(at)], nb);
        this.log.debug(`run ${which} of ${script.fsPath}: cell ${at + 1} ran in ${Date.now() - t1} ms`);
      } finally {
        this.running.delete(nb);
      }
      await nb.save(); // into memory: nothing for the user to save
      if (!ok) break;
    }
  }

  dispose(): void {
    clearTimeout(this.saving);
    this.disposables.forEach((d) => d.dispose());
  }
}
