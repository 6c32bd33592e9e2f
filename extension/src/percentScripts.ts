// `# %%` scripts: "Run Cell" / "Run All" lenses run cells in the script's declared environment.
// The outputs go to an untitled jupyter-notebook beside the script, one cell per run, as VS Code's
// interactive window would show them (that window belongs to the Jupyter extension, which envlens
// does not need): the notebook's kernel runs in the script's environment.
import * as vscode from "vscode";
import { cellAtLine, isPercentScript, percentCells, type PercentCell } from "./core/percent";
import { CONTROLLER_ID, type EnvlensController } from "./controller";

export class PercentScripts implements vscode.CodeLensProvider, vscode.Disposable {
  private readonly outputs = new Map<string, vscode.NotebookDocument>();
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    private readonly controller: EnvlensController,
    private readonly extensionId: string,
  ) {
    this.disposables.push(
      vscode.languages.registerCodeLensProvider({ language: "python", scheme: "file" }, this),
      vscode.workspace.onDidCloseNotebookDocument((nb) => {
        for (const [k, v] of this.outputs) if (v === nb) this.outputs.delete(k);
      }),
    );
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

  /** The untitled notebook that shows this script's outputs, with the envlens kernel selected. */
  private async outputNotebook(script: vscode.Uri): Promise<vscode.NotebookDocument> {
    const k = script.toString();
    let nb = this.outputs.get(k);
    if (nb && !nb.isClosed) {
      await vscode.window.showNotebookDocument(nb, { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true });
      return nb;
    }
    const data = new vscode.NotebookData([]);
    data.metadata = { metadata: { language_info: { name: "python" }, envlens: { outputsOf: script.fsPath } } };
    nb = await vscode.workspace.openNotebookDocument("jupyter-notebook", data);
    this.controller.sourceOf.set(nb.uri.toString(), k);
    this.outputs.set(k, nb);
    const editor = await vscode.window.showNotebookDocument(nb, { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true });
    this.controller.controller.updateNotebookAffinity(nb, vscode.NotebookControllerAffinity.Preferred);
    await vscode.commands.executeCommand("notebook.selectKernel", { notebookEditor: editor, id: CONTROLLER_ID, extension: this.extensionId });
    return nb;
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
    const nb = await this.outputNotebook(script);
    for (const cell of chosen) {
      const at = nb.cellCount;
      const edit = new vscode.WorkspaceEdit();
      const data = new vscode.NotebookCellData(vscode.NotebookCellKind.Code, cell.code, "python");
      edit.set(nb.uri, [vscode.NotebookEdit.insertCells(at, [data])]);
      await vscode.workspace.applyEdit(edit);
      if (!(await this.controller.execute([nb.cellAt(at)], nb))) break;
    }
  }

  dispose(): void {
    this.disposables.forEach((d) => d.dispose());
  }
}
