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
  /** Packages (besides ipykernel) of the environment of a file that declares nothing. */
  defaultPackages: string[];
  /** Prewarmed environments kept ready for new or undeclared notebooks (0: none). */
  poolSize: number;
  /** A prewarmed environment older than this is rebuilt. */
  poolMaxAgeDays: number;
  /** At start the sidecar removes environments unused for this many days (0: never). */
  pruneAfterDays: number;
}

export const DEFAULT_SETTINGS: EnvlensSettings = {
  uvPath: "",
  defaultPython: "",
  newNotebookDeclaration: "cell",
  serverCommand: [],
  portabilityTargets: [...DEFAULT_TARGETS],
  startKernelOnOpen: true,
  defaultPackages: [],
  poolSize: 1,
  poolMaxAgeDays: 7,
  pruneAfterDays: 30,
};

export interface ValidatedSettings {
  settings: EnvlensSettings;
  problems: string[];
}

/** `get(key)` reads one raw value (VS Code's WorkspaceConfiguration.get or a plain object). */
export function validateSettings(get: (key: keyof EnvlensSettings) => unknown): ValidatedSettings {
  const settings: EnvlensSettings = { ...DEFAULT_SETTINGS, serverCommand: [], portabilityTargets: [...DEFAULT_TARGETS], defaultPackages: [] };
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

  const packages = get("defaultPackages");
  if (packages !== undefined && packages !== null) {
    // A requirement as pip takes it; the sidecar checks it fully (PEP 508).
    if (Array.isArray(packages) && packages.every((p) => typeof p === "string" && /^\s*[A-Za-z0-9][A-Za-z0-9._-]*/.test(p))) {
      settings.defaultPackages = (packages as string[]).map((p) => p.trim());
    } else {
      problems.push(`envlens.defaultPackages must be a list of requirements like ["numpy", "pandas>=2"], not ${JSON.stringify(packages)}; using none`);
    }
  }
  const numbers: [keyof EnvlensSettings & ("poolSize" | "poolMaxAgeDays" | "pruneAfterDays"), string][] = [
    ["poolSize", "a whole number"],
    ["poolMaxAgeDays", "a number of days"],
    ["pruneAfterDays", "a number of days"],
  ];
  for (const [key, what] of numbers) {
    const value = get(key);
    if (value === undefined || value === null) continue;
    const ok = typeof value === "number" && Number.isFinite(value) && value >= 0 && (key !== "poolSize" || Number.isInteger(value));
    if (ok) settings[key] = value;
    else problems.push(`envlens.${key} must be ${what} (0 or more), not ${JSON.stringify(value)}; using ${DEFAULT_SETTINGS[key]}`);
  }
  return { settings, problems };
}

/** What the sidecar receives in workspace/configuration (serverCommand is the extension's own). */
export function serverSettings(s: EnvlensSettings): Record<string, unknown> {
  return {
    uvPath: s.uvPath,
    defaultPython: s.defaultPython,
    newNotebookDeclaration: s.newNotebookDeclaration,
    defaultPackages: s.defaultPackages,
    poolSize: s.poolSize,
    poolMaxAgeDays: s.poolMaxAgeDays,
    pruneAfterDays: s.pruneAfterDays,
  };
}
