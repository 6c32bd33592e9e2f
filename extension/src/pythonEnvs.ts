// The Python Environments extension (ms-python.vscode-python-envs), where it is installed: envlens
// registers an environment manager through its API and sets, for each script and notebook whose
// environment it built, that environment as the file's (a per-file Python project, as that
// extension records scripts), so the Python extension and Pylance use the kernel's interpreter.
import * as vscode from "vscode";
import { controllerLabel } from "./core/labels";
import {
  environmentInfo,
  PYTHON_ENVS_EXTENSION,
  type EnvironmentManager,
  type PackageManager,
  type PythonEnvironment,
  type PythonEnvironmentApi,
} from "./core/pythonEnvsApi";
import type { EnvironmentInfo, ResolveResult } from "./core/protocol";
import { messageOf, type EnvlensController } from "./controller";
import type { Sidecar } from "./sidecar";

type Env = PythonEnvironment<vscode.Uri>;
type Api = PythonEnvironmentApi<vscode.Uri, vscode.Event<unknown>>;

export class PythonEnvironments implements vscode.Disposable {
  private api: Api | undefined;
  private readonly byKey = new Map<string, { env: Env; packages: { name: string; version: string }[] }>();
  private readonly byFile = new Map<string, Env>();
  private readonly envsChanged = new vscode.EventEmitter<unknown>();
  private readonly envChanged = new vscode.EventEmitter<unknown>();
  private readonly disposables: vscode.Disposable[] = [this.envsChanged, this.envChanged];
  private readonly manager: EnvironmentManager<vscode.Uri, vscode.Event<unknown>>;
  private readonly packages: PackageManager<vscode.Uri>;
  private readonly pending = new Map<string, NodeJS.Timeout>();

  constructor(
    private readonly sidecar: Sidecar,
    private readonly controller: EnvlensController,
    private readonly extensionId: string,
  ) {
    this.manager = {
      name: "envlens",
      displayName: "envlens",
      description: "Environments declared in scripts and notebooks (PEP 723), built by envlens",
      preferredPackageManagerId: `${extensionId}:envlens`,
      refresh: async () => undefined,
      getEnvironments: async (scope) => {
        if (scope instanceof vscode.Uri) {
          const env = this.byFile.get(scope.toString());
          return env ? [env] : [];
        }
        return [...this.byKey.values()].map((e) => e.env);
      },
      set: async (scope, env) => {
        for (const uri of scope instanceof vscode.Uri ? [scope] : (scope ?? [])) {
          if (env) this.byFile.set(uri.toString(), env);
        }
      },
      get: async (scope) => (scope ? this.byFile.get(scope.toString()) : undefined),
      resolve: async (context) => [...this.byKey.values()].map((e) => e.env).find((e) => context.fsPath === e.sysPrefix || context.fsPath.startsWith(`${e.sysPrefix}/`)),
      onDidChangeEnvironments: this.envsChanged.event,
      onDidChangeEnvironment: this.envChanged.event,
    };
    this.packages = {
      name: "envlens",
      displayName: "envlens",
      description: "Packages come from the file's declaration",
      manage: async () => {
        throw new Error("envlens installs what a file declares: add the package with envlens: Add Package... (or %pip install in a cell).");
      },
      refresh: async () => undefined,
      getPackages: async (env) => {
        const api = this.api;
        const known = [...this.byKey.values()].find((e) => e.env.envId.id === env.envId.id);
        if (!api || !known) return undefined;
        return known.packages.map((p) => api.createPackageItem({ name: p.name, displayName: p.name, version: p.version }, env, this.packages));
      },
    };
    if (vscode.extensions.getExtension(PYTHON_ENVS_EXTENSION)) void this.start();
  }

