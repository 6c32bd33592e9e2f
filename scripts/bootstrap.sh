#!/usr/bin/env bash
# Set up the development environment, idempotently: a uv (in a cache folder outside the repository),
# then the project's own .venv from uv.lock. A second run takes a second or two.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEV_CACHE="${ENVLENS_DEV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/envlens-dev}"
UV_VERSION="0.13.8"
BOOT="$DEV_CACHE/bootstrap"
mkdir -p "$DEV_CACHE"
if ! "$BOOT/bin/uv" --version 2>/dev/null | grep -q "^uv $UV_VERSION"; then
  echo "envlens setup: installing uv $UV_VERSION into $BOOT" >&2
  python3 -m venv "$BOOT"
  "$BOOT/bin/pip" install --quiet --disable-pip-version-check "uv==$UV_VERSION"
fi
export PATH="$BOOT/bin:$PATH"
cd "$ROOT"
# Bytecode up front: with PYTHONDONTWRITEBYTECODE=1 (set on these machines) Python never writes .pyc
# itself, and every `envlens` start would compile its imports again (0.4 s -> 0.15 s for a command).
uv sync --frozen --quiet --compile-bytecode
.venv/bin/python -m compileall -q -j 0 server/envlens >/dev/null
