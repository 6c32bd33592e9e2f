// Command palette and view actions. Every action names the file it works on and reports failures
// with a "Show Logs" button.
import * as path from "node:path";
import * as vscode from "vscode";
import { requirementName } from "./core/labels";
import { exportRequirementsTxt, importEdits, importPreview, parseRequirementsFile } from "./core/importPreview";
import { revertDone, revertQuestion, versionRow } from "./core/history";
import { pruneQuestion, pruneDone, type PruneResult } from "./core/prune";
import { Methods, ServerCommands, type HistoryResult, type HistoryVersion, type InstallAndRerunResult, type Operation, type RevertResult, type VersionLog } from "./core/protocol";
import { messageOf, type EnvlensController } from "./controller";
import { activeTarget, type EnvNode, type EnvironmentView } from "./envView";
import type { PercentScripts } from "./percentScripts";
import type { Sidecar } from "./sidecar";

interface Deps {
  sidecar: Sidecar;
  controller: EnvlensController;
  view: EnvironmentView;
  scripts: PercentScripts;
}

function fileName(uri: vscode.Uri): string {
  return path.basename(uri.fsPath);
}

export function registerCommands(context: vscode.ExtensionContext, deps: Deps): void {
  const { sidecar, controller, view, scripts } = deps;

  const target = (arg?: unknown): vscode.Uri => {
    if (arg instanceof vscode.Uri) return arg;
    if (typeof arg === "string" && arg.startsWith("file:")) return vscode.Uri.parse(arg);
    const t = activeTarget() ?? view.target;
    if (!t) throw new Error("Open a notebook or a Python script first: envlens acts on the active file.");
    return t;
  };

  const notebookFor = (uri: vscode.Uri): vscode.NotebookDocument | undefined =>
    vscode.workspace.notebookDocuments.find((n) => n.uri.toString() === uri.toString());

  const register = (id: string, fn: (...args: unknown[]) => unknown): void => {
    context.subscriptions.push(
      vscode.commands.registerCommand(id, async (...args: unknown[]) => {
        try {
          return await fn(...args);
        } catch (e) {
          const msg = messageOf(e);
          sidecar.log.error(`${id}: ${msg}`);
          void vscode.window.showErrorMessage(msg, "Show Logs").then((c) => c === "Show Logs" && sidecar.log.show());
          return undefined;
        }
      }),
    );
  };

  // Logs open read-only (closing one asks nothing), under a name that says whose log it is.
  const logTexts = new Map<string, string>();
  const logChanged = new vscode.EventEmitter<vscode.Uri>();
  context.subscriptions.push(
    logChanged,
    vscode.workspace.registerTextDocumentContentProvider("envlens-log", {
      onDidChange: logChanged.event,
      provideTextDocumentContent: (u) => logTexts.get(u.toString()) ?? "(this log is no longer available: open it again)",
    }),
  );
  const showLog = async (name: string, text: string): Promise<void> => {
    const u = vscode.Uri.from({ scheme: "envlens-log", path: `/${name.replace(/[\\/]/g, "_")}.log` });
    logTexts.set(u.toString(), text);
    logChanged.fire(u);
    const doc = await vscode.workspace.openTextDocument(u);
    await vscode.window.showTextDocument(doc, { preview: true });
  };

  const withProgress = <T>(title: string, fn: () => Promise<T>): Promise<T> =>
    Promise.resolve(vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title }, fn));

  const afterChange = async (uri: vscode.Uri): Promise<void> => {
    await view.refresh();
    const nb = notebookFor(uri);
    if (nb) await controller.refresh(nb);
  };

  const sync = async (uri: vscode.Uri): Promise<void> => {
    await withProgress(`envlens: syncing the environment of ${fileName(uri)}`, () => sidecar.command(ServerCommands.sync, [uri.toString()]));
    await afterChange(uri);
  };

  register("envlens.installDependencies", async (arg) => {
    const uri = target(arg);
    await withProgress(`envlens: installing the dependencies of ${fileName(uri)}`, () =>
      sidecar.command(ServerCommands.install, [uri.toString()]),
    );
    await afterChange(uri);
  });

  register("envlens.syncEnvironment", async (arg) => sync(target(arg)));

  register("envlens.addPackage", async (arg) => {
    const uri = target(arg instanceof vscode.Uri ? arg : undefined);
    const value = await vscode.window.showInputBox({
      title: `Add a package to ${fileName(uri)}`,
      prompt: "A requirement, as pip takes it: a name with an optional version (several: separate with spaces or commas)",
      placeHolder: "numpy>=1.26",
      validateInput: (v) =>
        v.trim() && v.split(/[\s,]+/).filter(Boolean).every((r) => /^[A-Za-z0-9][A-Za-z0-9._-]*(\[[^\]]*\])?([<>=!~]=?[^\s,]+)?$/.test(r))
          ? undefined
          : "Enter a package name such as numpy or numpy>=1.26",
    });
    if (!value) return;
    const reqs = value.split(/[\s,]+/).filter(Boolean);
    await sidecar.command(ServerCommands.add, [uri.toString(), reqs]);
    await sync(uri);
  });

  register("envlens.removePackage", async (arg) => {
    const uri = target(arg instanceof vscode.Uri ? arg : undefined);
    let names: string[];
    const node = arg as EnvNode | undefined;
    if (node && typeof node === "object" && "type" in node && node.type === "dependency") names = [requirementName(node.requirement)];
    else {
      const res = await sidecar.resolve(uri);
      const declared = res?.declared ?? [];
      if (!declared.length) throw new Error(`${fileName(uri)} declares no dependency to remove.`);
      const picked = await vscode.window.showQuickPick(declared, { title: `Remove packages from ${fileName(uri)}`, canPickMany: true });
      if (!picked?.length) return;
      names = picked.map(requirementName);
    }
    await sidecar.command(ServerCommands.remove, [uri.toString(), names]);
    await sync(uri);
  });

  register("envlens.importRequirements", async (arg) => {
    const uri = target(arg instanceof vscode.Uri ? arg : undefined);
    const files = await vscode.window.showOpenDialog({
      title: `Import requirements into ${fileName(uri)}`,
      defaultUri: vscode.Uri.file(path.dirname(uri.fsPath)),
      canSelectMany: false,
      filters: { "Requirements or conda environment": ["txt", "yml", "yaml"] },
    });
    if (!files?.length) return;
    const text = Buffer.from(await vscode.workspace.fs.readFile(files[0])).toString("utf8");
    const parsed = parseRequirementsFile(files[0].fsPath, text);
    const res = await sidecar.resolve(uri);
    const preview = importPreview(res?.declared ?? [], parsed.requirements);
    type Item = vscode.QuickPickItem & { group?: "add" | "remove" | "change"; value?: string };
    const items: Item[] = [];
    const section = (label: string): void => void items.push({ label, kind: vscode.QuickPickItemKind.Separator });
    if (preview.additions.length) section("Add");
    for (const r of preview.additions) items.push({ label: `$(add) ${r}`, picked: true, group: "add", value: r });
    if (preview.changed.length) section("Change");
    for (const [cur, next] of preview.changed) items.push({ label: `$(arrow-swap) ${next}`, description: `was ${cur}`, picked: true, group: "change", value: next });
    if (preview.removals.length) section("Remove (not in the file)");
    for (const r of preview.removals) items.push({ label: `$(remove) ${r}`, picked: true, group: "remove", value: r });
    if (preview.unchanged.length) section("Unchanged");
    for (const r of preview.unchanged) items.push({ label: `$(check) ${r}`, description: "unchanged", picked: true });
    if (parsed.skipped.length) section("Not imported");
    for (const s of parsed.skipped) items.push({ label: `$(circle-slash) ${s}`, description: "not imported" });
    if (!preview.additions.length && !preview.changed.length && !preview.removals.length) {
      void vscode.window.showInformationMessage(`${fileName(files[0])} declares nothing that ${fileName(uri)} does not already declare.`);
      return;
    }
    const picked = await vscode.window.showQuickPick(items, {
      title: `Import ${fileName(files[0])} into ${fileName(uri)}: ${preview.additions.length} to add, ${preview.changed.length} to change, ${preview.removals.length} to remove, ${preview.unchanged.length} unchanged`,
      canPickMany: true,
      placeHolder: "Uncheck what should not change, then press Enter",
    });
    if (!picked) return;
    const chosen = (g: Item["group"]): string[] => picked.filter((i) => i.group === g && i.value).map((i) => i.value!);
    const edits = importEdits(preview, { additions: chosen("add"), removals: chosen("remove"), changed: chosen("change") });
    if (!edits.remove.length && !edits.add.length) return;
    // One job (the view's Jobs lists it), then the sync, which asks for approval of what is new.
    await sidecar.command(ServerCommands.import, [uri.toString(), { add: edits.add, remove: edits.remove, source: files[0].fsPath }]);
    await sync(uri);
  });

  register("envlens.exportRequirements", async (arg) => {
    const uri = target(arg instanceof vscode.Uri ? arg : undefined);
    const [res, info] = await Promise.all([sidecar.resolve(uri), sidecar.environment(uri)]);
    if (!res) throw new Error(`envlens could not read the declaration of ${fileName(uri)}.`);
    const choices = [{ label: "Declared requirements", pinned: false }];
    if (info?.built) choices.push({ label: "Pinned to the installed versions", pinned: true });
    const choice = choices.length > 1 ? await vscode.window.showQuickPick(choices, { title: "Export requirements.txt" }) : choices[0];
    if (!choice) return;
    const dest = await vscode.window.showSaveDialog({
      defaultUri: vscode.Uri.file(path.join(path.dirname(uri.fsPath), "requirements.txt")),
      filters: { "Requirements file": ["txt"] },
    });
    if (!dest) return;
    const text = exportRequirementsTxt(fileName(uri), res.declared.length ? res.declared : res.requirements, choice.pinned ? info?.packages : undefined);
    await vscode.workspace.fs.writeFile(dest, Buffer.from(text, "utf8"));
    void vscode.window.showInformationMessage(`Exported ${fileName(dest)} from ${fileName(uri)}.`);
  });

  register("envlens.lockVersions", async (arg) => {
    const uri = target(arg);
    await withProgress(`envlens: locking ${fileName(uri)}`, () => sidecar.command(ServerCommands.lock, [uri.toString(), {}]));
    await afterChange(uri);
  });
  register("envlens.checkPortabilityTargets", async (arg) => {
    const uri = target(arg);
    await view.reveal();
    // The targets come from envlens.portabilityTargets (sidecar.ts); the view shows the rows.
    await sidecar.command(ServerCommands.checkPortability, [uri.toString()]);
  });
  register("envlens.declareImports", async (arg) => {
    const uri = target(arg);
    await sidecar.command(ServerCommands.declareFromImports, [uri.toString()]);
    await afterChange(uri);
  });
  register("envlens.movePipInstallsToDeclaration", async (arg) => {
    const uri = target(arg);
    await sidecar.command(ServerCommands.movePipInstalls, [uri.toString()]);
    await afterChange(uri);
  });
  register("envlens.trustDeclaration", async (arg) => {
    const uri = target(arg);
    await sidecar.command(ServerCommands.trust, [uri.toString()]);
    await afterChange(uri);
  });

  register("envlens.installModuleAndRerun", async (nbArg, indexArg, moduleArg) => {
    const nbUri = nbArg instanceof vscode.Uri ? nbArg : vscode.Uri.parse(String(nbArg));
    const nb = notebookFor(nbUri);
    if (!nb) throw new Error(`${fileName(nbUri)} is not open.`);
    const module = String(moduleArg);
    const cell = nb.cellAt(Number(indexArg));
    const result = await withProgress(`envlens: installing the distribution of '${module}' into ${fileName(nbUri)}`, () =>
      sidecar.command<InstallAndRerunResult>(ServerCommands.installAndRerun, [controller.sourceUri(nb).toString(), module]),
    );
    sidecar.log.info(`installed ${result?.distribution ?? module} for ${fileName(nbUri)}; bringing the kernel up to date and running the cell again`);
    await afterChange(nbUri);
    // execute() brings the running kernel up to date first (hot add, or the restart question).
    await controller.execute([cell], nb);
  });

  register("envlens.updateKernelAndRerun", async (nbArg, indexArg) => {
    const nbUri = nbArg instanceof vscode.Uri ? nbArg : vscode.Uri.parse(String(nbArg));
    const nb = notebookFor(nbUri);
    if (!nb) throw new Error(`${fileName(nbUri)} is not open.`);
    await controller.execute([nb.cellAt(Number(indexArg))], nb);
  });

  const activeNotebook = (arg?: unknown): vscode.NotebookDocument => {
    if (arg instanceof vscode.Uri) {
      const nb = notebookFor(arg);
      if (nb) return nb;
    }
    const a = arg as { notebookEditor?: { notebookUri?: vscode.Uri } } | undefined;
    if (a?.notebookEditor?.notebookUri) {
      const nb = notebookFor(a.notebookEditor.notebookUri);
      if (nb) return nb;
    }
    const nb = vscode.window.activeNotebookEditor?.notebook;
    if (!nb) throw new Error("Open a notebook first: this acts on the active notebook's kernel.");
    return nb;
  };
  register("envlens.restartKernel", async (arg) => {
    const nb = activeNotebook(arg);
    await withProgress(`envlens: restarting the kernel of ${fileName(nb.uri)}`, () => controller.restart(nb));
  });
  register("envlens.interruptKernel", async (arg) => controller.interrupt(activeNotebook(arg)));

  const scriptUri = (arg: unknown): vscode.Uri => {
    if (arg instanceof vscode.Uri) return arg;
    const doc = vscode.window.activeTextEditor?.document;
    if (!doc || doc.languageId !== "python" || doc.uri.scheme !== "file") throw new Error("Open a # %% Python script first.");
    return doc.uri;
  };
  register("envlens.runCell", async (arg, line) => scripts.run(scriptUri(arg), "cell", typeof line === "number" ? line : undefined));
  register("envlens.runAllCells", async (arg) => scripts.run(scriptUri(arg), "all"));

  register("envlens.showEnvironment", async () => view.reveal());
  register("envlens.refreshEnvironment", async () => view.refresh());
  register("envlens.showLogs", async () => sidecar.log.show());
  register("envlens.restartSidecar", async () => sidecar.restart());
  /** The version a Revert or Show Log acts on: a History row, `[uri, n]`, or picked from a list. */
  const pickVersion = async (arg: unknown, n: unknown, only: (v: HistoryVersion, inUse: number | null) => boolean): Promise<{ uri: vscode.Uri; version: HistoryVersion } | undefined> => {
    const node = arg as EnvNode | undefined;
    const uri = node && typeof node === "object" && "type" in node && node.type === "version" ? vscode.Uri.parse(node.uri) : target(arg);
    const history = await sidecar.request<HistoryResult>(Methods.history, { uri: uri.toString() });
    const wanted = node && typeof node === "object" && "type" in node && node.type === "version" ? node.version.n : typeof n === "number" ? n : undefined;
    if (wanted !== undefined) {
      const version = history.versions.find((v) => v.n === wanted);
      if (!version) throw new Error(`${fileName(uri)} has no version ${wanted}.`);
      return { uri, version };
    }
    const choices = [...history.versions].reverse().filter((v) => only(v, history.inUse));
    if (!choices.length) throw new Error(`${fileName(uri)} has no version to choose: its History lists ${history.versions.length}.`);
    const picked = await vscode.window.showQuickPick(
      choices.map((v) => {
        const row = versionRow(v, history.inUse);
        return { label: `$(${row.icon}) ${row.label}`, description: row.description, detail: v.requirements.join(", ") || "nothing declared", version: v };
      }),
      { title: `Versions of ${fileName(uri)}` },
    );
    return picked ? { uri, version: picked.version } : undefined;
  };

  register("envlens.revertToVersion", async (arg, n) => {
    const picked = await pickVersion(arg, n, (v, inUse) => v.revertible && v.n !== inUse);
    if (!picked) return;
    const { uri, version } = picked;
    if (!version.revertible) {
      throw new Error(`Version ${version.n} of ${fileName(uri)} cannot be reverted to: ${version.status !== "ready" ? `it ${version.status === "failed" ? "failed to build" : "was cancelled"}` : "its declaration lives in a project file (restore that with version control)"}.`);
    }
    const q = revertQuestion(fileName(uri), version);
    const answer = await vscode.window.showWarningMessage(q.message, { modal: true, detail: q.detail }, q.button);
    if (answer !== q.button) return;
    const result = await withProgress(`envlens: reverting ${fileName(uri)} to version ${version.n}`, () =>
      sidecar.command<RevertResult>(ServerCommands.revert, [uri.toString(), version.n]),
    );
    await afterChange(uri);
    if (result) void vscode.window.showInformationMessage(revertDone(fileName(uri), result.revertedTo, result.version, result.built));
  });

  register("envlens.showVersionLog", async (arg, n) => {
    const picked = await pickVersion(arg, n, (v) => v.hasLog);
    if (!picked) return;
    const { uri, version } = picked;
    const log = await sidecar.request<VersionLog>(Methods.historyLog, { uri: uri.toString(), version: version.n });
    const text = log.log ?? `(this log went with its environment ${version.key}, removed since)`;
    await showLog(`${fileName(uri)} version ${version.n}`, `# ${fileName(uri)}, version ${version.n} (${version.status})\n\n${text}\n`);
  });

  register("envlens.removeUnusedEnvironments", async () => {
    const days = vscode.workspace.getConfiguration("envlens").get<number>("pruneAfterDays") || 30;
    const plan = await sidecar.command<PruneResult>(ServerCommands.pruneEnvironments, [{ olderThanDays: days, dryRun: true }]);
    const q = pruneQuestion(plan);
    if (!q.button) {
      void vscode.window.showInformationMessage(q.message);
      return;
    }
    const answer = await vscode.window.showWarningMessage(q.message, { modal: true, detail: q.detail }, q.button);
    if (answer !== q.button) return;
    const done = await withProgress("envlens: removing unused environments", () =>
      sidecar.command<PruneResult>(ServerCommands.pruneEnvironments, [{ olderThanDays: days }]),
    );
    void vscode.window.showInformationMessage(pruneDone(done));
    await view.refresh();
  });

  register("envlens.showOperationLog", async (op) => {
    const o = op as Operation;
    await showLog(`job ${o.id}`, `# ${o.title} (${o.status})\n\n${o.log || "(no output)"}\n`);
  });
}
