// Bundles the extension into one CommonJS file (vscode is provided by the editor at run time), and
// the widget renderer (extension/renderer, a notebook renderer: an ES module for the webview) with
// the real @jupyter-widgets libraries and their CSS.
import * as fs from "node:fs";
import * as esbuild from "esbuild";

const watch = process.argv.includes("--watch");
const extension = {
  entryPoints: ["extension/src/extension.ts"],
  bundle: true,
  outfile: "dist/extension.js",
  platform: "node",
  format: "cjs",
  target: "node20",
  external: ["vscode"],
  sourcemap: true,
  minify: !watch,
  logLevel: "info",
};

const fontLoaders = { ".woff": "dataurl", ".woff2": "dataurl", ".ttf": "dataurl", ".eot": "dataurl", ".svg": "dataurl", ".png": "dataurl", ".gif": "dataurl" };

/** A CSS file imported by the widget libraries becomes a <style> in the webview (its @imports and
 * fonts bundled in): a notebook renderer has no other way to bring a stylesheet. */
const injectCss = {
  name: "inject-css",
  setup(build) {
    build.onLoad({ filter: /\.css$/ }, async (args) => {
      const out = await esbuild.build({ entryPoints: [args.path], bundle: true, write: false, minify: true, loader: fontLoaders, logLevel: "silent" });
      const css = out.outputFiles[0].text;
      return {
        contents: `const s = document.createElement("style"); s.dataset.envlens = ${JSON.stringify(args.path.split("node_modules/").pop())}; s.textContent = ${JSON.stringify(css)}; document.head.appendChild(s);`,
        loader: "js",
      };
    });
  },
};

/** anywidget's front end ships as an AMD module (`define(["@jupyter-widgets/base"], factory)`):
 * export its factory instead, called with the bundled @jupyter-widgets/base. */
const anywidgetAsModule = {
  name: "anywidget-factory",
  setup(build) {
    build.onLoad({ filter: /node_modules[\\/]anywidget[\\/]dist[\\/]index\.js$/ }, async (args) => {
      const text = await fs.promises.readFile(args.path, "utf8");
      const amd = 'define(["@jupyter-widgets/base"], widget_default);';
      if (!text.includes(amd)) throw new Error(`anywidget changed its bundle format: ${args.path}`);
      return { contents: text.replace(amd, "export default widget_default;"), loader: "js" };
    });
  },
};

const renderer = {
  entryPoints: ["extension/renderer/widgets.ts"],
  bundle: true,
  outfile: "dist/widgets.js",
  platform: "browser",
  format: "esm",
  target: "es2020",
  sourcemap: false,
  minify: !watch,
  logLevel: "info",
  define: { "process.env.NODE_ENV": '"production"', global: "globalThis" },
  // Some of the widget libraries set webpack's public path (their build tool, not ours).
  banner: { js: 'var __webpack_public_path__ = "";' },
  plugins: [injectCss, anywidgetAsModule],
  loader: fontLoaders,
};

if (watch) {
  for (const o of [extension, renderer]) await (await esbuild.context(o)).watch();
} else {
  await Promise.all([esbuild.build(extension), esbuild.build(renderer)]);
}
