// End to end, in code-server with the packaged .vsix installed: the notebook a Jupyter user expects
// (issue 13). Untitled notebooks, the kernel label of each notebook, a declaration change reaching
// the running kernel (hot add; the restart question), %pip install, ipywidgets / tqdm.auto /
// interact / anywidget (the real packages from PyPI), input() and getpass(), the script's outputs
// notebook that asks nothing on close, Lock Versions, the Python Environments extension's API, and
// the figures of docs/benchmarks.md (open -> first output).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { ARTIFACTS, CodeServer, REPO } from "./harness.mjs";

const VSIX = path.join(REPO, "dist", "envlens-linux-x64.vsix");
const STEP = { timeout: 300_000 };
// Steps of issue 13 that do not pass yet (see the closing note of the session that listed them):
// they still run and print their failure, as node's TODO tests, without failing the suite, so the
// steps that pass keep guarding what works. Remove a name once its step passes.
const KNOWN_FAILING = new Map([
]);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The Python Environments extension built from its public source (shared/vendor, beside the repository). */
function pythonEnvsVsix() {
  const name = "ms-python.vscode-python-envs-1.37.0.vsix";
  const candidates = [process.env.ENVLENS_PYTHON_ENVS_VSIX, path.join(REPO, "..", "shared", "vendor", name), path.join(REPO, "..", "..", "shared", "vendor", name)];
  const found = candidates.find((c) => c && fs.existsSync(c));
  if (!found) throw new Error(`${name} not found (looked in ${candidates.filter(Boolean).join(", ")}); set ENVLENS_PYTHON_ENVS_VSIX`);
  return found;
}

const decl = (...deps) => `# /// script\n# requires-python = ">=3.10"\n# dependencies = [${deps.map((d) => `"${d}"`).join(", ")}]\n# ///`;

function notebook(sources) {
  return {
    cells: sources.map((src) => ({ cell_type: "code", metadata: {}, source: src.split(/(?<=\n)/), execution_count: null, outputs: [] })),
    metadata: { kernelspec: { display_name: "Python 3", language: "python", name: "python3" }, language_info: { name: "python" } },
    nbformat: 4,
    nbformat_minor: 5,
  };
}

const SCRIPT = `${decl("tinyalpha")}

# %% Version
import tinyalpha
print("tinyalpha", tinyalpha.__version__)
`;

const LOCK_SCRIPT = `${decl("tinybeta")}
import tinybeta
`;

const COUNTER = `import anywidget, traitlets
class Counter(anywidget.AnyWidget):
    _esm = """
    function render({ model, el }) {
      const b = document.createElement("button");
      b.className = "envlens-counter";
      b.textContent = "count is " + model.get("value");
      b.onclick = () => { model.set("value", model.get("value") + 1); model.save_changes(); };
      model.on("change:value", () => { b.textContent = "count is " + model.get("value"); });
      el.appendChild(b);
    }
    export default { render };
    """
    value = traitlets.Int(0).tag(sync=True)
counter = Counter()
counter`;

