import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/**", "out/**", "node_modules/**", "test-artifacts/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ["extension/**/*.ts"],
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_" }],
      eqeqeq: ["error", "always"],
    },
  },
  {
    // Decision logic is unit tested without an editor: it must not import vscode.
    files: ["extension/src/core/**/*.ts"],
    rules: { "no-restricted-imports": ["error", { paths: ["vscode"] }] },
  },
  {
    // The e2e probe: a plain CommonJS extension that runs in the extension host.
    files: ["extension/test/e2e/probe/**/*.js"],
    languageOptions: { sourceType: "commonjs", globals: { require: "readonly", exports: "writable", process: "readonly" } },
    rules: { "@typescript-eslint/no-require-imports": "off" },
  },
  {
    files: ["extension/test/e2e/**/*.mjs", "esbuild.mjs"],
    languageOptions: {
      globals: { process: "readonly", fetch: "readonly", console: "readonly", setTimeout: "readonly", clearTimeout: "readonly", URL: "readonly", Buffer: "readonly" },
    },
  },
);
