#!/usr/bin/env bash
# Fills dist/wheelhouse/ with the envlens wheel and the wheels of all its runtime dependencies for
# linux-x64 and CPython 3.10-3.13, plus manifest.json: the .vsix carries them so that the extension
# creates the sidecar's environment on first activation with no network (extension/src/core/sidecarEnv.ts).
# Dependency wheels come from PyPI once per uv.lock and are cached outside the repository.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/envlens-dev"
PYTHONS=(3.10 3.11 3.12 3.13)
OUT="$REPO/dist/wheelhouse"
log() { echo "[wheelhouse] $*" >&2; }

UV=""
for c in "$REPO/.venv/bin/uv" "$CACHE/bootstrap/bin/uv" "$(command -v uv || true)"; do
  [[ -n "$c" && -x "$c" ]] && { UV="$c"; break; }
done
[[ -n "$UV" ]] || { echo "[wheelhouse] uv not found: run 'uv sync' in $REPO first" >&2; exit 1; }

tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
cd "$REPO"
"$UV" export --frozen --no-dev --no-emit-project --no-hashes --format requirements-txt -q -o "$tmp/requirements.txt"
deps_hash="$( { cat "$tmp/requirements.txt"; echo "${PYTHONS[*]}"; } | sha256sum | cut -c1-16)"
deps_dir="$CACHE/wheelhouse-deps/$deps_hash"

if [[ ! -f "$deps_dir/.complete" ]]; then
  log "downloading dependency wheels for Python ${PYTHONS[*]} into $deps_dir"
  # pip is the tool that downloads wheels for other Python versions and platforms; keep one for it.
  PIPENV_DIR="$CACHE/pip-tool"
  if [[ ! -x "$PIPENV_DIR/bin/pip" ]] || ! "$PIPENV_DIR/bin/python" -c "import packaging" 2>/dev/null; then
    "$UV" venv -q --seed --allow-existing "$PIPENV_DIR" >&2
    "$UV" pip install -q --python "$PIPENV_DIR/bin/python" packaging >&2
  fi
  rm -rf "$deps_dir.tmp"; mkdir -p "$deps_dir.tmp"
  for py in "${PYTHONS[@]}"; do
    # The lock is universal: evaluate its markers for CPython $py on linux-x86_64 (pip download
    # would evaluate python_full_version against its own interpreter), then fetch exact pins.
    "$PIPENV_DIR/bin/python" - "$tmp/requirements.txt" "$py" >"$tmp/req-$py.txt" <<'PY'
import sys
from packaging.requirements import Requirement
path, py = sys.argv[1], sys.argv[2]
env = {"python_version": py, "python_full_version": py + ".0", "implementation_name": "cpython",
       "platform_python_implementation": "CPython", "sys_platform": "linux", "os_name": "posix",
       "platform_system": "Linux", "platform_machine": "x86_64"}
for line in open(path):
    line = line.strip()
    if not line or line.startswith("#") or line.startswith("-"):
        continue
    req = Requirement(line)
    if req.marker is None or req.marker.evaluate(env):
        req.marker = None
        print(req)
PY
    "$PIPENV_DIR/bin/pip" download -q --disable-pip-version-check --no-deps --only-binary=:all: \
      --implementation cp --python-version "$py" \
      --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
      --platform manylinux_2_5_x86_64 --platform manylinux1_x86_64 --platform linux_x86_64 \
      -r "$tmp/req-$py.txt" -d "$deps_dir.tmp" 2> >(grep -v "is ignored: it is neither a file" >&2)
  done
  touch "$deps_dir.tmp/.complete"
  rm -rf "$deps_dir"; mv "$deps_dir.tmp" "$deps_dir"
fi

rm -rf "$OUT"; mkdir -p "$OUT"
"$UV" build -q --wheel --out-dir "$tmp/build" >&2
cp "$tmp"/build/envlens-*.whl "$OUT/"
cp "$deps_dir"/*.whl "$OUT/"

envlens_wheel="$(basename "$(ls "$OUT"/envlens-*.whl)")"
version="$(echo "$envlens_wheel" | cut -d- -f2)"
# The hash names the sidecar environment: it changes with any wheel, including envlens's own content.
hash="$(cd "$OUT" && sha256sum ./*.whl | sha256sum | cut -c1-12)"
python3 - "$OUT" "$version" "$hash" "${PYTHONS[@]}" <<'PY'
import json, os, sys
out, version, digest, *pythons = sys.argv[1:]
wheels = sorted(f for f in os.listdir(out) if f.endswith(".whl"))
json.dump({"envlensVersion": version, "pythons": pythons, "hash": digest, "wheels": wheels},
          open(os.path.join(out, "manifest.json"), "w"), indent=1)
PY
log "$(ls "$OUT"/*.whl | wc -l) wheels, $(du -sh "$OUT" | cut -f1), envlens $version, hash $hash"
