// The sidecar: `envlens serve` over stdio through vscode-languageclient, its state in a
// LanguageStatusItem, its logs in the "envlens" output channel.
import * as path from "node:path";
import * as vscode from "vscode";
import {
  CloseAction,
  ErrorAction,
  ExecuteCommandRequest,
  LanguageClient,
  State,
  type LanguageClientOptions,
  type ServerOptions,
} from "vscode-languageclient/node";
import { ensureSidecarEnv, SidecarSetupError } from "./core/sidecarEnv";
import { serverSettings, validateSettings, type EnvlensSettings } from "./core/settings";
import { Methods, ServerCommands, type EnvironmentInfo, type HistoryResult, type ResolveResult } from "./core/protocol";
import { applyNotebookEdit, type ApplyNotebookEditParams } from "./notebookEdits";

/** Commands that install something, or may run a package's build code (uv builds an sdist to read
 * its metadata while locking or checking portability): the trust gate runs first. */
const GATED = new Set<string>([ServerCommands.install, ServerCommands.sync, ServerCommands.installAndRerun, ServerCommands.lock, ServerCommands.checkPortability]);

export interface Gate {
  ensure(uri: vscode.Uri): Promise<boolean>;
}

/** A sidecar command's run: `result` or `error` once it finished. */
export interface CommandEvent {
  command: string;
  uri: string | undefined;
  result?: unknown;
  error?: string;
}

/** Arguments as sent: Check Portability gets the targets of envlens.portabilityTargets (the
 * sidecar's lens passes only the file). */
function withDefaults(command: string, args: unknown[]): unknown[] {
  if (command !== ServerCommands.checkPortability || typeof args[0] !== "string") return args;
  const opts = args[1] && typeof args[1] === "object" ? (args[1] as Record<string, unknown>) : {};
  if (Array.isArray(opts.platforms) && opts.platforms.length > 0) return args;
  return [args[0], { ...opts, platforms: readSettings().settings.portabilityTargets }, ...args.slice(2)];
}

/** Saved files, and untitled ones: the sidecar reads those from the editor (docs/protocol.md). */
const RESOLVABLE = new Set(["file", "untitled"]);
/** History is kept per file on disk: an untitled notebook has none. */
const HISTORY_SCHEMES = new Set(["file"]);

export type SidecarState = "stopped" | "preparing" | "starting" | "running" | "failed" | "restricted";

export function readSettings(): { settings: EnvlensSettings; problems: string[] } {
  const config = vscode.workspace.getConfiguration("envlens");
  return validateSettings((key) => config.get(key));
}

export class Sidecar implements vscode.Disposable {
  readonly log: vscode.LogOutputChannel;
  private client: LanguageClient | undefined;
  private starting: Promise<LanguageClient | undefined> | undefined;
  private readonly status: vscode.LanguageStatusItem;
  private stateValue: SidecarState = "stopped";
  private failure = "";
  private readonly stateEmitter = new vscode.EventEmitter<SidecarState>();
  readonly onDidChangeState = this.stateEmitter.event;
  private readonly notificationHandlers = new Map<string, ((params: unknown) => void)[]>();
  private readonly requestHandlers = new Map<string, (params: unknown) => Promise<unknown>>();
  private readonly disposables: vscode.Disposable[] = [];
  gate: Gate | undefined;
  private readonly commandEmitter = new vscode.EventEmitter<CommandEvent>();
  /** A sidecar command finished (from a lens, a code action or the palette): views refresh. */
  readonly onDidRunCommand = this.commandEmitter.event;
  private readonly commandStartEmitter = new vscode.EventEmitter<CommandEvent>();
  /** A sidecar command was sent (the Environment view shows a check as running). */
  readonly onWillRunCommand = this.commandStartEmitter.event;

