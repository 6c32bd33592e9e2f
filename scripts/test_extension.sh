#!/usr/bin/env bash
# The extension's tests, one entry point for CI: installs what they need (idempotent, cached
# outside the repository), builds, checks (tsc strict + eslint), unit tests, packages the .vsix
# (with the sidecar's wheelhouse) and runs the end-to-end tests in code-server with it installed.
# Node's test runner prints its summary lines (ℹ tests / ℹ pass / ℹ fail).
# ENVLENS_SKIP_E2E=1 skips the end-to-end part.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
t0=$(date +%s)
bash scripts/setup_node.sh
eval "$(bash scripts/setup_node.sh --print-env)"
t_setup=$(date +%s)
echo "== build";   npm run -s build
echo "== check";   npm run -s check
echo "== unit";    npm run -s test:unit
echo "== package"; npm run -s package 2>&1 | grep -E "DONE|ERROR|WARNING|wheelhouse\]" || true
test -f dist/envlens-linux-x64.vsix || { echo "packaging failed: dist/envlens-linux-x64.vsix missing" >&2; exit 1; }
t_pkg=$(date +%s)
if [[ "${ENVLENS_SKIP_E2E:-}" != "1" ]]; then
  echo "== e2e (code-server)"; npm run -s test:e2e
fi
t_end=$(date +%s)
echo "extension tests: setup $((t_setup - t0)) s, build+check+unit+package $((t_pkg - t_setup)) s, e2e $((t_end - t_pkg)) s"
