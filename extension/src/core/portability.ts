// Check Portability in the Environment view: the targets (setting envlens.portabilityTargets) and,
// once checked, one row per target and Python (works / builds from source / fails) with the
// one-line reasons. The result is `envlens.checkPortability`'s (server/envlens/portability.py).

/** The sidecar's platform names (envlens check --platform), in the order a picker shows them. */
export const KNOWN_PLATFORMS = [
  "linux-x86_64",
  "linux-aarch64",
  "macos-arm64",
  "macos-x86_64",
  "windows-x86_64",
  "windows-arm64",
  "linux-x86_64-musl",
] as const;

export const DEFAULT_TARGETS: readonly string[] = ["linux-x86_64", "linux-aarch64", "macos-arm64", "windows-x86_64"];

/** Other spellings the sidecar accepts, mapped to its names. */
const ALIASES: Record<string, string> = {
  linux: "linux-x86_64",
  "linux-amd64": "linux-x86_64",
  "linux-arm64": "linux-aarch64",
  macos: "macos-arm64",
  "osx-arm64": "macos-arm64",
  "darwin-arm64": "macos-arm64",
  windows: "windows-x86_64",
  "win-amd64": "windows-x86_64",
  win64: "windows-x86_64",
};

/** A platform name as the sidecar knows it, or undefined for an unknown one. */
export function canonicalPlatform(name: string): string | undefined {
  const n = name.trim().toLowerCase();
  const c = ALIASES[n] ?? n;
  return (KNOWN_PLATFORMS as readonly string[]).includes(c) ? c : undefined;
}

/** "linux-aarch64" -> "Linux aarch64", "macos-arm64" -> "macOS arm64", "linux-x86_64-musl" -> "Linux x86_64 (musl)". */
export function platformLabel(platform: string): string {
  const m = /^(linux|macos|windows)-(.+?)(-musl)?$/.exec(platform);
  if (!m) return platform;
  const os = m[1] === "linux" ? "Linux" : m[1] === "macos" ? "macOS" : "Windows";
  return `${os} ${m[2]}${m[3] ? " (musl)" : ""}`;
}

export interface PortabilityProblem {
  package: string;
  version: string | null;
  reason: string;
  needsBuild: boolean;
}

export interface PortabilityVerdict {
  platform: string;
  python: string;
  status: "works" | "builds" | "fails";
  problems: PortabilityProblem[];
  packages: Record<string, string>;
}

export interface PortabilityResult {
  ok: boolean;
  verdicts: PortabilityVerdict[];
}

/** What the view knows about one file's last check. */
export interface PortabilityCheck {
  running: boolean;
  /** The environment key of the declaration that was checked (a later change makes it stale). */
  key?: string;
  result?: PortabilityResult;
  error?: string;
}

export type RowStatus = "works" | "builds" | "fails" | "unchecked" | "checking";

export interface PortabilityRow {
  id: string;
  label: string;
  description: string;
  icon: string;
  status: RowStatus;
  reasons: string[];
  tooltip: string;
}

const ICONS: Record<RowStatus, string> = {
  works: "pass",
  builds: "warning",
  fails: "error",
  unchecked: "circle-large-outline",
  checking: "sync~spin",
};

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

function verdictRow(v: PortabilityVerdict): PortabilityRow {
  const n = Object.keys(v.packages).length;
  const what =
    v.status === "works"
      ? `works · ${plural(n, "package")}, all from wheels`
      : v.status === "builds"
        ? "builds from source (needs a compiler)"
        : `fails · ${plural(v.problems.length, "problem")}`;
  const reasons = v.problems.map((p) => p.reason).filter((r) => r.length > 0);
  const label = platformLabel(v.platform);
  return {
    id: `${v.platform}@${v.python}`,
    label,
    description: `Python ${v.python} · ${what}`,
    icon: ICONS[v.status],
    status: v.status,
    reasons,
    tooltip: [`${label}, Python ${v.python}: ${what}`, ...reasons.map((r) => `- ${r}`)].join("\n"),
  };
}

