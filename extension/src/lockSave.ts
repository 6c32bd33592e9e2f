// Lock Versions writes a script's lock file (`<script>.lock`) to disk and the pins into the
// script through the editor: the script is saved right after, so that the file and its lock agree
// on disk (a notebook keeps its lock inside itself: both stay pending until the user saves).
import * as vscode from "vscode";
import { ServerCommands } from "./core/protocol";
import type { Sidecar } from "./sidecar";

export class LockConsistency implements vscode.Disposable {
  private readonly disposable: vscode.Disposable;

  constructor(sidecar: Sidecar) {
    this.disposable = sidecar.onDidRunCommand((c) => {
      if (c.command !== ServerCommands.lock || c.error || !c.uri) return;
      const doc = vscode.workspace.textDocuments.find((d) => d.uri.toString() === vscode.Uri.parse(c.uri!).toString());
      if (doc?.isDirty) {
        void doc.save().then((saved) => sidecar.log.info(`Lock Versions: ${saved ? "saved" : "could not save"} ${doc.uri.fsPath} with its lock`));
      }
    });
  }

  dispose(): void {
    this.disposable.dispose();
  }
}
