// The Environment view (sidebar) and the status bar item for the active notebook or script.
import * as vscode from "vscode";
import { envState, lockStateLabel, operationLabel, requirementName, canonicalName, statusBarText, shortPython } from "./core/labels";
import { historySummary, versionRow, versionTooltip } from "./core/history";
import { portabilityMessage, portabilityRows, portabilitySummary, type PortabilityCheck, type PortabilityResult, type PortabilityRow } from "./core/portability";
import { ServerCommands, type EnvironmentInfo, type HistoryResult, type HistoryVersion, type Operation, type ResolveResult } from "./core/protocol";
import { readSettings, type CommandEvent, type Sidecar } from "./sidecar";

export type EnvNode =
  | { type: "info"; label: string; description?: string; icon: string; tooltip?: string; id: string }
  | { type: "dependencies"; items: string[] }
  | { type: "dependency"; requirement: string; installed?: string }
  | { type: "packages"; packages: { name: string; version: string }[]; scope?: string }
  | { type: "package"; name: string; version: string; scope?: string }
  | { type: "operations"; operations: Operation[] }
  | { type: "history"; history: HistoryResult | undefined }
  | { type: "version"; version: HistoryVersion; inUse: number | null; uri: string }
  | { type: "versionLog"; version: HistoryVersion; uri: string }
  | { type: "operation"; op: Operation }
  | { type: "portability"; rows: PortabilityRow[]; summary: string }
  | { type: "target"; row: PortabilityRow }
  | { type: "reason"; id: string; text: string; status: PortabilityRow["status"] };

/** The file the view and the status bar show: the active notebook, else the active Python file. */
export function activeTarget(): vscode.Uri | undefined {
  const nb = vscode.window.activeNotebookEditor?.notebook;
  const text = vscode.window.activeTextEditor?.document;
  if (text && text.uri.scheme === "vscode-notebook-cell") {
    const owner = vscode.workspace.notebookDocuments.find((n) => n.getCells().some((c) => c.document === text));
    if (owner) return owner.uri;
  }
  if (text && text.uri.scheme === "file" && text.languageId === "python") return text.uri;
  if (nb && (nb.uri.scheme === "file" || nb.uri.scheme === "untitled") && nb.notebookType === "jupyter-notebook") return nb.uri;
  return undefined;
}

