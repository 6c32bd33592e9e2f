// Words of Remove Unused Environments (envlens.pruneEnvironments): the question before, the answer after.

export interface PrunedEnvironment {
  key: string;
  requirements: string[];
  lastUsed: number;
  files: string[];
  size: { own: number; total: number } | null;
  reason?: string;
}

export interface PruneResult {
  olderThanDays: number;
  remove: PrunedEnvironment[];
  keep: PrunedEnvironment[];
  logs: string[];
  spares: string[];
  blocked: string | null;
}

export function megabytes(bytes: number): string {
  return bytes >= 1e9 ? `${(bytes / 1e9).toFixed(2)} GB` : `${(bytes / 1e6).toFixed(1)} MB`;
}

function freed(r: PruneResult): number {
  return r.remove.reduce((sum, e) => sum + (e.size?.own ?? 0), 0);
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/** The modal question for a dry run's result; no `button` when there is nothing to remove. */
export function pruneQuestion(r: PruneResult): { message: string; detail: string; button?: string } {
  const days = `${r.olderThanDays} day${r.olderThanDays === 1 ? "" : "s"}`;
  if (!r.remove.length) {
    const why = r.blocked ? ` (${r.blocked})` : "";
    return { message: `No environment has gone unused for ${days}: nothing to remove${why}.`, detail: "" };
  }
  const lines = r.remove.slice(0, 8).map((e) => `${e.key}: ${e.requirements.join(", ") || "ipykernel only"}${e.size ? `, ${megabytes(e.size.own)}` : ""}`);
  if (r.remove.length > 8) lines.push(`... and ${r.remove.length - 8} more`);
  return {
    message: `Remove ${plural(r.remove.length, "environment")} unused for ${days} (${megabytes(freed(r))})?`,
    detail: `${lines.join("\n")}\n\nNone is the version in use of a file, none has a running kernel. A file that needs one again builds it again.`,
    button: "Remove",
  };
}

export function pruneDone(r: PruneResult): string {
  const extra = r.spares.length ? `, and ${plural(r.spares.length, "prewarmed environment")} past its age` : "";
  return `Removed ${plural(r.remove.length, "environment")} (${megabytes(freed(r))})${extra}.`;
}
