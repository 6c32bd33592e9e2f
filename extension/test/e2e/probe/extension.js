// Test-only extension (installed by the e2e run): reads, through the Python Environments
// extension's public API (PythonEnvironments.api() in its src/api.ts), the environment of the
// active file, and writes it as JSON to $ENVLENS_PROBE_OUT for the test to check.
const fs = require("node:fs");
const vscode = require("vscode");

exports.activate = (context) => {
  context.subscriptions.push(
    vscode.commands.registerCommand("envlensProbe.pythonEnvironment", async () => {
      const out = process.env.ENVLENS_PROBE_OUT;
      const write = (data) => fs.writeFileSync(out, JSON.stringify(data, null, 1));
      try {
        const ext = vscode.extensions.getExtension("ms-python.vscode-python-envs");
        if (!ext) return write({ error: "ms-python.vscode-python-envs is not installed" });
        const api = ext.isActive ? ext.exports : await ext.activate();
        const doc = vscode.window.activeTextEditor?.document;
        const uri = vscode.window.activeNotebookEditor?.notebook.uri ?? doc?.uri;
        const env = await api.getEnvironment(uri);
        const project = api.getPythonProject(uri);
        write({
          uri: uri.toString(),
          project: project ? project.uri.toString() : null,
          env: env ? { envId: env.envId, displayName: env.displayName, version: env.version, sysPrefix: env.sysPrefix, executable: env.execInfo?.run?.executable } : null,
        });
      } catch (e) {
        write({ error: String(e && e.stack ? e.stack : e) });
      }
    }),
  );
};
