// Before anything is installed for a file (install, sync, install-and-rerun, kernel start), the
// sidecar's trust state is checked and, when the file is not approved, a modal dialog shows what
// would be installed; approving calls envlens.trust and keeps a notebook's signature in its metadata.
import * as path from "node:path";
import * as vscode from "vscode";
import { ServerCommands, TRUST_STATE, type TrustApproval, type TrustState } from "./core/protocol";
import { trustDialog, withMetadataPath } from "./core/trust";
import type { Sidecar } from "./sidecar";

export class TrustGate {
  private pending = new Map<string, Promise<boolean>>();

  constructor(private readonly sidecar: Sidecar) {}

  /** True when the file may install; asks the user at most once at a time per file. */
  ensure(uri: vscode.Uri): Promise<boolean> {
    const k = uri.toString();
    let p = this.pending.get(k);
    if (!p) {
      p = this.ask(uri).finally(() => this.pending.delete(k));
      this.pending.set(k, p);
    }
    return p;
  }

  private async ask(uri: vscode.Uri): Promise<boolean> {
    let state: TrustState;
    try {
      state = await this.sidecar.request<TrustState>(TRUST_STATE, { uri: uri.toString() });
    } catch (e) {
      // A sidecar without the trust request: its own gate still decides.
      this.sidecar.log.info(`trust state of ${uri.fsPath}: ${e instanceof Error ? e.message : String(e)}`);
      return true;
    }
    if (state.trusted) return true;
    const d = trustDialog(path.basename(uri.fsPath), state);
    const choice = await vscode.window.showWarningMessage(d.message, { modal: true, detail: d.detail }, d.approve);
    if (choice !== d.approve) return false;
    const approval = await this.sidecar.command<TrustApproval>(ServerCommands.trust, [uri.toString()]);
    await this.keepSignature(uri, approval);
    this.sidecar.log.info(`approved the dependencies of ${uri.fsPath}: ${state.packages.join(", ")}`);
    return true;
  }

  /** An open notebook is not written by the sidecar: its signature goes in through the editor. */
  private async keepSignature(uri: vscode.Uri, approval: TrustApproval | undefined): Promise<void> {
    if (!approval?.signature || !approval.metadataPath) return;
    const nb = vscode.workspace.notebookDocuments.find((n) => n.uri.toString() === uri.toString());
    if (!nb) return;
    const md = (nb.metadata ?? {}) as Record<string, unknown>;
    const jupyter = (md.metadata && typeof md.metadata === "object" ? md.metadata : {}) as Record<string, unknown>;
    const edit = new vscode.WorkspaceEdit();
    edit.set(nb.uri, [vscode.NotebookEdit.updateNotebookMetadata({ ...md, metadata: withMetadataPath(jupyter, approval.metadataPath, approval.signature) })]);
    await vscode.workspace.applyEdit(edit);
  }
}