/** Rows in the targets' order; verdicts for platforms no longer in the targets come last. */
export function portabilityRows(targets: readonly string[], check: PortabilityCheck | undefined): PortabilityRow[] {
  const verdicts = check?.result?.verdicts ?? [];
  const rows: PortabilityRow[] = [];
  const seen = new Set<string>();
  for (const t of targets) {
    const mine = verdicts.filter((v) => v.platform === t);
    if (mine.length > 0) {
      mine.forEach((v) => rows.push(verdictRow(v)));
    } else {
      const checking = !!check?.running;
      rows.push({
        id: `${t}@`,
        label: platformLabel(t),
        description: checking ? "checking…" : "not checked",
        icon: ICONS[checking ? "checking" : "unchecked"],
        status: checking ? "checking" : "unchecked",
        reasons: [],
        tooltip: `${platformLabel(t)} (${t}): run Check Portability`,
      });
    }
    seen.add(t);
  }
  for (const v of verdicts) if (!seen.has(v.platform)) rows.push(verdictRow(v));
  return rows;
}

/** The section's description: what was found, or why there is nothing yet. */
export function portabilitySummary(check: PortabilityCheck | undefined, currentKey: string | undefined): string {
  if (check?.running) return "checking…";
  if (check?.error) return `check failed: ${check.error}`;
  const verdicts = check?.result?.verdicts;
  if (!verdicts || verdicts.length === 0) return "not checked";
  const working = verdicts.filter((v) => v.status !== "fails").length;
  const text = working === verdicts.length ? `all ${verdicts.length} targets work` : `${working} of ${verdicts.length} targets work`;
  const stale = check?.key !== undefined && currentKey !== undefined && check.key !== currentKey;
  return stale ? `${text} (declaration changed since: check again)` : text;
}

/** One line for a notification after a check started from a lens. */
export function portabilityMessage(fileName: string, result: PortabilityResult): string {
  const names = (vs: PortabilityVerdict[]): string => vs.map((v) => `${platformLabel(v.platform)} (Python ${v.python})`).join(", ");
  const works = result.verdicts.filter((v) => v.status === "works");
  const builds = result.verdicts.filter((v) => v.status === "builds");
  const fails = result.verdicts.filter((v) => v.status === "fails");
  if (fails.length === 0 && builds.length === 0) return `${fileName} installs from wheels on every target: ${names(works)}.`;
  const parts: string[] = [];
  if (works.length) parts.push(`works on ${names(works)}`);
  if (builds.length) parts.push(`builds from source on ${names(builds)}`);
  if (fails.length) parts.push(`fails on ${names(fails)}`);
  return `${fileName} ${parts.join("; ")}. The reasons are in the Environment view.`;
}

/** Validates envlens.portabilityTargets: known names (aliases accepted), no duplicates. */
export function validateTargets(raw: unknown): { targets: string[]; problems: string[] } {
  if (raw === undefined || raw === null) return { targets: [...DEFAULT_TARGETS], problems: [] };
  if (!Array.isArray(raw) || !raw.every((t) => typeof t === "string")) {
    return {
      targets: [...DEFAULT_TARGETS],
      problems: [`envlens.portabilityTargets must be a list of platform names, not ${JSON.stringify(raw)}; using ${DEFAULT_TARGETS.join(", ")}`],
    };
  }
  const targets: string[] = [];
  const problems: string[] = [];
  for (const t of raw as string[]) {
    const c = canonicalPlatform(t);
    if (!c) problems.push(`envlens.portabilityTargets: unknown platform ${JSON.stringify(t)}, ignored; known: ${KNOWN_PLATFORMS.join(", ")}`);
    else if (!targets.includes(c)) targets.push(c);
  }
  if (targets.length === 0) {
    if (raw.length > 0) problems.push(`envlens.portabilityTargets has no known platform; using ${DEFAULT_TARGETS.join(", ")}`);
    return { targets: [...DEFAULT_TARGETS], problems };
  }
  return { targets, problems };
}
