// End to end, in code-server with the packaged .vsix installed: the steps of issue 4.
// Run: npm run test:e2e (after npm run package). Screenshots: test-artifacts/e2e/.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { CodeServer, REPO } from "./harness.mjs";

const VSIX = path.join(REPO, "dist", "envlens-linux-x64.vsix");
const STEP = { timeout: 240_000 };

const SCRIPT = `# /// script
# requires-python = ">=3.10"
# dependencies = ["tinyalpha"]
# ///
import tinyalpha

# %% Version
print("tinyalpha", tinyalpha.__version__)

# %% Sum
print(sum(range(10)))
`;

// Check Portability: tinyplat has one wheel, for manylinux x86_64 only (fixtures.py), and no sdist.
const CLUSTER = `# /// script
# requires-python = ">=3.10"
# dependencies = ["tinyalpha", "tinyplat"]
# ///
import tinyplat
`;

// Interrupt and provenance: a cell that sleeps, one that proves the kernel kept its state.
const SLOW_CELLS = [
  '# /// script\n# requires-python = ">=3.10"\n# dependencies = ["tinyalpha"]\n# ///\nstate = "kept"\nprint("ready")',
  'import time\nprint("sleeping", flush=True)\ntime.sleep(30)\nprint("woke up")',
  'print("kernel still usable:", state, 6 * 7)',
];

function notebook(sources = undefined) {
  const cell = (type, source, extra = {}) => ({
    cell_type: type,
    metadata: {},
    source: source.split(/(?<=\n)/),
    ...(type === "code" ? { execution_count: null, outputs: [] } : {}),
    ...extra,
  });
  return {
    cells: (sources ?? [
      '# /// script\n# requires-python = ">=3.10"\n# dependencies = ["tinyalpha"]\n# ///',
      'import tinyalpha\nprint("tinyalpha version", tinyalpha.__version__)',
      'import tinybeta\nprint("tinybeta version", tinybeta.__version__)',
    ]).map((src) => cell("code", src)),
    metadata: {
      kernelspec: { display_name: "Python 3", language: "python", name: "python3" },
      language_info: { name: "python" },
    },
    nbformat: 4,
    nbformat_minor: 5,
  };
}

// Steps known to fail now and then, by name -> why (none now: the provenance step's flake, a run
// reaching the kernel being restarted, was fixed by the controller's wait for the restart).
const FLAKY = new Map([]);

