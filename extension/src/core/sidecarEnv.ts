// The sidecar's own environment, created on first activation with no network: a Python >= 3.10
// from the machine, a venv in the extension's storage, and envlens with its dependencies
// installed from the wheelhouse the .vsix carries (installed by the uv binary from the uv wheel in it).
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

export interface WheelhouseManifest {
  envlensVersion: string;
  /** "3.10", "3.11", ...: Python versions the wheelhouse has wheels for. */
  pythons: string[];
  /** Hash of the wheel file names: a new wheelhouse gets a new environment. */
  hash: string;
  wheels: string[];
}

export interface PythonFound {
  path: string;
  version: string; // "3.12.1"
}

export type Log = (line: string) => void;

export class SidecarSetupError extends Error {
  constructor(
    message: string,
    readonly detail = "",
  ) {
    super(message);
  }
}

export function run(
  cmd: string,
  args: readonly string[],
  opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      cmd,
      args as string[],
      { env: opts.env ?? process.env, timeout: opts.timeoutMs ?? 120_000, cwd: opts.cwd, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof (err as NodeJS.ErrnoException).code === "number" ? Number((err as NodeJS.ErrnoException).code) : 1) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) || (err && !stderr ? String(err.message) : "") });
      },
    );
  });
}

export function readManifest(wheelhouse: string): WheelhouseManifest {
  const file = path.join(wheelhouse, "manifest.json");
  if (!fs.existsSync(file)) {
    throw new SidecarSetupError(
      `The envlens package has no wheelhouse (${file} is missing): reinstall the .vsix, or set envlens.serverCommand to a sidecar command.`,
    );
  }
  return JSON.parse(fs.readFileSync(file, "utf8")) as WheelhouseManifest;
}

