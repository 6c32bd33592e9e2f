// `%pip install x` / `!pip install x` cells in the envlens kernel: what the cell says afterwards.
// Which lines install what is the sidecar's decision (envlens/kernel/pipCell); this only spots
// candidates cheaply and words the result.
import type { PipCell } from "./protocol";

const PIP_LINE = /^[ \t]*[!%][ \t]*(?:pip3?|uv[ \t]+pip|python[\d.]*[ \t]+-m[ \t]+pip|\{sys\.executable\}[ \t]+-m[ \t]+pip)[ \t]+install\b/m;

export function hasPipInstall(code: string): boolean {
  return PIP_LINE.test(code);
}

export type PipOutcome = "none" | "current" | "added" | "restarted" | "kept" | "cancelled";

/** One or two lines for the cell's output. */
export function pipReport(fileName: string, pip: PipCell, outcome: PipOutcome): string {
  const lines: string[] = [];
  const names = pip.requirements.join(", ");
  if (pip.requirements.length) {
    const declared = `envlens: ${names} ${pip.requirements.length === 1 ? "is" : "are"} now declared in ${fileName} and installed in its environment`;
    switch (outcome) {
      case "added":
      case "current":
      case "none":
        lines.push(`${declared}; the running kernel can import ${pip.requirements.length === 1 ? "it" : "them"} (no restart, nothing installed with pip).`);
        break;
      case "restarted":
        lines.push(`${declared}; the kernel restarted into the new environment (earlier variables are gone).`);
        break;
      case "kept":
      case "cancelled":
        lines.push(`${declared}; the running kernel cannot take ${pip.requirements.length === 1 ? "it" : "them"} without a restart: use envlens: Restart Kernel.`);
        break;
    }
  }
  for (const p of pip.problems) lines.push(`envlens: not installed: ${p}. Add it with envlens: Add Package... or Import requirements.txt or environment.yml...`);
  return lines.join("\n") + "\n";
}
