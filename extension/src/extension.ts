// Activation: wires the parts together, nothing else.
import * as vscode from "vscode";
import { CellStatusProvider } from "./cellStatus";
import { registerCommands } from "./commands";
import { EnvlensController } from "./controller";
import { EnvironmentView } from "./envView";
import { PercentScripts } from "./percentScripts";
import { RestrictedMode } from "./restricted";
import { Sidecar } from "./sidecar";
import { TrustGate } from "./trust";
import { PythonEnvironments } from "./pythonEnvs";
import { WidgetHost } from "./widgets";
import { LockConsistency } from "./lockSave";

export function activate(context: vscode.ExtensionContext): void {
  const sidecar = new Sidecar(context);
  sidecar.gate = new TrustGate(sidecar);
  const controller = new EnvlensController(sidecar);
  const view = new EnvironmentView(sidecar);
  const scripts = new PercentScripts(controller, context.extension.id, sidecar.log);
  context.subscriptions.push(
    sidecar,
    controller,
    view,
    scripts,
    new RestrictedMode(sidecar),
    new WidgetHost(sidecar, controller),
    new PythonEnvironments(sidecar, controller, context.extension.id),
    new LockConsistency(sidecar),
    vscode.notebooks.registerNotebookCellStatusBarItemProvider("jupyter-notebook", new CellStatusProvider(controller)),
    // A restricted workspace starts nothing; trust granted later starts the sidecar.
    vscode.workspace.onDidGrantWorkspaceTrust(() => void sidecar.ready()),
  );
  registerCommands(context, { sidecar, controller, view, scripts });
  sidecar.log.info(`envlens ${context.extension.packageJSON.version as string} activated (workspace ${vscode.workspace.isTrusted ? "trusted" : "restricted"})`);
  void sidecar.ready();
  scripts.prepareVisible();
}

export function deactivate(): void {
  // The subscriptions stop the sidecar, which shuts its kernels down.
}
