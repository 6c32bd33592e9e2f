// Words of the Environment view's History: one row per version of the file's environment
// (envlens/history), what a version changed, and the question before a revert.
import type { HistoryResult, HistoryVersion } from "./protocol";
import { dependencySummary } from "./labels";

/** "just now", "5 min ago", "3 h ago", "2 days ago" (seconds since the epoch). */
export function ago(t: number, now = Date.now() / 1000): string {
  const s = Math.max(0, now - t);
  if (s < 60) return "just now";
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  const days = Math.floor(s / 86400);
  return `${days} day${days === 1 ? "" : "s"} ago`;
}

/** What the version did, in a few words. */
export function versionWhat(v: HistoryVersion): string {
  if (v.action === "revert" && v.revertedFrom !== null) return `reverted to ${v.revertedFrom}`;
  if (v.action === "pool") return "a prewarmed environment";
  // The first version "changed" everything from nothing: name what it declared instead.
  if (v.n === 1) return `declared ${dependencySummary(v.requirements)}${v.action === "reuse" ? ", already built" : ""}`;
  return v.summary || "same declaration";
}

export interface VersionRow {
  label: string;
  description: string;
  icon: string;
  /** A theme colour id for the icon, if any. */
  color?: string;
  /** `envlens.version.revertible` offers Revert (a ready version that is not the one in use). */
  contextValue: string;
}

export function versionRow(v: HistoryVersion, inUse: number | null, now?: number): VersionRow {
  const isInUse = v.n === inUse;
  const status = v.status === "ready" ? (isInUse ? "in use" : "ready") : v.status;
  const icon = v.status === "ready" ? (isInUse ? "pass-filled" : "pass") : v.status === "failed" ? "error" : "circle-slash";
  const color = v.status === "ready" ? "testing.iconPassed" : v.status === "failed" ? "testing.iconFailed" : undefined;
  return {
    label: `Version ${v.n}`,
    description: `${status} · ${versionWhat(v)} · ${ago(v.time, now)}`,
    icon,
    color,
    contextValue: v.revertible && !isInUse ? "envlens.version.revertible" : "envlens.version",
  };
}

/** The version's details, one per line (the row's tooltip). */
export function versionTooltip(v: HistoryVersion): string {
  const lines = [
    `Version ${v.n}: ${v.status}${v.attempts > 1 ? ` (${v.attempts} attempts)` : ""}, ${new Date(v.time * 1000).toLocaleString()}`,
    `Declared: ${v.requirements.length ? v.requirements.join(", ") : "nothing (ipykernel only)"}`,
  ];
  if (v.requiresPython) lines.push(`requires-python: ${v.requiresPython}`);
  if (v.pythonVersion) lines.push(`Python ${v.pythonVersion}, ${v.packages.length} packages`);
  if (v.lockHash) lines.push("Built from the file's lock");
  if (v.summary) lines.push(`Changed: ${v.summary}`);
  if (v.error) lines.push(`Error: ${v.error}`);
  lines.push(`Environment ${v.key}${v.status === "ready" ? (v.built ? "" : " (removed since: a revert builds it again)") : ""}`);
  if (v.duration) lines.push(`Took ${v.duration.toFixed(1)} s`);
  return lines.join("\n");
}

/** The summary row of the History section. */
export function historySummary(h: HistoryResult | undefined): string {
  if (!h || !h.versions.length) return "no versions yet";
  const n = h.versions.length;
  const count = `${n} version${n === 1 ? "" : "s"}`;
  if (h.inUse === null) return `${count}, none built`;
  const latest = h.versions[h.versions.length - 1];
  // After a failed build the kernel stays on the last good version.
  if (latest.status !== "ready") return `${count}, version ${latest.n} ${latest.status}: in use ${h.inUse}`;
  return `${count}, in use ${h.inUse}`;
}

/** The modal question before a revert, and its button. */
export function revertQuestion(fileName: string, v: HistoryVersion): { message: string; detail: string; button: string } {
  const deps = v.requirements.length ? v.requirements.join(", ") : "nothing (ipykernel only)";
  const lock = v.lockHash ? " and its lock" : "";
  const cost = v.built ? "Its environment is still in the cache: nothing is installed." : "Its environment was removed since: it is built again.";
  return {
    message: `Revert ${fileName} to version ${v.n}?`,
    detail: `Version ${v.n}'s declaration${lock} is written back into ${fileName} (${deps}). ${cost} The revert becomes a new version; the ones after ${v.n} stay in the history.`,
    button: `Revert to Version ${v.n}`,
  };
}

/** What the user reads once the revert is done. */
export function revertDone(fileName: string, to: number, version: number | null, built: boolean): string {
  const recorded = version !== null ? ` (now version ${version})` : "";
  return `Reverted ${fileName} to version ${to}${recorded}: ${built ? "its environment was built again" : "nothing was built, its environment was still in the cache"}.`;
}