describe("envlens in code-server", { concurrency: false }, () => {
  const cs = new CodeServer();
  let nbPath;
  let fx;
  let broken = false;
  // The steps build on each other: after a failure the rest are skipped, with a screenshot of it.
  // A step in FLAKY runs as a node TODO test: its failure is printed but does not fail the suite.
  const step = (name, fn) =>
    test(name, FLAKY.has(name) ? { ...STEP, todo: FLAKY.get(name) } : STEP, async (t) => {
      if (broken) return t.skip("an earlier step failed");
      try {
        await fn();
      } catch (e) {
        if (!FLAKY.has(name)) broken = true;
        await cs.shot(`FAILED-${name.slice(0, 40).replace(/[^a-z0-9]+/gi, "-")}`).catch(() => undefined);
        throw e;
      }
    });

  before(async () => {
    assert.ok(fs.existsSync(VSIX), `${VSIX} is missing: run npm run package first`);
    const py = path.join(REPO, ".venv", "bin", "python");
    fx = JSON.parse(execFileSync(py, [path.join(REPO, "extension/test/e2e/fixtures.py"), cs.work], { encoding: "utf8" }));
    fs.writeFileSync(path.join(cs.workspace, "analysis.py"), SCRIPT);
    fs.writeFileSync(path.join(cs.workspace, "cluster.py"), CLUSTER);
    nbPath = path.join(cs.workspace, "study.ipynb");
    fs.writeFileSync(nbPath, JSON.stringify(notebook(), null, 1) + "\n");
    fs.writeFileSync(path.join(cs.workspace, "slow.ipynb"), JSON.stringify(notebook(SLOW_CELLS), null, 1) + "\n");
    cs.writeSettings({ "envlens.trace.server": "messages" }); // the LSP traffic in the envlens log (test-artifacts)
    cs.installExtension(VSIX);
    // The sidecar's uv resolves only from the tiny wheels and the ipykernel wheelhouse: no network.
    await cs.start({ UV_DEFAULT_INDEX: fx.emptyIndex, UV_FIND_LINKS: `${fx.wheelhouse},${fx.tinyIndex}` });
  }, { timeout: 180_000 });

  after(async () => {
    if (cs.page) await cs.shot("final").catch(() => undefined);
    await cs.stop();
  });

  step("a percent script with a PEP 723 block shows the Install Script Dependencies lens", async () => {
    await cs.quickOpen("analysis.py");
    // The first activation creates the sidecar's environment from the bundled wheels.
    await cs.lens("Install Script Dependencies").waitFor({ timeout: 150_000 });
    await cs.shot("script-install-lens");
  });

  step("clicking the lens builds the environment and the lens says so", async () => {
    await cs.lens("Install Script Dependencies").click();
    await cs.approveTrust("tinyalpha", "script-trust-dialog");
    await cs.lens(/Environment ready/).waitFor({ timeout: 180_000 });
    const text = await cs.lens(/Environment ready/).innerText();
    assert.match(text, /Environment ready: \d+ packages?/);
    await cs.shot("script-environment-ready");
  });

  step("Run All on the script shows its cells' outputs in the outputs notebook", async () => {
    await cs.lens("Run All").waitFor({ timeout: 30_000 });
    await cs.lens("Run All").click();
    await cs.waitForText(/tinyalpha 1\.0/, 120_000);
    await cs.waitForText(/^45$/m, 60_000);
    await cs.shot("script-run-all");
    await cs.page.keyboard.press("Control+K");
    await cs.page.keyboard.press("W"); // close the editors of this group
  });

  step("a notebook that declares a package gets the envlens controller", async () => {
    await cs.quickOpen("study.ipynb");
    const kernel = cs.page.locator(".notebook-toolbar-container:visible", { hasText: /envlens: tinyalpha \(Python 3\.\d+\)/ });
    await kernel.first().waitFor({ timeout: 90_000 });
    await cs.shot("notebook-controller-selected");
  });

  step("running the cells: the declared package's version appears; the undeclared import fails", async () => {
    await cs.runCommand("Notebook: Run All");
    await cs.approveTrust("tinyalpha");
    await cs.waitForText(/tinyalpha version 1\.0/, 180_000);
    await cs.waitForText(/No module named 'tinybeta'/, 60_000);
    await cs.page.locator(".cell-status-item", { hasText: "Install tinybeta and re-run" }).first().waitFor({ timeout: 30_000 });
    await cs.shot("notebook-module-not-found");
  });

  step("the install action adds the package and the re-run succeeds", async () => {
    await cs.page.locator(".cell-status-item", { hasText: "Install tinybeta and re-run" }).first().click();
    // Adding tinybeta changes the declaration: the trust dialog lists it before anything installs.
    await cs.waitForText(/tinybeta version 1\.0/, 180_000, { package: "tinybeta", shot: "notebook-trust-new-package" });
    await cs.shot("notebook-installed-and-rerun");
    await cs.page.keyboard.press("Control+S");
    await waitFor(() => /tinybeta/.test(fs.readFileSync(nbPath, "utf8")), 20_000, "the notebook file declares tinybeta");
  });

  step("the Environment view lists the dependencies; adding one from the view updates the notebook", async () => {
    await cs.runCommand("envlens: Show Environment");
    const view = cs.page.locator(".pane", { hasText: "Environment" }).first();
    await view.locator(".monaco-list-row", { hasText: "tinyalpha" }).first().waitFor({ timeout: 60_000 });
    await view.locator(".monaco-list-row", { hasText: "tinybeta" }).first().waitFor({ timeout: 60_000 });
    await cs.shot("environment-view");
    const input = await addPackageInput();
    await input.fill("tinyimg");
    await cs.page.keyboard.press("Enter");
    await waitForAsync(async () => {
      const dialog = cs.page.locator(".monaco-dialog-box", { hasText: "approve them?" });
      if (await dialog.isVisible().catch(() => false)) await cs.approveTrust("tinyimg");
      return view.locator(".monaco-list-row", { hasText: "tinyimg" }).first().isVisible();
    }, 120_000, "tinyimg in the Environment view");
    // The view's add syncs the environment: the row then shows the installed version.
    await view.locator(".monaco-list-row", { hasText: /tinyimg\s*installed 1\.0/ }).first().waitFor({ timeout: 120_000 });
    await cs.shot("environment-view-added");
    await cs.quickOpen("study.ipynb");
    await cs.page.keyboard.press("Control+S");
    await waitFor(() => /tinyimg/.test(fs.readFileSync(nbPath, "utf8")), 20_000, "the notebook file declares tinyimg");
  });

  // Issue 14: every build is a version; Revert writes an old declaration back and builds nothing.
  step("the Environment view's History lists the notebook's versions with their packages and logs; Revert goes back to version 1 without building", async () => {
    await cs.clearNotifications();
    await cs.runCommand("envlens: Show Environment");
    const view = cs.page.locator(".pane", { hasText: "Environment" }).first();
    const row = (label) => view.locator(".monaco-list-row", { hasText: label }).first();
    await row(/History\s*\d+ versions, in use \d+/).waitFor({ timeout: 60_000 });
    const v1 = row(/Version 1\s*ready · declared tinyalpha/);
    await v1.waitFor({ timeout: 30_000 });
    await row(/Version \d+\s*in use · declared \+tinyimg/).waitFor({ timeout: 30_000 });
    // Version 1's packages and its build log.
    await v1.click();
    const packages = row(/^\s*Packages\s*\d+/);
    await packages.click();
    await row(/ipykernel\s*\d+\.\d+/).waitFor({ timeout: 10_000 });
    await cs.shot("environment-view-history");
    await packages.click(); // closed again: the rows below it come into view
    await row("Build log").click();
    await cs.waitForText(/#\s+study\.ipynb,\s+version\s+1\s+\(ready\)/, 30_000);
    await cs.waitForText(/requirements:\s+tinyalpha/, 10_000); // the log's header (uv's output follows)
    await cs.page.keyboard.press("Control+W"); // the log's editor
    // The view refreshes when the active editor changes; an inline action clicked while its row is
    // being replaced reaches the command without its row (which then offers a list to pick from).
    await new Promise((r) => setTimeout(r, 2000));

    const store = cs.envStore().built;
    await v1.hover();
    await v1.locator('.action-label[aria-label^="Revert to Version"]').click();
    const dialog = cs.page.locator(".monaco-dialog-box", { hasText: "Revert study.ipynb to version 1?" });
    await dialog.waitFor({ timeout: 20_000 });
    assert.match(await dialog.innerText(), /Its environment is still in the cache: nothing is installed/);
    await cs.shot("environment-view-revert-question");
    await dialog.locator(".monaco-button", { hasText: "Revert to Version 1" }).click();
    await cs.page
      .locator(".notification-toast", { hasText: /Reverted study\.ipynb to version 1 \(now version \d+\): nothing was built/ })
      .first()
      .waitFor({ timeout: 120_000 });
    await row(/Version \d+\s*in use · reverted to 1/).waitFor({ timeout: 30_000 });
    await cs.shot("environment-view-reverted");
    assert.deepEqual(cs.envStore().built, store, "the revert built an environment");
    await cs.quickOpen("study.ipynb");
    await cs.page.keyboard.press("Control+S");
    await waitFor(() => {
      const first = JSON.parse(fs.readFileSync(nbPath, "utf8")).cells[0].source.join("");
      return /"tinyalpha"/.test(first) && !/tinybeta|tinyimg/.test(first);
    }, 20_000, "the notebook file declares version 1's dependencies again");
  });

  // Issue 6: a notebook signed with another machine's key asks before anything is installed.
  step("a foreign notebook's first run shows the trust dialog (with the look-alike flagged); Cancel installs and starts nothing", async () => {
    const storeBefore = cs.envStore();
    assert.ok(!storeBefore.all.includes(path.basename(fx.foreign.envDir)), "the foreign notebook's environment exists before the test");
    await cs.clearNotifications();
    await cs.quickOpen("foreign.ipynb");
    const kernel = cs.page.locator(".notebook-toolbar-container:visible", { hasText: /envlens: tinyalpha, reqeusts/ });
    await kernel.first().waitFor({ timeout: 60_000 });
    await cs.runCommand("Notebook: Run All");
    const text = await cs.waitForTrustDialog("reqeusts", "foreign-notebook-trust-dialog");
    assert.match(text, /tinyalpha/);
    assert.match(text, /reqeusts: did you mean requests\? \(looks like a typo of the popular package 'requests'/);
    assert.match(text, /approved on another machine|signed on another machine/);
    // While the dialog is up: no environment for it, and no kernel.
    assert.deepEqual(cs.envStore().all, storeBefore.all, "an environment folder appeared before approval");
    assert.deepEqual(cs.processesWith(fx.foreign.envDir), [], "a process runs in the foreign notebook's environment");
    await cs.cancelTrust();
    await cs.waitForText(/No kernel was started: the dependencies of .*foreign\.ipynb are not approved/, 30_000);
    await cs.shot("foreign-notebook-cancelled");
    await new Promise((r) => setTimeout(r, 1000)); // anything started by mistake would show by now
    assert.deepEqual(cs.envStore().all, storeBefore.all, "an environment folder appeared after Cancel");
    assert.ok(!fs.existsSync(fx.foreign.envDir), `${fx.foreign.envDir} exists after Cancel`);
    assert.deepEqual(cs.processesWith(fx.foreign.envDir), [], "a process runs in the foreign notebook's environment after Cancel");
  });

  step("approving the foreign notebook builds its environment, runs the cell and signs it with this machine's key", async () => {
    await cs.runCommand("Notebook: Run All");
    await cs.approveTrust("reqeusts");
    await cs.waitForText(/reqeusts 1\.0/, 180_000);
    assert.ok(fs.existsSync(path.join(fx.foreign.envDir, "ready")), `${fx.foreign.envDir} was not built`);
    assert.equal(cs.processesWith(fx.foreign.envDir).length > 0, true, "no kernel runs in the approved environment");
    await cs.shot("foreign-notebook-approved");
    await cs.page.keyboard.press("Control+S");
    await waitFor(() => {
      const sig = JSON.parse(fs.readFileSync(fx.foreign.path, "utf8")).metadata?.envlens?.trust;
      return typeof sig === "string" && sig.startsWith("hmac-sha256:") && sig !== fx.foreign.signature;
    }, 20_000, "the saved notebook carries this machine's signature");
  });

  // Issue 5 part 4: targets and results in the Environment view.
  step("Check Portability: the Environment view lists the targets, then works / fails per target with the reasons", async () => {
    await cs.clearNotifications();
    await cs.quickOpen("cluster.py");
    await cs.runCommand("envlens: Show Environment");
    const view = cs.page.locator(".pane", { hasText: "Environment" }).first();
    const row = (label) => view.locator(".monaco-list-row", { hasText: label }).first();
    await row(/Portability\s*not checked/).waitFor({ timeout: 60_000 });
    for (const target of ["Linux x86_64", "Linux aarch64", "macOS arm64", "Windows x86_64"]) {
      await row(new RegExp(`${target}\\s*not checked`)).waitFor({ timeout: 10_000 });
    }
    if (await cs.lens("Check Portability").waitFor({ timeout: 20_000 }).then(() => true, () => false)) {
      await cs.lens("Check Portability").click();
    } else {
      // Seen once in ten runs: no lens on a file opened late; the LSP trace is in the envlens log.
      console.warn("the Check Portability lens did not show on cluster.py within 20 s: using the view's action");
      await cs.runCommand("envlens: Check Portability");
    }
    // It may run a build backend (uv reads an sdist's metadata): the file's approval comes first.
    await cs.approveTrust("tinyplat");
    await row(/Portability\s*1 of 4 targets work/).waitFor({ timeout: 120_000 });
    await row(/Linux x86_64\s*Python 3\.\d+ · works · 2 packages, all from wheels/).waitFor({ timeout: 10_000 });
    for (const [target, name] of [["Linux aarch64", "linux-aarch64"], ["macOS arm64", "macos-arm64"], ["Windows x86_64", "windows-x86_64"]]) {
      await row(new RegExp(`${target}\\s*Python 3\\.\\d+ · fails · 1 problem`)).waitFor({ timeout: 10_000 });
      await row(new RegExp(`tinyplat 1\\.0 has no wheel for CPython 3\\.\\d+ on ${name} and no source distribution to build`)).waitFor({ timeout: 10_000 });
    }
    await cs.page.locator(".notification-toast", { hasText: "cluster.py works on Linux x86_64" }).first().waitFor({ timeout: 10_000 });
    const width = await cs.sideBarWidth(760); // the reasons in full
    await cs.shot("environment-view-portability");
    await cs.sideBarWidth(width);
  });

  /** Add Package...'s input box (the palette's own box closes first: wait for ours). */
  const addPackageInput = async () => {
    await cs.runCommand("envlens: Add Package...");
    await cs.page.locator(".quick-input-widget:visible", { hasText: "Add a package to" }).waitFor({ timeout: 30_000 });
    const input = cs.page.locator(".quick-input-widget:visible input");
    await input.waitFor({ state: "visible", timeout: 30_000 });
    return input;
  };

  /** The notebook cell whose text matches; `run()` clicks its own Execute Cell button. */
  const cellRow = (text) => {
    const row = cs.page.locator(".monaco-list-row.code-cell-row:visible", { hasText: text }).first();
    return {
      row,
      status: (label) => row.locator(".cell-status-item", { hasText: label }),
      run: async () => {
        await row.hover();
        await row.locator(".run-button-container .action-label").first().click();
      },
    };
  };

  step("interrupting a cell that sleeps: KeyboardInterrupt in its output, and the kernel keeps running with its state", async () => {
    await cs.clearNotifications();
    await cs.quickOpen("slow.ipynb");
    await cs.page.locator(".notebook-toolbar-container:visible", { hasText: /envlens: tinyalpha/ }).first().waitFor({ timeout: 60_000 });
    await cellRow('print("ready")').run();
    await cs.approveTrust("tinyalpha");
    await cs.waitForText(/^ready$/m, 120_000);
    await cellRow("time.sleep(30)").run();
    await cs.waitForText(/^sleeping$/m, 60_000);
    const started = Date.now();
    await cs.page.locator(".notebook-toolbar-container:visible .action-item", { hasText: /^\s*Interrupt\s*$/ }).first().click();
    await cs.waitForText(/KeyboardInterrupt/, 20_000);
    assert.ok(Date.now() - started < 20_000, "the interrupt took as long as the sleep");
    await cellRow("kernel still usable").run();
    await cs.waitForText(/kernel still usable: kept 42/, 30_000);
    await cs.shot("notebook-interrupted");
  });

  step("provenance: after the declaration changes and syncs, cells say 'outputs from an older environment'; re-running one clears it", async () => {
    const older = "outputs from an older environment";
    const input = await addPackageInput();
    await input.fill("tinybeta");
    await cs.page.keyboard.press("Enter");
    await waitForAsync(async () => {
      if (await cs.trustDialog().isVisible().catch(() => false)) await cs.approveTrust("tinybeta");
      return (await cellRow("kernel still usable").status(older).count()) > 0;
    }, 120_000, `'${older}' on the cells run before the change`);
    await cellRow('print("ready")').status(older).first().waitFor({ timeout: 10_000 });
    await cs.shot("notebook-outputs-from-older-environment");
    // The offer to restart into the new environment, then a re-run of one cell.
    const offer = cs.page.locator(".notification-toast", { hasText: "restart the kernel to use it?" }).first();
    if (await offer.waitFor({ timeout: 15_000 }).then(() => true, () => false)) {
      await offer.locator(".monaco-button", { hasText: "Restart Kernel" }).click();
    } else {
      await cs.runCommand("envlens: Restart Kernel"); // the offer's toast hid already
    }
    await cellRow('print("ready")').run();
    await cs.waitForText(/^ready$/m, 60_000);
    await cellRow('print("ready")').status(older).first().waitFor({ state: "detached", timeout: 30_000 });
    assert.equal(await cellRow("kernel still usable").status(older).count(), 1, "a cell that was not re-run lost its provenance item");
    await cs.shot("notebook-provenance-cleared");
  });
});

async function waitForAsync(check, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  assert.fail(`timed out: ${what}`);
}

async function waitFor(check, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.fail(`timed out: ${what}`);
}
