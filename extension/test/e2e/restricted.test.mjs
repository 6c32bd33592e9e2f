// End to end, issue 6 part 5: in a Restricted Mode workspace (VS Code's workspace trust on, the
// folder not trusted) envlens installs and runs nothing, and says so. A second code-server, with
// workspace trust enabled and no startup prompt, so the folder opens untrusted.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { CodeServer, REPO } from "./harness.mjs";

const VSIX = path.join(REPO, "dist", "envlens-linux-x64.vsix");
const STEP = { timeout: 120_000 };

const SCRIPT = `# /// script
# dependencies = ["tinyalpha"]
# ///
import tinyalpha

# %% Version
print("tinyalpha", tinyalpha.__version__)
`;

const NOTEBOOK = {
  cells: [
    {
      cell_type: "code",
      execution_count: null,
      metadata: {},
      outputs: [],
      source: ["# /// script\n", '# dependencies = ["tinyalpha"]\n', "# ///\n", "import tinyalpha\n", 'print("tinyalpha", tinyalpha.__version__)'],
    },
  ],
  metadata: { kernelspec: { display_name: "Python 3", language: "python", name: "python3" }, language_info: { name: "python" } },
  nbformat: 4,
  nbformat_minor: 5,
};

describe("envlens in a Restricted Mode workspace", { concurrency: false }, () => {
  const cs = new CodeServer({ name: "restricted", workspaceTrust: true });
  let broken = false;
  const step = (name, fn) =>
    test(name, STEP, async (t) => {
      if (broken) return t.skip("an earlier step failed");
      try {
        await fn();
      } catch (e) {
        broken = true;
        await cs.shot(`FAILED-${name.slice(0, 40).replace(/[^a-z0-9]+/gi, "-")}`).catch(() => undefined);
        throw e;
      }
    });

  /** Anything envlens would start: its sidecar (environment or process) or a kernel. */
  const started = () => {
    const storage = path.join(cs.dirs["user-data"], "User", "globalStorage");
    const sidecarEnvs = fs.existsSync(storage)
      ? fs.readdirSync(storage, { recursive: true }).filter((p) => /sidecar-/.test(String(p)))
      : [];
    const procs = cs.processesWith(cs.work).filter((p) => /envlens serve|ipykernel|sidecar-/.test(p.cmd));
    return { envs: cs.envStore().all, sidecarEnvs, procs };
  };
  const nothingStarted = (when) => assert.deepEqual(started(), { envs: [], sidecarEnvs: [], procs: [] }, `envlens started something ${when}`);

  before(async () => {
    assert.ok(fs.existsSync(VSIX), `${VSIX} is missing: run npm run package first`);
    const py = path.join(REPO, ".venv", "bin", "python");
    // The same offline index as the main test: an install, if one wrongly ran, would succeed.
    const fx = JSON.parse(execFileSync(py, [path.join(REPO, "extension/test/e2e/fixtures.py"), cs.work], { encoding: "utf8" }));
    fs.writeFileSync(path.join(cs.workspace, "analysis.py"), SCRIPT);
    fs.writeFileSync(path.join(cs.workspace, "study.ipynb"), JSON.stringify(NOTEBOOK, null, 1) + "\n");
    cs.writeSettings({
      // VS Code's workspace trust on, no prompt at startup: the folder opens in Restricted Mode.
      "security.workspace.trust.startupPrompt": "never",
      "security.workspace.trust.untrustedFiles": "open",
      "security.workspace.trust.banner": "never", // the status bar still says "Restricted Mode"
    });
    cs.installExtension(VSIX);
    await cs.start({ UV_DEFAULT_INDEX: fx.emptyIndex, UV_FIND_LINKS: `${fx.wheelhouse},${fx.tinyIndex}` });
  }, { timeout: 120_000 });

  after(async () => {
    if (cs.page) await cs.shot("final").catch(() => undefined);
    await cs.stop();
  });

  step("opening a script says that envlens installs and runs nothing here (notification, lens, status bar)", async () => {
    await cs.page.locator(".statusbar-item", { hasText: "Restricted Mode" }).first().waitFor({ timeout: 30_000 });
    await cs.quickOpen("analysis.py");
    const toast = cs.page.locator(".notification-toast", { hasText: "Restricted Mode: envlens builds no environment for analysis.py" });
    await toast.first().waitFor({ timeout: 30_000 });
    await cs.lens(/Restricted Mode: envlens installs and runs nothing here/).waitFor({ timeout: 30_000 });
    await cs.page.locator(".statusbar-item", { hasText: "envlens: restricted" }).first().waitFor({ timeout: 30_000 });
    assert.equal(await cs.lens("Install Script Dependencies").count(), 0, "the sidecar's install lens shows in Restricted Mode");
    await cs.shot("restricted-script");
    nothingStarted("after opening a script");
  });

  step("Install Script Dependencies from the palette refuses, saying why", async () => {
    await cs.clearNotifications();
    await cs.runCommand("envlens: Install Script Dependencies");
    await cs.page.locator(".notification-toast", { hasText: "envlens installs and runs nothing in a restricted workspace" }).first().waitFor({ timeout: 30_000 });
    await cs.shot("restricted-install-refused");
    nothingStarted("after the install command");
  });

  step("a notebook's kernel says restricted; running a cell asks VS Code's workspace trust, and Cancel runs nothing", async () => {
    await cs.clearNotifications();
    await cs.quickOpen("study.ipynb");
    await cs.page.locator(".notebook-toolbar-container:visible", { hasText: "envlens: restricted workspace" }).first().waitFor({ timeout: 30_000 });
    await cs.runCommand("envlens: Show Environment");
    const view = cs.page.locator(".pane", { hasText: "Environment" }).first();
    await view.locator(".monaco-list-row", { hasText: "Restricted workspace" }).first().waitFor({ timeout: 30_000 });
    // The notebook toolbar's Run All (the palette's needs the notebook editor focused).
    await cs.page.locator(".notebook-toolbar-container:visible .action-item", { hasText: /^\s*Run All\s*$/ }).first().click();
    const dialog = cs.page.locator(".monaco-dialog-box", { hasText: "Do you trust the authors" });
    await dialog.waitFor({ timeout: 30_000 });
    await cs.shot("restricted-notebook-run");
    await dialog.locator(".monaco-button", { hasText: /^Cancel$/ }).click();
    await dialog.waitFor({ state: "hidden", timeout: 10_000 });
    await new Promise((r) => setTimeout(r, 1500));
    await cs.shot("restricted-notebook-cancelled");
    nothingStarted("after running a cell");
  });
});
