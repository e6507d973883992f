#!/usr/bin/env bash
# Installs the toolchains the non-Go rules need, when they are missing: wabt (wat2wasm) for
# WAT rules, clang and lld for C rules. Debian packages; needs root or sudo.
set -euo pipefail
need=()
command -v wat2wasm >/dev/null 2>&1 || need+=(wabt)
if ls rules-wasm/*/*.c >/dev/null 2>&1; then
  command -v clang >/dev/null 2>&1 || need+=(clang)
  command -v wasm-ld >/dev/null 2>&1 || need+=(lld)
fi
((${#need[@]} == 0)) && exit 0
echo "installing rule toolchains: ${need[*]}"
sudo=""
[[ $(id -u) == 0 ]] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq "${need[@]}" >/dev/null
