// `# %%` cells of a percent script: where each starts and ends, and its code.

export interface PercentCell {
  index: number;
  /** Line of the `# %%` marker, or of the first line for the code before the first marker. */
  startLine: number;
  /** Last line of the cell, inclusive. */
  endLine: number;
  title: string;
  kind: "code" | "markdown";
  code: string;
}

const MARKER = /^#\s*%%(.*)$/;

export function isPercentScript(text: string): boolean {
  return text.split(/\r?\n/).some((l) => MARKER.test(l));
}

/** Lines of a PEP 723 `# /// script` block, to leave it out of the first cell's code. */
function scriptBlockEnd(lines: readonly string[]): number {
  const start = lines.findIndex((l) => /^# \/\/\/ script\s*$/.test(l));
  if (start === -1) return -1;
  for (let i = start + 1; i < lines.length; i++) {
    if (/^# \/\/\/\s*$/.test(lines[i])) return i;
    if (!lines[i].startsWith("#")) return -1;
  }
  return -1;
}

export function percentCells(text: string): PercentCell[] {
  const lines = text.split(/\r?\n/);
  const markers: number[] = [];
  lines.forEach((l, i) => {
    if (MARKER.test(l)) markers.push(i);
  });
  const cells: PercentCell[] = [];
  const blockEnd = scriptBlockEnd(lines);
  const push = (start: number, end: number, marker: boolean): void => {
    const header = marker ? (MARKER.exec(lines[start])?.[1] ?? "").trim() : "";
    const kind = /\[markdown\]/i.test(header) ? "markdown" : "code";
    const bodyStart = marker ? start + 1 : start;
    const code = lines
      .slice(bodyStart, end + 1)
      .filter((_l, j) => bodyStart + j > blockEnd)
      .join("\n")
      .replace(/^\s*\n/, "")
      .trimEnd();
    if (!marker && !code.trim()) return; // no code before the first marker (only the header)
    cells.push({ index: cells.length, startLine: start, endLine: end, title: header.replace(/\[markdown\]/i, "").trim(), kind, code });
  };
  if (markers.length === 0) {
    push(0, lines.length - 1, false);
    return cells;
  }
  if (markers[0] > 0) push(0, markers[0] - 1, false);
  markers.forEach((m, k) => push(m, (markers[k + 1] ?? lines.length) - 1, true));
  return cells;
}

export function cellAtLine(cells: readonly PercentCell[], line: number): PercentCell | undefined {
  return cells.find((c) => c.startLine <= line && line <= c.endLine);
}
