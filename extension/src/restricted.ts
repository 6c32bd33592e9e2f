// Restricted Mode (VS Code workspace trust): the sidecar does not start (sidecar.ts), no cell runs
// (controller.ts); this part tells the user, once per session with a notification, and with a lens
// on each declaration, until the workspace is trusted.
import * as path from "node:path";
import * as vscode from "vscode";
import { declarationLine, RESTRICTED_LENS, restrictedNotice } from "./core/restricted";
import type { Sidecar } from "./sidecar";

export class RestrictedMode implements vscode.CodeLensProvider, vscode.Disposable {
  private notified = false;
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeCodeLenses = this.changed.event;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(private readonly sidecar: Sidecar) {
    this.disposables.push(
      this.changed,
      // Script files and notebook cells alike.
      vscode.languages.registerCodeLensProvider({ language: "python" }, this),
      vscode.workspace.onDidOpenNotebookDocument((nb) => nb.notebookType === "jupyter-notebook" && this.notify(nb.uri)),
      vscode.workspace.onDidOpenTextDocument((d) => d.languageId === "python" && d.uri.scheme === "file" && this.notify(d.uri)),
      vscode.workspace.onDidGrantWorkspaceTrust(() => this.changed.fire()),
    );
    for (const nb of vscode.workspace.notebookDocuments) if (nb.notebookType === "jupyter-notebook") this.notify(nb.uri);
    for (const d of vscode.workspace.textDocuments) if (d.languageId === "python" && d.uri.scheme === "file") this.notify(d.uri);
  }

  private notify(uri: vscode.Uri): void {
    if (vscode.workspace.isTrusted || this.notified) return;
    this.notified = true;
    const message = restrictedNotice(path.basename(uri.fsPath));
    this.sidecar.log.info(message);
    void vscode.window.showWarningMessage(message, "Manage Workspace Trust").then((c) => {
      if (c === "Manage Workspace Trust") void vscode.commands.executeCommand("workbench.trust.manage");
    });
  }

  provideCodeLenses(document: vscode.TextDocument): vscode.CodeLens[] {
    if (vscode.workspace.isTrusted) return [];
    const line = declarationLine(document.getText());
    if (line < 0) return [];
    const range = new vscode.Range(line, 0, line, 0);
    return [new vscode.CodeLens(range, { title: RESTRICTED_LENS, command: "workbench.trust.manage", tooltip: "envlens starts nothing until you trust this folder" })];
  }

  dispose(): void {
    this.disposables.forEach((d) => d.dispose());
  }
}
