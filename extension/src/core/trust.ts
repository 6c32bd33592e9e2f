// The trust dialog's words, and where a notebook's signature goes in its metadata.
import type { TrustState } from "./protocol";

export function trustDialog(fileName: string, state: TrustState): { message: string; detail: string; approve: string } {
  const n = state.packages.length;
  const message =
    state.status === "changed"
      ? `The dependencies of ${fileName} changed since they were approved here, or were approved on another machine: approve them?`
      : `${fileName} asks to install ${n} package${n === 1 ? "" : "s"}: approve them?`;
  const lines = [`Reason: ${state.reason}.`, "", "Packages:", ...state.packages.map((p) => `  • ${p}`)];
  const warnings = state.flags.map((f) => `  ⚠ ${f.package === "*" ? "the whole file" : f.package}: ${f.detail}`);
  if (warnings.length) lines.push("", "Check these first:", ...warnings);
  lines.push("", "Approving records it on this machine; a notebook also keeps a signature in its metadata.");
  return { message, detail: lines.join("\n"), approve: "Approve and Continue" };
}

/** `metadata` with `value` set at `path` (e.g. ["envlens", "trust"]), other keys kept. */
export function withMetadataPath(metadata: Record<string, unknown>, path: readonly string[], value: unknown): Record<string, unknown> {
  if (path.length === 0) return metadata;
  const [head, ...rest] = path;
  const child = metadata[head];
  const next = rest.length === 0 ? value : withMetadataPath(child && typeof child === "object" ? (child as Record<string, unknown>) : {}, rest, value);
  return { ...metadata, [head]: next };
}
