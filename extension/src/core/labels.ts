// Words the user sees: controller labels, status texts, lens titles.
import type { EnvironmentInfo, Operation, ResolveResult } from "./protocol";

/** "numpy>=1.26; python_version>'3.9'" -> "numpy" (as written, extras dropped). */
export function requirementName(req: string): string {
  const m = /^\s*([A-Za-z0-9][A-Za-z0-9._-]*)/.exec(req);
  return m ? m[1] : req.trim();
}

/** PEP 503 normalised name, for comparisons. */
export function canonicalName(name: string): string {
  return requirementName(name).toLowerCase().replace(/[-_.]+/g, "-");
}

/** "3.12.1" -> "3.12"; before a build, a pinned requires-python ("==3.12.*", "~=3.11") -> "3.12"; otherwise undefined. */
export function shortPython(pythonVersion: string | null | undefined, requiresPython?: string | null): string | undefined {
  const pick = (s: string | null | undefined): string | undefined => {
    const m = s ? /(\d+)\.(\d+)/.exec(s) : null;
    return m ? `${m[1]}.${m[2]}` : undefined;
  };
  // ">=3.10" says nothing about the Python the environment will have.
  const pinned = requiresPython && /^\s*(==|~=)/.test(requiresPython) && !requiresPython.includes(",") ? requiresPython : null;
  return pick(pythonVersion) ?? pick(pinned);
}

export function dependencySummary(names: readonly string[], max = 3): string {
  const unique = [...new Set(names.map(requirementName))];
  if (unique.length === 0) return "no dependencies";
  if (unique.length <= max) return unique.join(", ");
  return `${unique.slice(0, max).join(", ")} +${unique.length - max} more`;
}

/** At most this many characters of dependency names in the kernel label: the notebook toolbar must
 * keep room for Restart and Interrupt (the full list is in the controller's detail). */
export const LABEL_DEPENDENCY_CHARS = 24;

/** Names that fit in `chars`, then "+N": "numpy, pandas +3". */
export function shortDependencySummary(names: readonly string[], chars = LABEL_DEPENDENCY_CHARS): string {
  const unique = [...new Set(names.map(requirementName))];
  if (unique.length === 0) return "no dependencies";
  const shown: string[] = [];
  for (const n of unique) {
    const next = [...shown, n].join(", ");
    if (shown.length > 0 && next.length > chars) break;
    shown.push(n.length > chars ? `${n.slice(0, chars - 1)}…` : n);
  }
  const rest = unique.length - shown.length;
  return rest > 0 ? `${shown.join(", ")} +${rest}` : shown.join(", ");
}

/** "envlens: numpy, pandas (Python 3.12)": short, the details in `controllerDetail`. */
export function controllerLabel(
  res: Pick<ResolveResult, "declared" | "requirements" | "requiresPython" | "source"> | undefined,
  pythonVersion?: string | null,
): string {
  if (!res) return "envlens";
  const py = shortPython(pythonVersion, res.requiresPython);
  const suffix = py ? ` (Python ${py})` : "";
  if (res.source.kind === "pyproject" || res.source.kind === "uv-project") {
    const label = res.source.label.length > LABEL_DEPENDENCY_CHARS ? `${res.source.label.slice(0, LABEL_DEPENDENCY_CHARS - 1)}…` : res.source.label;
    return `envlens: ${label}${suffix}`;
  }
  const names = res.declared.length > 0 ? res.declared : res.requirements;
  return `envlens: ${shortDependencySummary(names)}${suffix}`;
}

/** The kernel picker's detail line: every dependency, where they come from, the environment. */
export function controllerDetail(
  res: Pick<ResolveResult, "declared" | "requirements" | "source" | "key">,
  pythonVersion?: string | null,
  kernelKey?: string,
): string {
  const names = res.declared.length > 0 ? res.declared : res.requirements;
  const py = pythonVersion ? `Python ${pythonVersion} · ` : "";
  const behind = kernelKey && kernelKey !== res.key ? ` · the running kernel uses ${kernelKey.slice(0, 8)} until it is updated` : "";
  return `${py}${names.length ? names.join(", ") : "no dependencies"} · from ${res.source.label} · env ${res.key.slice(0, 8)}${behind}`;
}

export function controllerDescription(res: Pick<ResolveResult, "source" | "key"> | undefined): string {
  if (!res) return "Runs cells in the environment the notebook declares";
  return `${res.source.label} · env ${res.key.slice(0, 8)}`;
}

export type EnvState = "none" | "not-built" | "building" | "ready" | "failed" | "untrusted-workspace";

export function envState(
  res: Pick<ResolveResult, "built" | "source"> | undefined,
  info: Pick<EnvironmentInfo, "built" | "operations"> | undefined,
  trustedWorkspace = true,
): EnvState {
  if (!trustedWorkspace) return "untrusted-workspace";
  if (!res) return "none";
  const last = latestOperation(info?.operations ?? []);
  if (last?.status === "running" || last?.status === "queued") return "building";
  const built = info?.built ?? res.built;
  if (built) return "ready";
  if (last?.status === "failed") return "failed";
  return "not-built";
}

export function statusBarText(state: EnvState, res?: Pick<ResolveResult, "declared" | "requirements">): string {
  const n = res ? (res.declared.length || res.requirements.length) : 0;
  const deps = `${n} dep${n === 1 ? "" : "s"}`;
  switch (state) {
    case "none":
      return "$(package) envlens";
    case "not-built":
      return `$(cloud-download) env not built · ${deps}`;
    case "building":
      return "$(sync~spin) building env…";
    case "ready":
      return `$(check) env ready · ${deps}`;
    case "failed":
      return "$(error) env build failed";
    case "untrusted-workspace":
      return "$(shield) envlens: restricted";
  }
}

export function latestOperation(ops: readonly Operation[]): Operation | undefined {
  let best: Operation | undefined;
  for (const op of ops) if (!best || op.started >= best.started) best = op;
  return best;
}

const OPERATION_ICONS: Record<Operation["status"], string> = {
  queued: "clock",
  running: "sync~spin",
  succeeded: "pass",
  failed: "error",
  cancelled: "circle-slash",
};

export function operationLabel(op: Operation, now = Date.now()): { label: string; description: string; icon: string } {
  const icon = OPERATION_ICONS[op.status] ?? "error";
  const seconds = ((op.ended ?? now / 1000) - op.started).toFixed(1);
  const version = op.version ? ` · version ${op.version}` : "";
  const description =
    op.status === "queued"
      ? "queued: another job of this file runs first"
      : op.status === "running"
        ? `running ${seconds} s`
        : `${op.status} in ${seconds} s${version}`;
  return { label: op.title, description, icon };
}

export function lockStateLabel(state: EnvironmentInfo["lockState"]): string {
  return state === "none" ? "not locked" : state === "fresh" ? "locked (up to date)" : "locked (stale: declaration changed)";
}
