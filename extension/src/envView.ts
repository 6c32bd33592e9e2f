// The Environment view (sidebar) and the status bar item for the active notebook or script.
import * as vscode from "vscode";
import { envState, lockStateLabel, operationLabel, requirementName, canonicalName, statusBarText, shortPython } from "./core/labels";
import type { EnvironmentInfo, Operation, ResolveResult } from "./core/protocol";
import type { Sidecar } from "./sidecar";

export type EnvNode =
  | { type: "info"; label: string; description?: string; icon: string; tooltip?: string; id: string }
  | { type: "dependencies"; items: string[] }
  | { type: "dependency"; requirement: string; installed?: string }
  | { type: "packages"; packages: { name: string; version: string }[] }
  | { type: "package"; name: string; version: string }
  | { type: "operations"; operations: Operation[] }
  | { type: "operation"; op: Operation };

/** The file the view and the status bar show: the active notebook, else the active Python file. */
export function activeTarget(): vscode.Uri | undefined {
  const nb = vscode.window.activeNotebookEditor?.notebook;
  const text = vscode.window.activeTextEditor?.document;
  if (text && text.uri.scheme === "vscode-notebook-cell") {
    const owner = vscode.workspace.notebookDocuments.find((n) => n.getCells().some((c) => c.document === text));
    if (owner) return owner.uri;
  }
  if (text && text.uri.scheme === "file" && text.languageId === "python") return text.uri;
  if (nb && nb.uri.scheme === "file" && nb.notebookType === "jupyter-notebook") return nb.uri;
  return undefined;
}

export class EnvironmentView implements vscode.TreeDataProvider<EnvNode>, vscode.Disposable {
  private readonly emitter = new vscode.EventEmitter<EnvNode | undefined>();
  readonly onDidChangeTreeData = this.emitter.event;
  target: vscode.Uri | undefined;
  res: ResolveResult | undefined;
  info: EnvironmentInfo | undefined;
  private readonly statusItem: vscode.StatusBarItem;
  private readonly tree: vscode.TreeView<EnvNode>;
  private readonly disposables: vscode.Disposable[] = [];
  private poll: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private generation = 0;

  constructor(private readonly sidecar: Sidecar) {
    this.tree = vscode.window.createTreeView("envlens.environment", { treeDataProvider: this, showCollapseAll: false });
    this.statusItem = vscode.window.createStatusBarItem("envlens.status", vscode.StatusBarAlignment.Left, 50);
    this.statusItem.name = "envlens environment";
    this.statusItem.command = "envlens.showEnvironment";
    this.disposables.push(
      this.tree,
      this.statusItem,
      this.emitter,
      vscode.window.onDidChangeActiveTextEditor(() => this.followEditor()),
      vscode.window.onDidChangeActiveNotebookEditor(() => this.followEditor()),
      vscode.workspace.onDidSaveTextDocument((d) => this.isTarget(d.uri) && this.refreshSoon()),
      vscode.workspace.onDidChangeTextDocument((e) => this.isTarget(e.document.uri) && this.refreshSoon()),
      vscode.workspace.onDidChangeNotebookDocument((e) => this.isTarget(e.notebook.uri) && this.refreshSoon()),
      vscode.workspace.onDidSaveNotebookDocument((nb) => this.isTarget(nb.uri) && this.refreshSoon()),
      sidecar.onDidRunCommand(() => void this.refresh()),
      sidecar.onDidChangeState((s) => (s === "running" || s === "failed" || s === "restricted") && void this.refresh()),
    );
    this.followEditor();
  }

  private isTarget(uri: vscode.Uri): boolean {
    return !!this.target && uri.toString() === this.target.toString();
  }

  private followEditor(): void {
    const t = activeTarget();
    if (!t) return; // focusing the view or an output keeps the last file
    if (this.target?.toString() !== t.toString()) {
      this.target = t;
      this.res = undefined;
      this.info = undefined;
    }
    void this.refresh();
  }

