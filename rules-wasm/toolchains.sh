#!/usr/bin/env bash
# Installs the toolchains the non-Go rules need, when they are missing: wabt (wat2wasm) for
# WAT rules, clang and lld for C rules, Debian's rustc with the wasm32 standard library for
# Rust rules (Debian packages; needs root or sudo), and for AssemblyScript rules node + npm
# (Debian packages) and the asc pinned in sdk/rule/assemblyscript/package-lock.json (npm ci).
set -euo pipefail
cd "$(dirname "$0")/.."

# has_rule EXT: some rules-wasm/<name>/<name>.EXT exists.
has_rule() {
  local f d
  for f in rules-wasm/*/*."$1"; do
    [[ -e $f ]] || continue
    d=$(basename "$(dirname "$f")")
    [[ $(basename "$f") == "$d.$1" ]] && return 0
  done
  return 1
}

need=()
command -v wat2wasm >/dev/null 2>&1 || need+=(wabt)
if has_rule c; then
  command -v clang >/dev/null 2>&1 || need+=(clang)
  command -v wasm-ld >/dev/null 2>&1 || need+=(lld)
fi
if has_rule rs; then
  # The rustup rustc that may come first on PATH has no Wasm target: use Debian's.
  [[ -x /usr/bin/rustc ]] || need+=(rustc)
  [[ -d /usr/lib/rustlib/wasm32-unknown-unknown ]] || need+=(libstd-rust-dev-wasm32)
fi
if has_rule ts; then
  command -v node >/dev/null 2>&1 || need+=(nodejs)
  command -v npm >/dev/null 2>&1 || need+=(npm)
fi

if ((${#need[@]} > 0)); then
  echo "installing rule toolchains: ${need[*]}"
  sudo=""
  [[ $(id -u) == 0 ]] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi

# asc, at the version package-lock.json pins; reinstalled when the lock file changes.
if has_rule ts; then
  sdk=sdk/rule/assemblyscript
  if [[ ! -x $sdk/node_modules/.bin/asc || $sdk/package-lock.json -nt $sdk/node_modules/.package-lock.json ]]; then
    echo "installing asc: (cd $sdk && npm ci)"
    (cd "$sdk" && npm ci --no-audit --no-fund --loglevel=error)
  fi
fi