  private async start(): Promise<void> {
    const ext = vscode.extensions.getExtension<Api | undefined>(PYTHON_ENVS_EXTENSION);
    if (!ext) return;
    try {
      const api = ext.isActive ? ext.exports : await ext.activate();
      if (!api || typeof api.registerEnvironmentManager !== "function") {
        this.sidecar.log.warn(`${PYTHON_ENVS_EXTENSION} is installed but gave no API (python.useEnvironmentsExtension may be off): Pylance will not see envlens's environments`);
        return;
      }
      this.disposables.push(
        api.registerEnvironmentManager(this.manager, { extensionId: this.extensionId }) as vscode.Disposable,
        api.registerPackageManager(this.packages, { extensionId: this.extensionId }) as vscode.Disposable,
      );
      this.api = api;
      this.sidecar.log.info(`registered the envlens environment manager with ${PYTHON_ENVS_EXTENSION} ${String(ext.packageJSON.version)}`);
    } catch (e) {
      this.sidecar.log.warn(`the ${PYTHON_ENVS_EXTENSION} API failed: ${messageOf(e)}`);
      return;
    }
    this.disposables.push(
      vscode.workspace.onDidOpenTextDocument((d) => this.soon(d.uri, d.languageId)),
      vscode.workspace.onDidSaveTextDocument((d) => this.soon(d.uri, d.languageId)),
      vscode.workspace.onDidOpenNotebookDocument((nb) => this.soon(nb.uri, "notebook")),
      this.sidecar.onDidRunCommand((c) => c.uri && this.soon(vscode.Uri.parse(c.uri), "python")),
      this.controller.onDidChange((nb) => this.soon(this.controller.sourceUri(nb), "notebook")),
    );
    for (const d of vscode.workspace.textDocuments) this.soon(d.uri, d.languageId);
    for (const nb of vscode.workspace.notebookDocuments) this.soon(nb.uri, "notebook");
  }

  private soon(uri: vscode.Uri, languageId: string): void {
    if (uri.scheme !== "file" || (languageId !== "python" && languageId !== "notebook")) return;
    const k = uri.toString();
    clearTimeout(this.pending.get(k));
    this.pending.set(
      k,
      setTimeout(() => {
        this.pending.delete(k);
        void this.publish(uri).catch((e) => this.sidecar.log.warn(`telling ${PYTHON_ENVS_EXTENSION} the environment of ${uri.fsPath}: ${messageOf(e)}`));
      }, 500),
    );
  }

  /** The file's built environment becomes its environment in the Python Environments extension. */
  private async publish(uri: vscode.Uri): Promise<void> {
    const api = this.api;
    if (!api || this.sidecar.state !== "running") return;
    const res = await this.sidecar.resolve(uri);
    if (!res || res.runtime !== "python" || !res.built) return;
    const info = await this.sidecar.environment(uri);
    if (!info?.built) return;
    const env = this.environment(api, res, info);
    const k = uri.toString();
    if (this.byFile.get(k)?.envId.id === env.envId.id) return;
    const project = api.getPythonProject(uri);
    if (!project || project.uri.toString() !== k) {
      await api.addPythonProject({ name: uri.path.split("/").pop() ?? uri.fsPath, uri, description: "envlens: environment declared in the file" });
    }
    await api.setEnvironment(uri, env);
    this.byFile.set(k, env);
    this.envChanged.fire({ uri, new: env, old: undefined });
    this.sidecar.log.info(`${PYTHON_ENVS_EXTENSION}: ${uri.fsPath} uses ${env.execInfo.run.executable}`);
  }

  private environment(api: Api, res: ResolveResult, info: EnvironmentInfo): Env {
    const known = this.byKey.get(res.key);
    if (known) {
      known.packages = info.packages;
      return known.env;
    }
    const env = api.createPythonEnvironmentItem(
      environmentInfo(
        { key: res.key, envPath: info.envPath, pythonVersion: info.pythonVersion, label: controllerLabel(res, info.pythonVersion), source: res.source.label },
        (p) => vscode.Uri.file(p),
      ),
      this.manager,
    );
    this.byKey.set(res.key, { env, packages: info.packages });
    this.envsChanged.fire([{ kind: "add", environment: env }]);
    return env;
  }

  dispose(): void {
    this.pending.forEach((t) => clearTimeout(t));
    this.disposables.forEach((d) => d.dispose());
  }
}
