// The part of the Python Environments extension's API (ms-python.vscode-python-envs, src/api.ts)
// that envlens uses, typed structurally so that nothing of it is bundled. No vscode import: Uri and
// Event are generic parameters here.

export interface PythonEnvironmentId {
  id: string;
  managerId: string;
}

export interface PythonEnvironmentInfo<U> {
  readonly name: string;
  readonly displayName: string;
  readonly shortDisplayName?: string;
  readonly displayPath: string;
  readonly version: string;
  readonly environmentPath: U;
  readonly description?: string;
  readonly tooltip?: string;
  readonly execInfo: { run: { executable: string; args?: string[] } };
  readonly sysPrefix: string;
  readonly group?: string;
}

export interface PythonEnvironment<U> extends PythonEnvironmentInfo<U> {
  readonly envId: PythonEnvironmentId;
}

export interface EnvironmentManager<U, E> {
  readonly name: string;
  readonly displayName?: string;
  readonly preferredPackageManagerId: string;
  readonly description?: string;
  refresh(scope: U | undefined): Promise<void>;
  getEnvironments(scope: U | "all" | "global"): Promise<PythonEnvironment<U>[]>;
  set(scope: undefined | U | U[], environment?: PythonEnvironment<U>): Promise<void>;
  get(scope: undefined | U): Promise<PythonEnvironment<U> | undefined>;
  resolve(context: U): Promise<PythonEnvironment<U> | undefined>;
  onDidChangeEnvironments?: E;
  onDidChangeEnvironment?: E;
}

export interface PackageInfo {
  readonly name: string;
  readonly displayName: string;
  readonly version?: string;
}

export interface PackageManager<U> {
  name: string;
  displayName?: string;
  description?: string;
  manage(environment: PythonEnvironment<U>, options: unknown): Promise<void>;
  refresh(environment: PythonEnvironment<U>): Promise<void>;
  getPackages(environment: PythonEnvironment<U>): Promise<unknown[] | undefined>;
}

export interface PythonProject<U> {
  readonly name: string;
  readonly uri: U;
  readonly description?: string;
}

export interface Disposable {
  dispose(): unknown;
}

export interface PythonEnvironmentApi<U, E> {
  registerEnvironmentManager(manager: EnvironmentManager<U, E>, options?: { extensionId?: string }): Disposable;
  registerPackageManager(manager: PackageManager<U>, options?: { extensionId?: string }): Disposable;
  createPythonEnvironmentItem(info: PythonEnvironmentInfo<U>, manager: EnvironmentManager<U, E>): PythonEnvironment<U>;
  createPackageItem(info: PackageInfo, environment: PythonEnvironment<U>, manager: PackageManager<U>): unknown;
  setEnvironment(scope: undefined | U | U[], environment?: PythonEnvironment<U>): Promise<void>;
  getEnvironment(scope: undefined | U): Promise<PythonEnvironment<U> | undefined>;
  addPythonProject(projects: PythonProject<U> | PythonProject<U>[]): void | Promise<void>;
  getPythonProject(uri: U): PythonProject<U> | undefined;
}

export const PYTHON_ENVS_EXTENSION = "ms-python.vscode-python-envs";

/** The environment as the Python Environments extension lists it. */
export function environmentInfo<U>(
  env: { key: string; envPath: string; pythonVersion: string | null; label: string; source: string },
  uriOf: (path: string) => U,
): PythonEnvironmentInfo<U> {
  const python = `${env.envPath}/bin/python`;
  const version = env.pythonVersion ?? "";
  return {
    name: `envlens-${env.key}`,
    displayName: env.label,
    shortDisplayName: env.label.replace(/^envlens: /, ""),
    displayPath: env.envPath,
    version,
    environmentPath: uriOf(python),
    description: `declared in ${env.source}`,
    tooltip: `The environment envlens built for ${env.source} (${env.key}); its kernel runs ${python}`,
    execInfo: { run: { executable: python } },
    sysPrefix: env.envPath,
    group: "envlens",
  };
}