describe("the notebook in VS Code (issue 13)", { concurrency: false }, () => {
  const cs = new CodeServer({ name: "nb" });
  const figures = {};
  let fx;
  let broken = false;
  const step = (name, fn) =>
    test(name, KNOWN_FAILING.has(name) ? { ...STEP, todo: KNOWN_FAILING.get(name) } : STEP, async (t) => {
      if (broken && !process.env.ENVLENS_E2E_CONTINUE) return t.skip("an earlier step failed");
      try {
        await fn();
      } catch (e) {
        if (!KNOWN_FAILING.has(name)) broken = true;
        await cs.shot(`FAILED-${name.slice(0, 40).replace(/[^a-z0-9]+/gi, "-")}`).catch(() => undefined);
        throw e;
      }
    });
  const ws = (name) => path.join(cs.workspace, name);
  const toolbar = () => cs.page.locator(".notebook-toolbar-container:visible").first();
  const probeOut = () => path.join(cs.work, "probe.json");
  /** Approve and build a file's environment with the CLI (same cache and key as the sidecar's). */
  const prebuild = (name) => {
    const env = cs.env({ UV_DEFAULT_INDEX: fx.emptyIndex, UV_FIND_LINKS: `${fx.wheelhouse},${fx.tinyIndex}` });
    for (const args of [["trust", "-y", ws(name)], ["install", ws(name)]]) execFileSync(path.join(REPO, ".venv", "bin", "envlens"), args, { env, encoding: "utf8" });
    return JSON.parse(execFileSync(path.join(REPO, ".venv", "bin", "envlens"), ["resolve", "--json", ws(name)], { env, encoding: "utf8" }));
  };
  /** A cached environment, as on a second opening: its background bytecode compile has finished
   * (envs/uv_backend.py writes this marker at its end). */
  /** The pool's spare environment is built: on a second opening it was built the first time
   * (spares last across restarts); a fresh test cache builds it as the sidecar starts. */
  const poolFull = () =>
    waitForAsync(async () => {
      const pool = path.join(cs.dirs["envlens-cache"], "envs", ".pool");
      return fs.existsSync(pool) && fs.readdirSync(pool).some((d) => fs.existsSync(path.join(pool, d, "pool.json")));
    }, 180_000, "the pool's spare environment");
  const compiled = (envPath) => waitForAsync(async () => fs.existsSync(path.join(envPath, "envlens-bytecode")), 120_000, `the bytecode of ${envPath}`);

  before(async () => {
    assert.ok(fs.existsSync(VSIX), `${VSIX} is missing: run npm run package first`);
    const py = path.join(REPO, ".venv", "bin", "python");
    fx = JSON.parse(execFileSync(py, [path.join(REPO, "extension/test/e2e/fixtures.py"), cs.work, "--widgets"], { encoding: "utf8", timeout: 600_000 }));
    fs.writeFileSync(ws("analysis.py"), SCRIPT);
    fs.writeFileSync(ws("lockme.py"), LOCK_SCRIPT);
    fs.writeFileSync(ws("grow.ipynb"), JSON.stringify(notebook([decl("tinyalpha", "tinydelta==1.0"), "state = 41\nprint('state set')", "import tinybeta\nprint('state', state + 1, 'tinybeta', tinybeta.__version__)", "import tinydelta\nprint('tinydelta', tinydelta.__version__)"]), null, 1));
    fs.writeFileSync(ws("ask.ipynb"), JSON.stringify(notebook([decl("tinyalpha"), 'name = input("Your name? ")\nprint("hello", name)', 'import getpass\npw = getpass.getpass("Token: ")\nprint("token length", len(pw))', 'input("Nobody answers this: ")']), null, 1));
    fs.writeFileSync(
      ws("widgets.ipynb"),
      JSON.stringify(
        notebook([
          decl("ipywidgets", "tqdm", "anywidget", "tinyalpha"),
          "import ipywidgets as w\nslider = w.IntSlider(value=7, min=0, max=20, description='level')\nslider",
          'print("slider value is", slider.value)',
          "from tqdm.auto import tqdm\nimport time\nfor i in tqdm(range(20)):\n    time.sleep(0.05)",
          'from ipywidgets import interact\n@interact(x=(0, 10))\ndef show(x=3):\n    print("x squared is", x * x)',
          COUNTER,
          'print("counter is", counter.value)',
          "%pip install tinyimg\nimport timg\nprint('timg', timg.__version__, 'slider', slider.value)",
        ]),
        null,
        1,
      ),
    );
    // A box made before any widget shows: its children come after it (interact sets them later).
    fs.writeFileSync(
      ws("late.ipynb"),
      JSON.stringify(
        notebook([
          decl("ipywidgets", "tqdm", "anywidget", "tinyalpha"),
          'from ipywidgets import interactive\nbox = interactive(lambda x: x * 2, x=(0, 10))\nprint("made out of sight")',
          "import ipywidgets as w\nw.IntSlider(value=5, description='late')",
          "box",
        ]),
        null,
        1,
      ),
    );
    cs.writeSettings({ "envlens.trace.server": "messages", "python.useEnvironmentsExtension": true });
    cs.installExtension(VSIX);
    cs.installExtension(pythonEnvsVsix());
    // The probe: a test-only extension that asks the Python Environments API (probe/extension.js).
    const probeDir = path.join(cs.work, "probe");
    fs.cpSync(path.join(REPO, "extension/test/e2e/probe"), probeDir, { recursive: true });
    execFileSync(path.join(REPO, "node_modules/.bin/vsce"), ["package", "--allow-missing-repository", "--skip-license", "-o", path.join(cs.work, "probe.vsix")], { cwd: probeDir, encoding: "utf8" });
    cs.installExtension(path.join(cs.work, "probe.vsix"));
    await cs.start({
      UV_DEFAULT_INDEX: fx.emptyIndex,
      UV_FIND_LINKS: `${fx.wheelhouse},${fx.tinyIndex},${fx.widgetWheels}`,
      ENVLENS_PROBE_OUT: probeOut(),
    });
  }, { timeout: 900_000 });

  after(async () => {
    if (cs.page) await cs.shot("final").catch(() => undefined);
    fs.writeFileSync(path.join(ARTIFACTS, "figures.json"), JSON.stringify(figures, null, 1));
    console.log(`figures: ${JSON.stringify(figures)}`);
    await cs.stop();
  });

  step("the sidebar view's title never reads 'Envlens'", async () => {
    await cs.quickOpen("analysis.py");
    await cs.lens("Run Cell").waitFor({ timeout: 150_000 });
    await cs.runCommand("envlens: Show Environment");
    const header = cs.page.locator(".part.sidebar .composite.title").first();
    await header.locator("h2", { hasText: /Environment/i }).first().waitFor({ timeout: 30_000 });
    // VS Code shows view titles with text-transform: capitalize ("envlens" would read "Envlens"):
    // the title is "Environment", envlens's name stays in the commands' category.
    const shown = (await header.locator(".title-label").innerText()).trim();
    assert.ok(!/Envlens/.test(shown), `the view title shows ${shown}`);
    assert.equal(shown, "Environment");
    await cs.shot("environment-view-title");
  });

  step("a script's Run Cell (environment cached): its outputs notebook has the script's label", async () => {
    // A second opening: the environment is built (and compiled) and no kernel runs; the user opens
    // the script and clicks Run Cell as soon as the lens shows.
    const { envPath } = prebuild("analysis.py");
    await compiled(envPath);
    await poolFull();
    await cs.runCommand("View: Close All Editors");
    const t0 = await cs.quickOpen("analysis.py");
    const lens = cs.lens("Run Cell");
    await lens.waitFor({ state: "visible", timeout: 30_000 });
    const t1 = Date.now(); // the user's click
    await lens.click();
    await cs.waitForText(/^tinyalpha 1\.0$/m, 120_000);
    figures.scriptRunCellMs = cs.textSeenAt - t1;
    figures.scriptOpenToFirstOutputMs = cs.textSeenAt - t0;
    // envlens.startKernelOnOpen: the script's kernel started as it showed, before the click.
    const kernels = cs.processesWith(envPath);
    assert.ok(kernels.length > 0, `no kernel runs in ${envPath}`);
    const started = Math.max(...kernels.map((k) => cs.processStartMs(k.pid)));
    assert.ok(started < t1, `the kernel started ${started - t1} ms after the Run Cell click, not as the script opened`);
    const tab = cs.page.locator(".tab", { hasText: "analysis.py outputs.ipynb" }).first();
    await tab.waitFor({ timeout: 10_000 });
    await toolbar().locator(".action-item", { hasText: /envlens: tinyalpha \(Python 3\.\d+\)/ }).first().waitFor({ timeout: 30_000 });
    await cs.shot("script-outputs-notebook");
  });

  step("closing every editor asks to save nothing envlens created (the script's outputs notebook)", async () => {
    await cs.page.locator(".tab.dirty", { hasText: "analysis.py outputs.ipynb" }).waitFor({ state: "detached", timeout: 10_000 });
    await cs.runCommand("View: Close All Editors");
    await sleep(2000);
    assert.equal(await cs.page.locator(".monaco-dialog-box").count(), 0, "a save dialog appeared");
    assert.equal(await cs.page.locator(".tab").count(), 0, "an editor stayed open");
  });

  step("a new untitled notebook runs in the environment of its in-memory declaration; the label follows the visible notebook", async () => {
    await cs.runCommand("Create: New Jupyter Notebook");
    await cs.page.locator(".tab", { hasText: /Untitled-\d+\.ipynb/ }).first().waitFor({ timeout: 60_000 });
    const cell = cs.page.locator(".monaco-list-row.code-cell-row:visible").first();
    await cell.waitFor({ timeout: 30_000 });
    await cell.locator(".monaco-editor .view-lines").first().click();
    await cs.page.keyboard.insertText(`${decl("tinybeta")}\nimport os, tinybeta\nprint("untitled runs tinybeta", tinybeta.__version__, "in", os.getcwd())`);
    await toolbar().locator(".action-item", { hasText: /envlens: tinybeta/ }).first().waitFor({ timeout: 60_000 });
    await cs.cell("untitled runs").run();
    await cs.waitForText(new RegExp(`untitled runs tinybeta 1\\.0 in ${cs.workspace.replace(/[/.]/g, "\\$&")}$`, "m"), 180_000, { package: "tinybeta" });
    await cs.shot("untitled-notebook-runs");
    // Another notebook in front: its own label; back to the untitled one: its label again.
    await cs.quickOpen("ask.ipynb");
    await toolbar().locator(".action-item", { hasText: /envlens: tinyalpha \(/ }).first().waitFor({ timeout: 60_000 });
    await cs.page.locator(".tab", { hasText: /Untitled-\d+\.ipynb/ }).first().click();
    await toolbar().locator(".action-item", { hasText: /envlens: tinybeta/ }).first().waitFor({ timeout: 30_000 });
    // The user's own untitled notebook: closed without saving (it is theirs to keep or not).
    await cs.runCommand("View: Revert and Close Editor");
    await cs.page.locator(".tab", { hasText: /Untitled-\d+\.ipynb/ }).first().waitFor({ state: "detached", timeout: 30_000 });
    await cs.runCommand("View: Close All Editors");
  });

  step("opening a notebook whose environment is cached: first cell's output (figure)", async () => {
    const { envPath } = prebuild("grow.ipynb");
    assert.ok(envPath, "envlens resolve --json gave no envPath");
    await compiled(envPath);
    const t0 = await cs.quickOpen("grow.ipynb");
    await toolbar().locator(".action-item", { hasText: /envlens: tinyalpha, tinydelta/ }).first().waitFor({ timeout: 60_000 });
    // The user clicks Run as soon as the notebook shows its kernel; the harness's scrolling and
    // pointing before the click is not part of the figure.
    const tLabel = Date.now();
    const click = await cs.cell("state = 41").aim();
    const t1 = Date.now();
    await click();
    await cs.waitForText(/^state set$/m, 60_000, { package: "tinydelta" });
    const t2 = cs.textSeenAt;
    figures.notebookOpenToFirstOutputMs = tLabel - t0 + (t2 - t1);
    figures.notebookRunToFirstOutputMs = t2 - t1;
    // envlens.startKernelOnOpen: the approved notebook's kernel started before the Run click.
    const kernels = cs.processesWith(envPath);
    assert.ok(kernels.length > 0, `no kernel runs in ${envPath}`);
    const started = Math.min(...kernels.map((k) => cs.processStartMs(k.pid)));
    assert.ok(started < t1, `the kernel started ${started - t1} ms after the Run click, not as the notebook opened`);
  });

  step("the quick fix adds the package; the next run succeeds in the same kernel, its variables kept", async () => {
    await cs.cell("import tinybeta").run();
    await cs.waitForText(/No module named 'tinybeta'/, 60_000);
    // The quick fix on the import (the sidecar's code action): add to the declaration and install.
    await cs.cell("import tinybeta").row.locator(".view-line", { hasText: "import tinybeta" }).first().click();
    await cs.page.keyboard.press("Control+.");
    const fix = cs.page.locator(".action-widget .monaco-list-row", { hasText: "Add 'tinybeta' to the notebook's dependencies" }).first();
    await fix.waitFor({ timeout: 30_000 });
    await fix.click();
    await cs.approveTrust("tinybeta", "quick-fix-trust");
    await cs.page.locator(".notification-toast", { hasText: /tinybeta can be imported in the running kernel/ }).first().waitFor({ timeout: 120_000 });
    assert.equal(await cs.cell("import tinybeta").status("Install tinybeta and re-run").count(), 0, "the install action is offered for a package that is declared and built");
    await cs.cell("import tinybeta").run();
    await cs.waitForText(/^state 42 tinybeta 1\.0$/m, 60_000);
    await cs.shot("notebook-hot-add");
  });

  step("a change that cannot reach the running kernel asks, before every run, whether to restart", async () => {
    await cs.cell("tinydelta==1.0").setText(decl("tinyalpha", "tinydelta==2.0", "tinybeta"));
    await sleep(1500);
    await cs.cell("import tinydelta").run();
    await cs.approveTrust("tinydelta==2.0"); // a changed declaration: approval first
    let text = await cs.answerDialog(/restart the kernel into the new environment/i, undefined, 180_000);
    assert.match(text, /installed versions change: tinydelta 1\.0 -> 2\.0/);
    await cs.shot("notebook-restart-question");
    await cs.answerDialog(/restart the kernel into the new environment/i, "Run in the Running Kernel");
    await cs.waitForText(/^tinydelta 1\.0$/m, 60_000);
    await cs.cell("import tinydelta").run();
    text = await cs.answerDialog(/restart the kernel into the new environment/i, "Restart Kernel", 240_000); // asked again
    await cs.waitForText(/^tinydelta 2\.0$/m, 120_000);
    await cs.cell("state = 41").run();
    await cs.waitForText(/^state set$/m, 60_000);
  });

  step("ipywidgets: an IntSlider is a slider, and moving it changes the kernel's value", async () => {
    await cs.quickOpen("widgets.ipynb");
    await toolbar().locator(".action-item", { hasText: /envlens: ipywidgets, tqdm \+2/ }).first().waitFor({ timeout: 60_000 });
    await cs.runCommand("Notebook: Run All");
    await cs.approveTrust("ipywidgets");
    const frame = await cs.frameWith(".widget-slider", 240_000);
    const handle = frame.locator(".widget-slider .noUi-handle").first();
    await handle.waitFor({ timeout: 30_000 });
    await cs.shot("widget-slider");
    fs.copyFileSync(await cs.shot("notebook-widgets"), path.join(ARTIFACTS, "widget-slider.png"));
    await handle.focus();
    for (let i = 0; i < 3; i++) await handle.press("ArrowRight");
    await sleep(1000);
    await cs.cell('print("slider value is"').run();
    await cs.waitForText(/^slider value is 10$/m, 60_000);
  });

  step("tqdm.auto shows its progress bar at 100%", async () => {
    await cs.waitForText(/100%[\s\S]*20\/20/, 120_000);
  });

  step("interact: the function's output follows its slider", async () => {
    await cs.waitForText(/^x squared is 9$/m, 60_000);
    const frame = await cs.frameWith(".widget-interact .noUi-handle", 30_000);
    const handle = frame.locator(".widget-interact .noUi-handle").first();
    await handle.focus();
    await handle.press("ArrowRight");
    await cs.waitForText(/^x squared is 16$/m, 30_000);
  });

  step("Restart stays in the notebook toolbar, beside the long label, once the kernel runs", async () => {
    // Run All ran the %pip cell too: the label may already count tinyimg.
    await toolbar().locator(".action-item", { hasText: /envlens: ipywidgets, tqdm \+\d/ }).first().waitFor({ timeout: 30_000 });
    const restart = toolbar().locator('.action-item a[aria-label*="Restart"]').first();
    await restart.waitFor({ timeout: 10_000 });
    assert.ok(await restart.isVisible(), "Restart is not visible in the toolbar");
    await cs.shot("toolbar-restart");
  });

  step("anywidget: its own ESM renders and clicks reach the kernel", async () => {
    await cs.cell("class Counter").reveal({ toTop: true }); // its output renders once in view
    const frame = await cs.frameWith("button.envlens-counter", 60_000);
    await frame.locator("button.envlens-counter").first().click();
    await frame.locator("button.envlens-counter", { hasText: "count is 1" }).first().waitFor({ timeout: 20_000 });
    await cs.cell('print("counter is"').run();
    await cs.waitForText(/^counter is 1$/m, 60_000);
  });

  step("%pip install in the envlens kernel declares the package and the running kernel imports it", async () => {
    await cs.cell("%pip install tinyimg").run();
    await cs.waitForText(/^timg 1\.0 slider 10$/m, 180_000, { package: "tinyimg" });
    await cs.waitForText(/tinyimg is now declared in widgets\.ipynb and installed in its environment; the running kernel can import it/, 10_000);
    const text = await (await cs.frameWith("body")).locator("body").innerText().catch(() => "");
    assert.ok(!/No module named pip/.test(text));
  });

  step("saving keeps the widgets' state in the notebook (and the new declaration)", async () => {
    await cs.page.keyboard.press("Control+S");
    const file = ws("widgets.ipynb");
    await waitFor(() => /widget-state\+json/.test(fs.readFileSync(file, "utf8")), 20_000, "widget state in the saved notebook");
    const saved = JSON.parse(fs.readFileSync(file, "utf8"));
    const state = saved.metadata.widgets["application/vnd.jupyter.widget-state+json"].state;
    const sliders = Object.values(state).filter((m) => m.model_name === "IntSliderModel" && m.state.description === "level");
    assert.equal(sliders.length, 1);
    assert.equal(sliders[0].state.value, 10);
    assert.match(saved.cells[0].source.join(""), /tinyimg/);
  });

  step("widgets made before the notebook showed any render at once when the first one shows", async () => {
    // The renderer starts with the first widget output and is sent every model made so far, in
    // the order they were made: the interact box refers to children made after it.
    prebuild("late.ipynb");
    await cs.quickOpen("late.ipynb");
    await toolbar().locator(".action-item", { hasText: /envlens: ipywidgets, tqdm \+2/ }).first().waitFor({ timeout: 60_000 });
    await cs.runCommand("Notebook: Run All");
    await cs.waitForText(/^made out of sight$/m, 60_000);
    // Shown within seconds; waiting on the box's children behind their own messages took 30 s.
    const frame = await cs.frameWith(".widget-slider .widget-label:text-is('late')", 15_000);
    await frame.locator(".widget-interact .widget-slider").first().waitFor({ timeout: 15_000 });
  });

  step("input() and getpass() open VS Code's input box; Interrupt while it waits ends the cell", async () => {
    await cs.quickOpen("ask.ipynb");
    await toolbar().locator(".action-item", { hasText: /envlens: tinyalpha/ }).first().waitFor({ timeout: 60_000 });
    await cs.cell("Your name?").run();
    const box = cs.page.locator(".quick-input-widget", { hasText: "Your name?" });
    // Whichever comes first: the input box, or the trust dialog of a notebook not approved yet.
    await box.or(cs.trustDialog()).first().waitFor({ timeout: 180_000 });
    if (!(await box.isVisible())) {
      await cs.approveTrust("tinyalpha");
      await box.waitFor({ timeout: 180_000 });
    }
    await cs.shot("input-box");
    fs.copyFileSync(await cs.shot("notebook-input"), path.join(ARTIFACTS, "input-box.png"));
    await cs.page.keyboard.insertText("Ada");
    await cs.page.keyboard.press("Enter");
    await cs.waitForText(/^hello Ada$/m, 30_000);
    await cs.cell("getpass").run();
    const pw = cs.page.locator(".quick-input-widget", { hasText: "Token:" });
    await pw.waitFor({ timeout: 30_000 });
    assert.equal(await pw.locator('input[type="password"]').count(), 1, "getpass's input box is not masked");
    await cs.page.keyboard.insertText("s3cret");
    await cs.page.keyboard.press("Enter");
    await cs.waitForText(/^token length 6$/m, 30_000);
    await cs.cell("Nobody answers").run();
    await cs.page.locator(".quick-input-widget", { hasText: "Nobody answers this" }).waitFor({ timeout: 30_000 });
    await toolbar().locator(".action-item", { hasText: /^\s*Interrupt\s*$/ }).first().click();
    await cs.waitForText(/KeyboardInterrupt|Interrupted/, 30_000);
    await cs.page.locator(".quick-input-widget", { hasText: "Nobody answers this" }).waitFor({ state: "hidden", timeout: 10_000 });
    await cs.cell("Your name?").status("outputs from an older environment").count(); // the kernel is alive:
    await cs.cell("getpass").run();
    await cs.page.locator(".quick-input-widget", { hasText: "Token:" }).waitFor({ timeout: 30_000 });
    await cs.page.keyboard.press("Escape"); // dismissed: the cell is interrupted, nothing hangs
    await cs.waitForText(/KeyboardInterrupt/, 30_000);
  });

  step("Lock Versions leaves the script and its lock both saved", async () => {
    await cs.quickOpen("lockme.py");
    await cs.lens("Lock Versions").waitFor({ timeout: 60_000 }); // the sidecar has the file
    await cs.runCommand("envlens: Lock Versions");
    await cs.approveTrust("tinybeta");
    const lock = ws("lockme.py.lock");
    await waitFor(() => fs.existsSync(lock) && /==/.test(fs.readFileSync(ws("lockme.py"), "utf8")), 120_000, "the lock and the pins on disk");
    // The pins reach the disk through the save; the tab drops its dirty mark a moment later.
    const dirtyTab = cs.page.locator(".tab.dirty", { hasText: "lockme.py" });
    await waitForAsync(async () => (await dirtyTab.count()) === 0, 15_000, "the script's tab to show no unsaved pins after Lock Versions");
    assert.match(fs.readFileSync(lock, "utf8"), /name = "tinybeta"/);
  });

  step("the Python Environments extension's API answers envlens's environment for a script", async () => {
    await cs.quickOpen("analysis.py");
    await sleep(3000); // the registration follows the file's opening
    let probe;
    await waitForAsync(async () => {
      fs.rmSync(probeOut(), { force: true });
      await cs.runCommand("envlens probe: Python Environment of the Active File");
      await waitFor(() => fs.existsSync(probeOut()), 30_000, "the probe's answer");
      probe = JSON.parse(fs.readFileSync(probeOut(), "utf8"));
      return probe.env?.envId?.managerId === "envlens.envlens:envlens";
    }, 90_000, "the Python Environments API to answer envlens's environment");
    console.log(`Python Environments API: ${JSON.stringify(probe)}`);
    assert.match(probe.env.displayName, /envlens: tinyalpha/);
    assert.ok(probe.env.executable.startsWith(path.join(cs.dirs["envlens-cache"], "envs")), probe.env.executable);
    assert.ok(fs.existsSync(probe.env.executable));
    // The vendor build (no `pet`) keeps the file in the workspace folder's project even after
    // addPythonProject(file): getPythonProject(file) answers the folder. The environment it answers
    // for the file is envlens's all the same (above); logged for the record.
    console.log(`Python Environments project of ${probe.uri}: ${probe.project}`);
  });
});

async function waitForAsync(check, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(1000);
  }
  assert.fail(`timed out: ${what}`);
}

async function waitFor(check, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (check()) return;
    await sleep(250);
  }
  assert.fail(`timed out: ${what}`);
}
