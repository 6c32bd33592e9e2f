// `envlens/applyNotebookEdit` (server -> client): structural notebook changes that LSP's
// WorkspaceEdit cannot express (cells added or removed, notebook metadata), applied through the
// editor so that undo and dirty state stay right.
import * as vscode from "vscode";

export interface NotebookCellJson {
  kind?: "code" | "markdown";
  source?: string;
  metadata?: Record<string, unknown>;
}

export type NotebookOperationJson =
  | { kind: "replaceCells"; start: number; deleteCount: number; cells: NotebookCellJson[] }
  | { kind: "metadata"; metadata: Record<string, unknown> };

export interface ApplyNotebookEditParams {
  uri: string;
  edits: NotebookOperationJson[];
}

/** VS Code's ipynb serializer nests the Jupyter metadata under `metadata` (cells and notebooks). */
export function jupyterMetadataOf(metadata: Record<string, unknown> | undefined): Record<string, unknown> {
  const inner = metadata?.metadata;
  return inner && typeof inner === "object" ? (inner as Record<string, unknown>) : {};
}

export async function applyNotebookEdit(params: ApplyNotebookEditParams, log: vscode.LogOutputChannel): Promise<{ applied: boolean; failureReason?: string }> {
  const uri = vscode.Uri.parse(params.uri);
  const nb =
    vscode.workspace.notebookDocuments.find((d) => d.uri.toString() === uri.toString()) ??
    (await vscode.workspace.openNotebookDocument(uri));
  const edits: vscode.NotebookEdit[] = [];
  for (const op of params.edits) {
    if (op.kind === "replaceCells") {
      const cells = op.cells.map((c) => {
        const kind = c.kind === "markdown" ? vscode.NotebookCellKind.Markup : vscode.NotebookCellKind.Code;
        const data = new vscode.NotebookCellData(kind, c.source ?? "", kind === vscode.NotebookCellKind.Code ? "python" : "markdown");
        if (c.metadata) data.metadata = { metadata: c.metadata };
        return data;
      });
      edits.push(vscode.NotebookEdit.replaceCells(new vscode.NotebookRange(op.start, op.start + op.deleteCount), cells));
    } else if (op.kind === "metadata") {
      const current = nb.metadata as Record<string, unknown>;
      const nested = current && typeof current.metadata === "object";
      edits.push(vscode.NotebookEdit.updateNotebookMetadata(nested || !current ? { ...current, metadata: op.metadata } : { ...op.metadata }));
    }
  }
  const we = new vscode.WorkspaceEdit();
  we.set(nb.uri, edits);
  const applied = await vscode.workspace.applyEdit(we);
  log.info(`applyNotebookEdit ${nb.uri.fsPath}: ${params.edits.length} operation(s), applied=${applied}`);
  return applied ? { applied } : { applied, failureReason: "the editor refused the notebook edit" };
}