export class EnvironmentView implements vscode.TreeDataProvider<EnvNode>, vscode.Disposable {
  private readonly emitter = new vscode.EventEmitter<EnvNode | undefined>();
  readonly onDidChangeTreeData = this.emitter.event;
  target: vscode.Uri | undefined;
  res: ResolveResult | undefined;
  info: EnvironmentInfo | undefined;
  history: HistoryResult | undefined;
  private readonly statusItem: vscode.StatusBarItem;
  private readonly tree: vscode.TreeView<EnvNode>;
  private readonly disposables: vscode.Disposable[] = [];
  private poll: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private generation = 0;
  /** The last Check Portability of each file (by URI). */
  private readonly portability = new Map<string, PortabilityCheck>();

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
      sidecar.onWillRunCommand((c) => this.portabilityStarted(c)),
      sidecar.onDidRunCommand((c) => {
        this.portabilityFinished(c);
        void this.refresh();
      }),
      vscode.workspace.onDidChangeConfiguration((e) => e.affectsConfiguration("envlens.portabilityTargets") && this.emitter.fire(undefined)),
      sidecar.onDidChangeState((s) => (s === "running" || s === "failed" || s === "restricted") && void this.refresh()),
    );
    this.followEditor();
  }

  private portabilityStarted(c: CommandEvent): void {
    if (c.command !== ServerCommands.checkPortability || !c.uri) return;
    const uri = vscode.Uri.parse(c.uri).toString(); // the view's spelling of the URI
    const previous = this.portability.get(uri);
    const check: PortabilityCheck = { ...previous, running: true, error: undefined };
    this.portability.set(uri, check);
    // The key of the declaration being checked: a later change marks the result stale.
    void this.sidecar.resolve(vscode.Uri.parse(uri)).then((res) => {
      if (res && this.portability.get(uri) === check) check.key = res.key;
    });
    this.emitter.fire(undefined);
  }

  private portabilityFinished(c: CommandEvent): void {
    if (c.command !== ServerCommands.checkPortability || !c.uri) return;
    const uri = vscode.Uri.parse(c.uri).toString();
    const check = this.portability.get(uri) ?? { running: false };
    check.running = false;
    const result = c.result as PortabilityResult | undefined;
    if (result && Array.isArray(result.verdicts)) {
      check.result = result;
      check.error = undefined;
      const name = vscode.Uri.parse(uri).path.split("/").pop() ?? uri;
      void vscode.window.showInformationMessage(`Portability: ${portabilityMessage(name, result)}`, "Show Environment").then((choice) => {
        if (choice === "Show Environment") void this.reveal();
      });
    } else {
      check.error = c.error ?? "no result (see the envlens output)";
    }
    this.portability.set(uri, check);
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
      this.history = undefined;
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
      const [res, info, history] = await Promise.all([this.sidecar.resolve(target), this.sidecar.environment(target), this.sidecar.history(target)]);
      if (gen !== this.generation) return; // a newer refresh is under way
      this.res = res;
      this.info = info;
      this.history = history;
    }
    this.tree.description = target ? target.path.split("/").pop() : undefined;
    this.updateStatus();
    this.emitter.fire(undefined);
    clearTimeout(this.poll);
    if (this.info?.operations.some((o) => o.status === "running" || o.status === "queued")) this.poll = setTimeout(() => void this.refresh(), 1000);
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

  private portabilityNode(res: ResolveResult): EnvNode {
    const check = this.target ? this.portability.get(this.target.toString()) : undefined;
    return { type: "portability", rows: portabilityRows(readSettings().settings.portabilityTargets, check), summary: portabilitySummary(check, res.key) };
  }

  getChildren(node?: EnvNode): EnvNode[] {
    if (!node) return this.roots();
    if (node.type === "portability") return node.rows.map((row) => ({ type: "target", row }));
    if (node.type === "target") return node.row.reasons.map((text, i) => ({ type: "reason", id: `${node.row.id}#${i}`, text, status: node.row.status }));
    if (node.type === "dependencies") {
      const installed = new Map((this.info?.packages ?? []).map((p) => [canonicalName(p.name), p.version]));
      return node.items.map((r) => ({ type: "dependency", requirement: r, installed: installed.get(canonicalName(r)) }));
    }
    if (node.type === "packages") return node.packages.map((p) => ({ type: "package", name: p.name, version: p.version, scope: node.scope }));
    if (node.type === "operations") {
      return [...node.operations].sort((a, b) => b.started - a.started).slice(0, 10).map((op) => ({ type: "operation", op }));
    }
    if (node.type === "history") {
      const h = node.history;
      const uri = this.target?.toString() ?? "";
      // Newest first; the in-use version is marked.
      return h ? [...h.versions].reverse().slice(0, 30).map((version) => ({ type: "version", version, inUse: h.inUse, uri })) : [];
    }
    if (node.type === "version") return this.versionChildren(node.version, node.uri);
    return [];
  }

  private versionChildren(v: HistoryVersion, uri: string): EnvNode[] {
    const out: EnvNode[] = [];
    const id = `v${v.n}`;
    if (v.summary && v.n > 1) out.push({ type: "info", id: `${id}:changes`, label: "Changed", description: v.summary, icon: "diff" });
    if (v.error) out.push({ type: "info", id: `${id}:error`, label: v.status === "cancelled" ? "Cancelled" : "Failed", description: v.error, icon: "error" });
    if (v.hasLog) out.push({ type: "versionLog", version: v, uri });
    if (v.pythonVersion) out.push({ type: "info", id: `${id}:python`, label: "Python", description: v.pythonVersion, icon: "symbol-namespace" });
    if (v.packages.length) out.push({ type: "packages", packages: v.packages, scope: id });
    return out;
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
      this.portabilityNode(res),
      { type: "packages", packages: info?.packages ?? [] },
      { type: "history", history: this.history },
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
        const item = new vscode.TreeItem(node.scope ? "Packages" : "Installed packages", node.packages.length ? C.Collapsed : C.None);
        item.id = node.scope ? `${node.scope}:packages` : "packages";
        item.description = String(node.packages.length);
        item.iconPath = new vscode.ThemeIcon("archive");
        return item;
      }
      case "package": {
        const item = new vscode.TreeItem(node.name, C.None);
        item.id = `${node.scope ?? ""}pkg:${node.name}`;
        item.description = node.version;
        return item;
      }
      case "operations": {
        const item = new vscode.TreeItem("Jobs", node.operations.length ? C.Collapsed : C.None);
        item.id = "operations";
        item.iconPath = new vscode.ThemeIcon("tasklist");
        item.tooltip = "Add, remove, sync, import, revert and lock of this file, with their logs (kept across restarts)";
        const running = node.operations.filter((o) => o.status === "running" || o.status === "queued").length;
        item.description = !node.operations.length ? "none yet" : running ? `${running} running` : String(node.operations.length);
        return item;
      }
      case "history": {
        const h = node.history;
        const item = new vscode.TreeItem("History", h?.versions.length ? C.Expanded : C.None);
        item.id = "history";
        item.iconPath = new vscode.ThemeIcon("history");
        item.description = historySummary(h);
        item.tooltip = "Every build of this file's environment is a version: its packages, its log; Revert writes an older version's declaration back";
        return item;
      }
      case "version": {
        const row = versionRow(node.version, node.inUse);
        const item = new vscode.TreeItem(row.label, C.Collapsed);
        item.id = `version:${node.version.n}`;
        item.description = row.description;
        item.tooltip = versionTooltip(node.version);
        item.iconPath = new vscode.ThemeIcon(row.icon, row.color ? new vscode.ThemeColor(row.color) : undefined);
        item.contextValue = row.contextValue;
        return item;
      }
      case "versionLog": {
        const item = new vscode.TreeItem("Build log", C.None);
        item.id = `v${node.version.n}:log`;
        item.iconPath = new vscode.ThemeIcon("output");
        item.command = { title: "Show Version Log", command: "envlens.showVersionLog", arguments: [node.uri, node.version.n] };
        return item;
      }
      case "portability": {
        const item = new vscode.TreeItem("Portability", C.Expanded);
        item.id = "portability";
        item.description = node.summary;
        item.tooltip = `Where this declaration installs: ${node.summary}. Targets: the envlens.portabilityTargets setting.`;
        item.iconPath = new vscode.ThemeIcon("globe");
        item.contextValue = "envlens.portability";
        return item;
      }
      case "target": {
        const r = node.row;
        // A failing target opens on its reasons.
        const item = new vscode.TreeItem(r.label, r.reasons.length ? (r.status === "fails" ? C.Expanded : C.Collapsed) : C.None);
        item.id = `target:${r.id}`;
        item.description = r.description;
        item.tooltip = r.tooltip;
        const color = r.status === "works" ? "testing.iconPassed" : r.status === "fails" ? "testing.iconFailed" : r.status === "builds" ? "list.warningForeground" : undefined;
        item.iconPath = new vscode.ThemeIcon(r.icon, color ? new vscode.ThemeColor(color) : undefined);
        return item;
      }
      case "reason": {
        const item = new vscode.TreeItem(node.text, C.None);
        item.id = `reason:${node.id}`;
        item.tooltip = node.text;
        item.iconPath = new vscode.ThemeIcon(node.status === "builds" ? "tools" : "circle-slash");
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