  refreshSoon(): void {
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => void this.refresh(), 600);
  }

  async refresh(): Promise<void> {
    const gen = ++this.generation;
    const target = this.target;
    if (target && this.sidecar.state === "running") {
      const [res, info] = await Promise.all([this.sidecar.resolve(target), this.sidecar.environment(target)]);
      if (gen !== this.generation) return; // a newer refresh is under way
      this.res = res;
      this.info = info;
    }
    this.tree.description = target ? target.path.split("/").pop() : undefined;
    this.updateStatus();
    this.emitter.fire(undefined);
    clearTimeout(this.poll);
    if (this.info?.operations.some((o) => o.status === "running")) this.poll = setTimeout(() => void this.refresh(), 1000);
  }

  private updateStatus(): void {
    if (!this.target) {
      this.statusItem.hide();
      return;
    }
    const state = envState(this.res, this.info, vscode.workspace.isTrusted);
    this.statusItem.text = statusBarText(state, this.res);
    const py = shortPython(this.info?.pythonVersion, this.res?.requiresPython);
    this.statusItem.tooltip = this.res
      ? `envlens: ${this.res.source.label}${py ? ` · Python ${py}` : ""} · env ${this.res.key}\nClick to show the Environment view`
      : "envlens";
    this.statusItem.backgroundColor = state === "failed" ? new vscode.ThemeColor("statusBarItem.errorBackground") : undefined;
    this.statusItem.show();
  }

  getChildren(node?: EnvNode): EnvNode[] {
    if (!node) return this.roots();
    if (node.type === "dependencies") {
      const installed = new Map((this.info?.packages ?? []).map((p) => [canonicalName(p.name), p.version]));
      return node.items.map((r) => ({ type: "dependency", requirement: r, installed: installed.get(canonicalName(r)) }));
    }
    if (node.type === "packages") return node.packages.map((p) => ({ type: "package", name: p.name, version: p.version }));
    if (node.type === "operations") {
      return [...node.operations].sort((a, b) => b.started - a.started).slice(0, 10).map((op) => ({ type: "operation", op }));
    }
    return [];
  }

  private roots(): EnvNode[] {
    const res = this.res;
    if (!this.target) return [];
    if (!vscode.workspace.isTrusted) {
      return [{ type: "info", id: "restricted", label: "Restricted workspace", description: "envlens installs and runs nothing here", icon: "shield" }];
    }
    if (!res) {
      const why = this.sidecar.state === "running" ? "no declaration could be read" : `sidecar ${this.sidecar.state}`;
      return [{ type: "info", id: "none", label: this.target.path.split("/").pop() ?? "", description: why, icon: "info" }];
    }
    const info = this.info;
    const nodes: EnvNode[] = [
      {
        type: "info",
        id: "source",
        label: "Declared in",
        description: res.source.label,
        icon: "file-code",
        tooltip: res.source.path ? `${res.source.path}${res.source.startLine !== null ? `:${res.source.startLine + 1}` : ""}` : undefined,
      },
      {
        type: "info",
        id: "python",
        label: "Python",
        description: info?.pythonVersion ?? (res.requiresPython ? `${res.requiresPython} (not built yet)` : "not built yet"),
        icon: "symbol-namespace",
      },
      { type: "dependencies", items: res.declared.length > 0 ? res.declared : res.requirements },
      { type: "info", id: "lock", label: "Lock", description: info ? lockStateLabel(info.lockState) : res.locked ? "locked" : "not locked", icon: "lock" },
      { type: "info", id: "env", label: "Environment", description: (info?.built ?? res.built) ? `built · ${res.key}` : `not built · ${res.key}`, icon: (info?.built ?? res.built) ? "check" : "circle-large-outline", tooltip: res.envPath },
      { type: "packages", packages: info?.packages ?? [] },
      { type: "operations", operations: info?.operations ?? [] },
    ];
    return nodes;
  }

  getTreeItem(node: EnvNode): vscode.TreeItem {
    const C = vscode.TreeItemCollapsibleState;
    switch (node.type) {
      case "info": {
        const item = new vscode.TreeItem(node.label, C.None);
        item.id = `info:${node.id}`;
        item.description = node.description;
        item.tooltip = node.tooltip ?? node.description;
        item.iconPath = new vscode.ThemeIcon(node.icon);
        return item;
      }
      case "dependencies": {
        const item = new vscode.TreeItem(`Dependencies (${node.items.length})`, node.items.length ? C.Expanded : C.None);
        item.id = "dependencies";
        item.contextValue = "envlens.dependencies";
        item.iconPath = new vscode.ThemeIcon("list-unordered");
        if (!node.items.length) item.description = "none declared";
        return item;
      }
      case "dependency": {
        const item = new vscode.TreeItem(node.requirement, C.None);
        item.id = `dep:${node.requirement}`;
        item.contextValue = "envlens.dependency";
        item.description = node.installed ? `installed ${node.installed}` : "not installed";
        item.iconPath = new vscode.ThemeIcon("package");
        item.tooltip = `${requirementName(node.requirement)}: ${item.description}`;
        return item;
      }
      case "packages": {
        const item = new vscode.TreeItem("Installed packages", node.packages.length ? C.Collapsed : C.None);
        item.id = "packages";
        item.description = String(node.packages.length);
        item.iconPath = new vscode.ThemeIcon("archive");
        return item;
      }
      case "package": {
        const item = new vscode.TreeItem(node.name, C.None);
        item.id = `pkg:${node.name}`;
        item.description = node.version;
        return item;
      }
      case "operations": {
        const item = new vscode.TreeItem("Recent operations", node.operations.length ? C.Expanded : C.None);
        item.id = "operations";
        item.iconPath = new vscode.ThemeIcon("history");
        if (!node.operations.length) item.description = "none yet";
        return item;
      }
      case "operation": {
        const l = operationLabel(node.op);
        const item = new vscode.TreeItem(l.label, C.None);
        item.id = `op:${node.op.id}`;
        item.description = l.description;
        item.iconPath = new vscode.ThemeIcon(l.icon);
        item.contextValue = `envlens.operation.${node.op.status}`;
        item.tooltip = node.op.log ? node.op.log.split("\n").slice(-15).join("\n") : l.description;
        item.command = { title: "Show Operation Log", command: "envlens.showOperationLog", arguments: [node.op] };
        return item;
      }
    }
  }

  async reveal(): Promise<void> {
    await vscode.commands.executeCommand("envlens.environment.focus");
  }

  dispose(): void {
    clearTimeout(this.poll);
    clearTimeout(this.debounce);
    this.disposables.forEach((d) => d.dispose());
  }
}