/** Interpreters to try, in no particular order (the best version wins). */
export function candidatePythons(env: NodeJS.ProcessEnv = process.env, home = os.homedir()): string[] {
  const out: string[] = [];
  if (env.ENVLENS_SIDECAR_PYTHON) return [env.ENVLENS_SIDECAR_PYTHON];
  const names = ["python3.13", "python3.12", "python3.11", "python3.10", "python3.14", "python3"];
  for (const dir of (env.PATH ?? "").split(path.delimiter).filter(Boolean)) {
    for (const n of names) out.push(path.join(dir, n));
  }
  const pyenv = path.join(env.PYENV_ROOT ?? path.join(home, ".pyenv"), "versions");
  try {
    for (const v of fs.readdirSync(pyenv)) out.push(path.join(pyenv, v, "bin", "python3"));
  } catch {
    // no pyenv
  }
  for (const dir of ["/usr/bin", "/usr/local/bin"]) for (const n of names) out.push(path.join(dir, n));
  return [...new Set(out)].filter((p) => {
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

export function compareVersions(a: string, b: string): number {
  const pa = a.split(".").map(Number);
  const pb = b.split(".").map(Number);
  for (let i = 0; i < 3; i++) if ((pa[i] ?? 0) !== (pb[i] ?? 0)) return (pa[i] ?? 0) - (pb[i] ?? 0);
  return 0;
}

/** The newest Python whose minor version the wheelhouse supports and that has the venv module. */
export async function findPython(supported: readonly string[], log: Log, candidates = candidatePythons()): Promise<PythonFound> {
  const probe = "import sys, venv; print('%d.%d.%d' % sys.version_info[:3])";
  const found = await Promise.all(
    candidates.map(async (p) => {
      const r = await run(p, ["-c", probe], { timeoutMs: 10_000 });
      return r.code === 0 ? { path: p, version: r.stdout.trim() } : undefined;
    }),
  );
  const usable = found.filter((f): f is PythonFound => !!f && supported.includes(f.version.split(".").slice(0, 2).join(".")));
  log(`Python interpreters found: ${found.filter(Boolean).map((f) => `${f!.path} (${f!.version})`).join(", ") || "none"}`);
  if (usable.length === 0) {
    throw new SidecarSetupError(
      `envlens needs Python ${supported[0]} to ${supported[supported.length - 1]} for its sidecar and found none on this machine: install one (with its venv module), or set envlens.serverCommand.`,
    );
  }
  usable.sort((a, b) => compareVersions(b.version, a.version));
  return usable[0];
}

function cleanEnv(): NodeJS.ProcessEnv {
  // The user's (or a test's) uv settings must not reach the offline install of the sidecar.
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("UV_") && !k.startsWith("PIP_") && k !== "VIRTUAL_ENV") env[k] = v;
  env.UV_LINK_MODE = "copy";
  env.UV_NO_CONFIG = "1";
  return env;
}

async function withLock<T>(dir: string, fn: () => Promise<T>, log: Log): Promise<T> {
  const lock = `${dir}.lock`;
  const deadline = Date.now() + 180_000;
  for (;;) {
    try {
      fs.mkdirSync(lock);
      break;
    } catch {
      // Another window is creating it; a lock older than 5 minutes is left over from a crash.
      const age = Date.now() - (fs.statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
      if (age > 300_000) fs.rmSync(lock, { recursive: true, force: true });
      if (Date.now() > deadline) throw new SidecarSetupError(`Timed out waiting for ${lock}: delete it if no other window is setting up envlens.`);
      log("waiting for another window to set up the sidecar environment");
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  try {
    return await fn();
  } finally {
    fs.rmSync(lock, { recursive: true, force: true });
  }
}

/** Returns the `envlens` executable of the sidecar environment, creating the environment if needed. */
export async function ensureSidecarEnv(opts: { storageDir: string; wheelhouse: string; log: Log }): Promise<string> {
  const { storageDir, wheelhouse, log } = opts;
  const manifest = readManifest(wheelhouse);
  const envDir = path.join(storageDir, `sidecar-${manifest.envlensVersion}-${manifest.hash}`);
  const envlens = path.join(envDir, "bin", "envlens");
  const ready = path.join(envDir, "ready");
  if (fs.existsSync(ready) && fs.existsSync(envlens)) return envlens;
  fs.mkdirSync(storageDir, { recursive: true });
  return withLock(envDir, async () => {
    if (fs.existsSync(ready) && fs.existsSync(envlens)) return envlens;
    const t0 = Date.now();
    const py = await findPython(manifest.pythons, log);
    log(`creating the sidecar environment in ${envDir} with ${py.path} (${py.version})`);
    // venv scripts hold absolute paths, so the environment is made in place; `ready` is written last.
    fs.rmSync(envDir, { recursive: true, force: true });
    const venv = await run(py.path, ["-m", "venv", "--without-pip", envDir]);
    if (venv.code !== 0) throw new SidecarSetupError(`Could not create a venv with ${py.path}: ${lastLine(venv.stderr)}`, venv.stderr);
    const uv = await extractUv(py.path, wheelhouse, path.join(storageDir, `uv-${manifest.hash}`), log);
    const install = await run(
      uv,
      // --compile-bytecode: every later sidecar start imports from .pyc (where PYTHONDONTWRITEBYTECODE
      // is set, as on CI machines, each start would otherwise compile ~1 s of modules again).
      ["pip", "install", "--python", path.join(envDir, "bin", "python"), "--offline", "--no-index", "--compile-bytecode", "--find-links", wheelhouse, `envlens==${manifest.envlensVersion}`],
      { env: cleanEnv(), timeoutMs: 300_000 },
    );
    log(install.stderr.trim());
    if (install.code !== 0 || !fs.existsSync(envlens)) {
      throw new SidecarSetupError(
        `Could not install the envlens sidecar for Python ${py.version} from the bundled wheels: ${lastLine(install.stderr)}`,
        install.stderr,
      );
    }
    fs.writeFileSync(ready, JSON.stringify({ python: py.path, version: py.version, created: new Date().toISOString() }));
    log(`sidecar environment ready in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return envlens;
  }, log);
}

function lastLine(text: string): string {
  const lines = text.trim().split(/\r?\n/).filter(Boolean);
  return lines[lines.length - 1] ?? "no output";
}

/** The uv binary from the uv wheel of the wheelhouse (a wheel is a zip: Python's zipfile opens it). */
async function extractUv(python: string, wheelhouse: string, dest: string, log: Log): Promise<string> {
  const uv = path.join(dest, "uv");
  if (fs.existsSync(uv)) return uv;
  const wheel = fs.readdirSync(wheelhouse).find((f) => /^uv-.*\.whl$/.test(f));
  if (!wheel) throw new SidecarSetupError(`The wheelhouse ${wheelhouse} has no uv wheel: reinstall the .vsix.`);
  const script = [
    "import os, sys, zipfile",
    "z = zipfile.ZipFile(sys.argv[1])",
    "name = next(n for n in z.namelist() if n.endswith('/scripts/uv'))",
    "os.makedirs(sys.argv[2], exist_ok=True)",
    "tmp = os.path.join(sys.argv[2], 'uv.tmp')",
    "open(tmp, 'wb').write(z.read(name))",
    "os.chmod(tmp, 0o755)",
    "os.replace(tmp, os.path.join(sys.argv[2], 'uv'))",
  ].join("\n");
  const r = await run(python, ["-c", script, path.join(wheelhouse, wheel), dest]);
  if (r.code !== 0) throw new SidecarSetupError(`Could not unpack uv from ${wheel}: ${lastLine(r.stderr)}`, r.stderr);
  log(`unpacked ${wheel} -> ${uv}`);
  return uv;
}
