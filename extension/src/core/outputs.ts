// nbformat outputs -> editor-neutral output items (the controller turns them into VS Code objects),
// and recognition of a missing module in an error.
import type { ErrorOutput, MimeBundle, NbOutput } from "./protocol";

export type OutputItem =
  | { kind: "stdout" | "stderr"; text: string }
  | { kind: "error"; name: string; message: string; stack: string }
  | { kind: "text"; mime: string; text: string }
  | { kind: "binary"; mime: string; base64: string }
  | { kind: "json"; mime: string; value: unknown };

// Richest first: VS Code shows the first item it has a renderer for, unless the user chose otherwise.
const MIME_ORDER = [
  "application/vnd.jupyter.widget-view+json",
  "application/javascript",
  "text/html",
  "image/svg+xml",
  "image/png",
  "image/jpeg",
  "image/gif",
  "text/markdown",
  "text/latex",
  "application/json",
  "text/plain",
];

const BINARY_MIMES = new Set(["image/png", "image/jpeg", "image/gif"]);

export function joinText(value: unknown): string {
  if (Array.isArray(value)) return value.map(String).join("");
  if (typeof value === "string") return value;
  return JSON.stringify(value);
}

function mimeRank(mime: string): number {
  const i = MIME_ORDER.indexOf(mime);
  return i === -1 ? MIME_ORDER.length - 1 : i; // unknown mimes just before text/plain
}

export function bundleItems(data: MimeBundle): OutputItem[] {
  const mimes = Object.keys(data).sort((a, b) => mimeRank(a) - mimeRank(b));
  return mimes.map((mime): OutputItem => {
    const value = data[mime];
    if (BINARY_MIMES.has(mime)) return { kind: "binary", mime, base64: joinText(value).replace(/\s+/g, "") };
    if (mime === "application/json" || mime.endsWith("+json")) {
      return { kind: "json", mime, value: typeof value === "string" ? safeJson(value) : value };
    }
    return { kind: "text", mime, text: joinText(value) };
  });
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export function outputItems(output: NbOutput): OutputItem[] {
  switch (output.output_type) {
    case "stream":
      return [{ kind: output.name === "stderr" ? "stderr" : "stdout", text: joinText(output.text) }];
    case "display_data":
    case "execute_result":
      return bundleItems(output.data ?? {});
    case "error":
      return [{ kind: "error", name: output.ename, message: output.evalue, stack: output.traceback.join("\n") }];
  }
}

/** Consecutive stream text of the same name goes into one output, as Jupyter shows it. */
export function appendsToPrevious(previous: NbOutput | undefined, next: NbOutput): boolean {
  return (
    previous !== undefined &&
    previous.output_type === "stream" &&
    next.output_type === "stream" &&
    previous.name === next.name
  );
}

// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;]*[A-Za-z]/g;

export function stripAnsi(text: string): string {
  return text.replace(ANSI, "");
}

const MISSING = /(?:ModuleNotFoundError|ImportError): No module named ['"]([A-Za-z0-9_.]+)['"]/;

/** The top-level module a ModuleNotFoundError names, from an error output or any traceback text. */
export function missingModule(source: ErrorOutput | string | undefined): string | undefined {
  if (source === undefined) return undefined;
  let text: string;
  if (typeof source === "string") {
    text = stripAnsi(source);
  } else {
    if (source.ename === "ModuleNotFoundError") {
      const m = /No module named ['"]([A-Za-z0-9_.]+)['"]/.exec(stripAnsi(source.evalue));
      if (m) return m[1].split(".")[0];
    }
    text = stripAnsi(source.traceback.join("\n"));
  }
  const m = MISSING.exec(text);
  return m ? m[1].split(".")[0] : undefined;
}

/** The ModuleNotFoundError among a cell's outputs, if any. */
export function missingModuleInOutputs(outputs: readonly NbOutput[]): string | undefined {
  for (const o of outputs) {
    if (o.output_type === "error") {
      const name = missingModule(o);
      if (name) return name;
    }
  }
  return undefined;
}

// Import names that differ from the distribution's, for the action's title only: the sidecar
// decides the distribution it installs (envlens.installAndRerun returns it).
const KNOWN_DISTRIBUTIONS: Record<string, string> = {
  sklearn: "scikit-learn",
  skimage: "scikit-image",
  cv2: "opencv-python",
  PIL: "pillow",
  yaml: "pyyaml",
  bs4: "beautifulsoup4",
  dateutil: "python-dateutil",
  dotenv: "python-dotenv",
  jwt: "pyjwt",
  attr: "attrs",
  Crypto: "pycryptodome",
  serial: "pyserial",
  usb: "pyusb",
  docx: "python-docx",
  magic: "python-magic",
  git: "gitpython",
};

export function distributionGuess(module: string): string {
  return KNOWN_DISTRIBUTIONS[module] ?? module;
}

/** "Install scikit-learn and re-run" */
export function installActionTitle(module: string): string {
  return `Install ${distributionGuess(module)} and re-run`;
}