  constructor(private readonly context: vscode.ExtensionContext) {
    this.log = vscode.window.createOutputChannel("envlens", { log: true });
    this.status = vscode.languages.createLanguageStatusItem("envlens.sidecar", [
      { language: "python" },
      { notebookType: "jupyter-notebook" },
    ]);
    this.status.name = "envlens sidecar";
    this.setState("stopped");
    this.disposables.push(
      this.status,
      this.stateEmitter,
      this.commandEmitter,
      this.commandStartEmitter,
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration("envlens.serverCommand")) void this.restart();
        else if (e.affectsConfiguration("envlens")) this.reportSettingsProblems();
      }),
    );
  }

  get state(): SidecarState {
    return this.stateValue;
  }

  private setState(state: SidecarState, detail = ""): void {
    this.stateValue = state;
    const s = this.status;
    s.busy = state === "preparing" || state === "starting";
    s.severity = state === "failed" ? vscode.LanguageStatusSeverity.Error : vscode.LanguageStatusSeverity.Information;
    const texts: Record<SidecarState, string> = {
      stopped: "envlens: stopped",
      preparing: "envlens: setting up the sidecar",
      starting: "envlens: starting",
      running: "envlens: ready",
      failed: "envlens: sidecar failed",
      restricted: "envlens: restricted workspace",
    };
    s.text = texts[state];
    s.detail = detail || (state === "restricted" ? "Trust this workspace to build environments and run cells" : undefined);
    s.command =
      state === "failed"
        ? { title: "Show Logs", command: "envlens.showLogs" }
        : state === "restricted"
          ? { title: "Manage Workspace Trust", command: "workbench.trust.manage" }
          : state === "stopped"
            ? { title: "Start", command: "envlens.restartSidecar" }
            : { title: "Show Logs", command: "envlens.showLogs" };
    this.stateEmitter.fire(state);
  }

  /** The running client, starting the sidecar on first use; undefined when it cannot start. */
  async ready(): Promise<LanguageClient | undefined> {
    if (this.client && this.client.state === State.Running) return this.client;
    if (!vscode.workspace.isTrusted) {
      this.setState("restricted");
      return undefined;
    }
    // Assigned before start() runs: its state events reach listeners that call ready() again.
    this.starting ??= Promise.resolve()
      .then(() => this.start())
      .finally(() => (this.starting = undefined));
    return this.starting;
  }

  /** Like ready(), but throws a message for the user when the sidecar is not running. */
  async require(): Promise<LanguageClient> {
    const c = await this.ready();
    if (!c) {
      if (!vscode.workspace.isTrusted) {
        throw new Error("envlens installs and runs nothing in a restricted workspace: trust the workspace first.");
      }
      throw new Error(`The envlens sidecar is not running: ${this.failure || "see the envlens output"}.`);
    }
    return c;
  }

  private async serverCommand(settings: EnvlensSettings): Promise<{ command: string; args: string[] }> {
    if (settings.serverCommand.length > 0) {
      const [command, ...args] = settings.serverCommand;
      return { command, args };
    }
    // F5 from the repository (.vscode/launch.json): the working tree's sidecar, no wheelhouse needed.
    const devPython = process.env.ENVLENS_DEV_SIDECAR;
    if (devPython) return { command: devPython, args: ["-Xfrozen_modules=off", "-m", "envlens", "serve"] };
    const envlens = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Window, title: "envlens: setting up the sidecar environment" },
      () =>
        ensureSidecarEnv({
          storageDir: this.context.globalStorageUri.fsPath,
          wheelhouse: this.context.asAbsolutePath(path.join("dist", "wheelhouse")),
          log: (line) => this.log.info(line),
        }),
    );
    return { command: envlens, args: ["serve"] };
  }

  private reportSettingsProblems(): EnvlensSettings {
    const { settings, problems } = readSettings();
    for (const p of problems) {
      this.log.warn(p);
      void vscode.window.showWarningMessage(p);
    }
    return settings;
  }

  private async start(): Promise<LanguageClient | undefined> {
    const settings = this.reportSettingsProblems();
    this.setState("preparing");
    let cmd: { command: string; args: string[] };
    try {
      cmd = await this.serverCommand(settings);
    } catch (e) {
      this.fail(e instanceof SidecarSetupError ? e.message : `Could not set up the envlens sidecar: ${String(e)}`, e);
      return undefined;
    }
    this.setState("starting", `${cmd.command} ${cmd.args.join(" ")}`);
    this.log.info(`starting the sidecar: ${cmd.command} ${cmd.args.join(" ")}`);
    const serverOptions: ServerOptions = {
      run: { command: cmd.command, args: cmd.args, options: { env: { ...process.env, PYTHONUNBUFFERED: "1" } } },
      debug: { command: cmd.command, args: cmd.args, options: { env: { ...process.env, PYTHONUNBUFFERED: "1" } } },
    };
    let crashes = 0;
    const clientOptions: LanguageClientOptions = {
      documentSelector: [
        { scheme: "file", language: "python" },
        { scheme: "untitled", language: "python" },
        { notebook: { notebookType: "jupyter-notebook" }, language: "python" },
      ],
      outputChannel: this.log,
      synchronize: { configurationSection: "envlens" },
      middleware: {
        // Lens and code-action commands go through here: the trust gate first, errors with Show Logs.
        executeCommand: async (command, args, next) => {
          const uri = typeof args[0] === "string" ? args[0] : undefined;
          const done: CommandEvent = { command, uri };
          try {
            if (GATED.has(command) && uri && this.gate && !(await this.gate.ensure(vscode.Uri.parse(uri)))) return undefined;
            this.commandStartEmitter.fire({ command, uri });
            done.result = await next(command, withDefaults(command, args));
            return done.result;
          } catch (e) {
            const msg = e instanceof Error ? e.message : String(e);
            done.error = msg;
            void vscode.window.showErrorMessage(msg, "Show Logs").then((c) => c === "Show Logs" && this.log.show());
            return undefined;
          } finally {
            this.commandEmitter.fire(done);
          }
        },
        workspace: {
          // serverCommand is the extension's own setting; the sidecar gets the validated rest.
          configuration: async (params, token, next) => {
            const result = (await next(params, token)) as unknown[];
            return params.items.map((item, i) => (item.section === "envlens" ? serverSettings(readSettings().settings) : result[i]));
          },
        },
      },
      errorHandler: {
        error: () => ({ action: ErrorAction.Continue }),
        closed: () => {
          crashes++;
          if (crashes <= 3) {
            this.log.warn(`the sidecar stopped; restarting it (${crashes}/3)`);
            return { action: CloseAction.Restart };
          }
          this.fail("The envlens sidecar stopped 4 times: see the envlens output for why.");
          return { action: CloseAction.DoNotRestart };
        },
      },
      initializationFailedHandler: (error) => {
        this.fail(`The envlens sidecar did not initialize: ${error instanceof Error ? error.message : String(error)}`);
        return false;
      },
    };
    const client = new LanguageClient("envlens", "envlens", serverOptions, clientOptions);
    client.onDidChangeState((e) => {
      if (e.newState === State.Running) this.setState("running", `${cmd.command} ${cmd.args.join(" ")}`);
      else if (e.newState === State.Stopped && this.stateValue !== "failed") this.setState("stopped");
    });
    for (const [method, handlers] of this.notificationHandlers) {
      client.onNotification(method, (params: unknown) => handlers.forEach((h) => h(params)));
    }
    client.onRequest("envlens/applyNotebookEdit", (params: ApplyNotebookEditParams) => applyNotebookEdit(params, this.log));
    for (const [method, handler] of this.requestHandlers) client.onRequest(method, handler);
    try {
      await client.start();
    } catch (e) {
      this.fail(`The envlens sidecar (${cmd.command}) could not start: ${e instanceof Error ? e.message : String(e)}`, e);
      return undefined;
    }
    this.client = client;
    this.setState("running", `${cmd.command} ${cmd.args.join(" ")}`);
    return client;
  }

  private fail(message: string, error?: unknown): void {
    this.failure = message;
    this.log.error(message);
    if (error instanceof SidecarSetupError && error.detail) this.log.error(error.detail);
    this.setState("failed", message);
    void vscode.window.showErrorMessage(message, "Show Logs").then((choice) => {
      if (choice === "Show Logs") this.log.show();
    });
  }

  onNotification<P>(method: string, handler: (params: P) => void): void {
    const list = this.notificationHandlers.get(method) ?? [];
    list.push(handler as (params: unknown) => void);
    this.notificationHandlers.set(method, list);
    this.client?.onNotification(method, (params: unknown) => handler(params as P));
  }

  /** A request from the sidecar (input() in a cell); one handler per method. */
  onRequest<P, R>(method: string, handler: (params: P) => Promise<R>): void {
    const h = handler as (params: unknown) => Promise<unknown>;
    this.requestHandlers.set(method, h);
    this.client?.onRequest(method, h);
  }

  async request<R>(method: string, params: unknown, token?: vscode.CancellationToken): Promise<R> {
    const client = await this.require();
    // An undefined token would be sent as a second positional parameter.
    return token ? client.sendRequest<R>(method, params, token) : client.sendRequest<R>(method, params);
  }

  async command<R = unknown>(command: string, args: unknown[]): Promise<R> {
    const client = await this.require();
    const uri = typeof args[0] === "string" ? args[0] : undefined;
    if (GATED.has(command) && uri && this.gate && !(await this.gate.ensure(vscode.Uri.parse(uri)))) {
      throw new Error(`Nothing was installed: the dependencies of ${vscode.Uri.parse(uri).fsPath} are not approved.`);
    }
    const done: CommandEvent = { command, uri };
    this.commandStartEmitter.fire({ command, uri });
    args = withDefaults(command, args);
    try {
      done.result = await client.sendRequest(ExecuteCommandRequest.type, { command, arguments: args });
      return done.result as R;
    } catch (e) {
      // The command itself changed the declaration (install-and-rerun adds a package): the new
      // declaration needs the user's approval, then the command runs again.
      const msg = e instanceof Error ? e.message : String(e);
      if (GATED.has(command) && uri && this.gate && /not approved on this machine/.test(msg)) {
        if (!(await this.gate.ensure(vscode.Uri.parse(uri)))) {
          done.error = msg;
          throw e;
        }
        done.result = await client.sendRequest(ExecuteCommandRequest.type, { command, arguments: args });
        return done.result as R;
      }
      done.error = msg;
      throw e;
    } finally {
      this.commandEmitter.fire(done);
    }
  }

  async resolve(uri: vscode.Uri): Promise<ResolveResult | undefined> {
    return this.fileQuery<ResolveResult>(Methods.resolve, "resolve", uri, RESOLVABLE);
  }

  async environment(uri: vscode.Uri): Promise<EnvironmentInfo | undefined> {
    return this.fileQuery<EnvironmentInfo>(Methods.environment, "environment", uri, RESOLVABLE);
  }

  /** The file's environment history (envlens/history); undefined when it cannot be read. */
  async history(uri: vscode.Uri): Promise<HistoryResult | undefined> {
    return this.fileQuery<HistoryResult>(Methods.history, "history", uri, HISTORY_SCHEMES);
  }

  /** A question about one file; undefined (the reason logged) for another scheme, no sidecar, or an
   * error: the views and the controller show "not known" rather than fail. */
  private async fileQuery<R>(method: string, what: string, uri: vscode.Uri, schemes: ReadonlySet<string>): Promise<R | undefined> {
    if (!schemes.has(uri.scheme)) return undefined;
    const client = await this.ready();
    if (!client) return undefined;
    try {
      return await client.sendRequest<R>(method, { uri: uri.toString() });
    } catch (e) {
      this.log.info(`${what} ${uri.fsPath}: ${e instanceof Error ? e.message : String(e)}`);
      return undefined;
    }
  }

  async restart(): Promise<void> {
    const old = this.client;
    this.client = undefined;
    if (old) {
      try {
        await old.stop();
      } catch (e) {
        this.log.warn(`stopping the sidecar: ${String(e)}`);
      }
    }
    this.failure = "";
    await this.ready();
  }

  dispose(): void {
    void this.client?.stop();
    this.disposables.forEach((d) => d.dispose());
  }
}
