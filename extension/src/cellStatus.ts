// Cell status bar: provenance ("outputs from an older environment") and the one-click
// "Install <distribution> and re-run" for a ModuleNotFoundError.
import * as vscode from "vscode";
import { canonicalName } from "./core/labels";
import { distributionGuess, installActionTitle, missingModule } from "./core/outputs";
import type { EnvlensController } from "./controller";

const ERROR_MIME = "application/vnd.code.notebook.error";

export function cellMissingModule(cell: vscode.NotebookCell): string | undefined {
  for (const output of cell.outputs) {
    for (const item of output.items) {
      if (item.mime !== ERROR_MIME) continue;
      try {
        const err = JSON.parse(Buffer.from(item.data).toString("utf8")) as { name?: string; message?: string; stack?: string };
        const m = missingModule({ output_type: "error", ename: err.name ?? "", evalue: err.message ?? "", traceback: [err.stack ?? ""] });
        if (m) return m;
      } catch {
        // not JSON: not ours to read
      }
    }
  }
  return undefined;
}

export class CellStatusProvider implements vscode.NotebookCellStatusBarItemProvider {
  private readonly emitter = new vscode.EventEmitter<void>();
  readonly onDidChangeCellStatusBarItems = this.emitter.event;

  constructor(private readonly controller: EnvlensController) {
    controller.onDidChange(() => this.emitter.fire());
  }

  provideCellStatusBarItems(cell: vscode.NotebookCell): vscode.NotebookCellStatusBarItem[] {
    const items: vscode.NotebookCellStatusBarItem[] = [];
    const module = cell.outputs.length > 0 ? cellMissingModule(cell) : undefined;
    if (module && this.controller.kernelBehind(cell.notebook)) {
      // The declaration changed since the kernel started: the module may well be declared and
      // built already; what is missing is the kernel's update, not an install.
      const item = new vscode.NotebookCellStatusBarItem("$(sync) Update the kernel and re-run", vscode.NotebookCellStatusBarAlignment.Left);
      item.command = { title: "Update the kernel and re-run", command: "envlens.updateKernelAndRerun", arguments: [cell.notebook.uri, cell.index] };
      item.tooltip = `The running kernel uses an older environment than ${cell.notebook.uri.path.split("/").pop()} declares: bring it up to date (new packages without a restart when nothing else changes) and run the cell again`;
      items.push(item);
    } else if (module && this.controller.declares(cell.notebook, canonicalName(distributionGuess(module)))) {
      const item = new vscode.NotebookCellStatusBarItem(`$(info) '${module}' is declared`, vscode.NotebookCellStatusBarAlignment.Left);
      item.tooltip = `The declaration already names ${distributionGuess(module)} and the kernel runs in its environment: the module may be spelled differently there, or the package may not provide '${module}'`;
      items.push(item);
    } else if (module) {
      const item = new vscode.NotebookCellStatusBarItem(`$(cloud-download) ${installActionTitle(module)}`, vscode.NotebookCellStatusBarAlignment.Left);
      item.command = {
        title: installActionTitle(module),
        command: "envlens.installModuleAndRerun",
        arguments: [cell.notebook.uri, cell.index, module],
      };
      item.tooltip = `Add the distribution that provides '${module}' to this notebook's declaration, sync the environment and run the cell again`;
      items.push(item);
    }
    const env = this.controller.envKeyOf(cell);
    const current = this.controller.currentKey(cell.notebook);
    if (env && current && env !== current && cell.outputs.length > 0) {
      const item = new vscode.NotebookCellStatusBarItem("$(history) outputs from an older environment", vscode.NotebookCellStatusBarAlignment.Left);
      item.tooltip = `These outputs were produced in environment ${env}; the declaration now gives ${current}. Run the cell again to refresh them.`;
      items.push(item);
    }
    return items;
  }
}
