// The extension's settings (docs/protocol.md): an invalid value is reported and the default used.
import { DEFAULT_TARGETS, validateTargets } from "./portability";

export interface EnvlensSettings {
  uvPath: string;
  defaultPython: string;
  newNotebookDeclaration: "cell" | "metadata";
  serverCommand: string[];
  /** Platforms for Check Portability (the extension passes them to envlens.checkPortability). */
  portabilityTargets: string[];
  /** Start an approved notebook's kernel when it opens with its environment built (the first run
   * then does not wait for Python and ipykernel to load). */
  startKernelOnOpen: boolean;
}

export const DEFAULT_SETTINGS: EnvlensSettings = {
  uvPath: "",
  defaultPython: "",
  newNotebookDeclaration: "cell",
  serverCommand: [],
  portabilityTargets: [...DEFAULT_TARGETS],
  startKernelOnOpen: true,
};

export interface ValidatedSettings {
  settings: EnvlensSettings;
  problems: string[];
}

/** `get(key)` reads one raw value (VS Code's WorkspaceConfiguration.get or a plain object). */
export function validateSettings(get: (key: keyof EnvlensSettings) => unknown): ValidatedSettings {
  const settings: EnvlensSettings = { ...DEFAULT_SETTINGS, serverCommand: [], portabilityTargets: [...DEFAULT_TARGETS] };
  const problems: string[] = [];

  const uvPath = get("uvPath");
  if (uvPath !== undefined && uvPath !== null) {
    if (typeof uvPath === "string") settings.uvPath = uvPath.trim();
    else problems.push(`envlens.uvPath must be a path (a string), not ${JSON.stringify(uvPath)}; using the bundled uv`);
  }

  const py = get("defaultPython");
  if (py !== undefined && py !== null && py !== "") {
    if (typeof py === "string" && /^\d+(\.\d+){0,2}$/.test(py.trim())) settings.defaultPython = py.trim();
    else problems.push(`envlens.defaultPython must be a version like "3.12", not ${JSON.stringify(py)}; ignoring it`);
  }

  const place = get("newNotebookDeclaration");
  if (place !== undefined && place !== null && place !== "") {
    if (place === "cell" || place === "metadata") settings.newNotebookDeclaration = place;
    else problems.push(`envlens.newNotebookDeclaration must be "cell" or "metadata", not ${JSON.stringify(place)}; using "cell"`);
  }

  const cmd = get("serverCommand");
  if (cmd !== undefined && cmd !== null) {
    if (Array.isArray(cmd) && cmd.every((c) => typeof c === "string" && c.length > 0)) {
      settings.serverCommand = cmd as string[];
    } else if (typeof cmd === "string" && cmd.trim()) {
      problems.push(
        `envlens.serverCommand must be a list like ["/path/to/envlens", "serve"], not the string ${JSON.stringify(cmd)}; using the bundled sidecar`,
      );
    } else if (!(Array.isArray(cmd) && cmd.length === 0)) {
      problems.push(`envlens.serverCommand must be a list of non-empty strings, not ${JSON.stringify(cmd)}; using the bundled sidecar`);
    }
  }

  const eager = get("startKernelOnOpen");
  if (eager !== undefined && eager !== null) {
    if (typeof eager === "boolean") settings.startKernelOnOpen = eager;
    else problems.push(`envlens.startKernelOnOpen must be true or false, not ${JSON.stringify(eager)}; using true`);
  }

  const targets = validateTargets(get("portabilityTargets"));
  settings.portabilityTargets = targets.targets;
  problems.push(...targets.problems);
  return { settings, problems };
}

/** What the sidecar receives in workspace/configuration (serverCommand is the extension's own). */
export function serverSettings(s: EnvlensSettings): Record<string, unknown> {
  return { uvPath: s.uvPath, defaultPython: s.defaultPython, newNotebookDeclaration: s.newNotebookDeclaration };
}
