// requirements.txt / environment.yml (its pip part) -> requirements, and the preview of what an
// import changes in a declaration: additions, removals, changed and unchanged entries.
import { canonicalName } from "./labels";

export interface ParsedRequirements {
  requirements: string[];
  /** Lines envlens does not import (options, includes, editable installs, conda packages), to show the user. */
  skipped: string[];
}

export function parseRequirementsTxt(text: string): ParsedRequirements {
  const requirements: string[] = [];
  const skipped: string[] = [];
  // Backslash continuations join lines before anything else, as pip does.
  const logical = text.replace(/\\\r?\n/g, " ").split(/\r?\n/);
  for (const raw of logical) {
    const line = raw.replace(/(^|\s)#.*$/, "").trim();
    if (!line) continue;
    if (line.startsWith("-") || /^[a-z+]+:\/\//i.test(line) || line.startsWith(".") || line.startsWith("/")) {
      skipped.push(line);
      continue;
    }
    requirements.push(line.replace(/\s+/g, " ").replace(/\s*([<>=!~;,])\s*/g, "$1").replace(/;/g, "; "));
  }
  return { requirements, skipped };
}

interface YamlLine {
  indent: number;
  text: string;
}

function yamlLines(text: string): YamlLine[] {
  const out: YamlLine[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const noComment = raw.replace(/(^|\s)#.*$/, "");
    if (!noComment.trim()) continue;
    out.push({ indent: noComment.length - noComment.trimStart().length, text: noComment.trim() });
  }
  return out;
}

function unquote(s: string): string {
  const t = s.trim();
  if ((t.startsWith('"') && t.endsWith('"')) || (t.startsWith("'") && t.endsWith("'"))) return t.slice(1, -1);
  return t;
}

/**
 * The pip requirements of an environment.yml (`dependencies: [..., {pip: [...]}]`); conda
 * packages are listed as skipped. Handles the block style conda writes (`- pip:` then `- name`).
 */
export function parseEnvironmentYml(text: string): ParsedRequirements {
  const lines = yamlLines(text);
  const requirements: string[] = [];
  const skipped: string[] = [];
  const depIndex = lines.findIndex((l) => l.indent === 0 && /^dependencies\s*:/.test(l.text));
  if (depIndex === -1) return { requirements, skipped };
  let i = depIndex + 1;
  while (i < lines.length && lines[i].indent > 0) {
    const item = lines[i];
    const m = /^-\s*(.*)$/.exec(item.text);
    if (!m) {
      i++;
      continue;
    }
    const value = m[1];
    const pip = /^pip\s*:\s*(.*)$/.exec(value);
    if (pip) {
      const inline = pip[1].trim();
      if (inline.startsWith("[")) {
        for (const part of inline.replace(/^\[|\]$/g, "").split(",")) if (part.trim()) requirements.push(unquote(part));
        i++;
        continue;
      }
      i++;
      while (i < lines.length && lines[i].indent > item.indent) {
        const sub = /^-\s*(.*)$/.exec(lines[i].text);
        if (sub) {
          const req = unquote(sub[1]);
          if (req.startsWith("-")) skipped.push(req);
          else requirements.push(parseRequirementsTxt(req).requirements[0] ?? req);
        }
        i++;
      }
      continue;
    }
    skipped.push(`conda: ${unquote(value)}`);
    i++;
  }
  return { requirements, skipped };
}

export function parseRequirementsFile(fileName: string, text: string): ParsedRequirements {
  return /\.ya?ml$/i.test(fileName) ? parseEnvironmentYml(text) : parseRequirementsTxt(text);
}

export interface ImportPreview {
  additions: string[];
  removals: string[];
  /** Same package, other specifier: [current, incoming]. */
  changed: [string, string][];
  unchanged: string[];
}

/** What replacing `current` by `incoming` does, compared by canonical name. */
export function importPreview(current: readonly string[], incoming: readonly string[]): ImportPreview {
  const norm = (r: string): string => r.replace(/\s+/g, "").toLowerCase();
  const currentByName = new Map(current.map((r) => [canonicalName(r), r]));
  const incomingByName = new Map<string, string>();
  for (const r of incoming) if (!incomingByName.has(canonicalName(r))) incomingByName.set(canonicalName(r), r);
  const preview: ImportPreview = { additions: [], removals: [], changed: [], unchanged: [] };
  for (const [name, req] of incomingByName) {
    const cur = currentByName.get(name);
    if (cur === undefined) preview.additions.push(req);
    else if (norm(cur) === norm(req)) preview.unchanged.push(cur);
    else preview.changed.push([cur, req]);
  }
  for (const [name, req] of currentByName) if (!incomingByName.has(name)) preview.removals.push(req);
  return preview;
}

/** The edits that apply the chosen parts of a preview: names to remove, then requirements to add. */
export function importEdits(
  preview: ImportPreview,
  accept: { additions: readonly string[]; removals: readonly string[]; changed: readonly string[] },
): { remove: string[]; add: string[] } {
  const remove = preview.removals.filter((r) => accept.removals.includes(r)).map((r) => canonicalName(r));
  const add = preview.additions.filter((r) => accept.additions.includes(r));
  for (const [cur, next] of preview.changed) {
    if (accept.changed.includes(next)) {
      remove.push(canonicalName(cur));
      add.push(next);
    }
  }
  return { remove, add };
}

export function exportRequirementsTxt(
  source: string,
  requirements: readonly string[],
  pinned?: readonly { name: string; version: string }[],
): string {
  const header = [`# Exported by envlens from ${source}`];
  if (pinned) {
    header.push("# Pinned to the versions installed in the environment");
    const wanted = new Set(requirements.map(canonicalName));
    const lines = pinned.filter((p) => wanted.has(canonicalName(p.name))).map((p) => `${p.name}==${p.version}`);
    return [...header, ...lines].join("\n") + "\n";
  }
  return [...header, ...requirements].join("\n") + "\n";
}
