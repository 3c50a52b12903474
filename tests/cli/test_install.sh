#!/usr/bin/env bash
# `cmake --install` puts the command, its shell completion and its man page in place, and
# the installed files are what the installed command generates from its definition.
# Usage: test_install.sh BUILD_DIR
set -u
build="$1"
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null || { echo "FAIL cmake --install"; exit 1; }
fails=0
check() {  # check FILE ARGS...: FILE exists and equals `ropegen ARGS...`
  local file="$prefix/$1"
  shift
  if ! [ -s "$file" ]; then echo "FAIL missing $file"; fails=$((fails + 1)); return; fi
  if ! "$prefix/bin/ropegen" "$@" | cmp -s - "$file"; then echo "FAIL $file is not ropegen $*"; fails=$((fails + 1)); return; fi
  echo "ok $file"
}
check share/bash-completion/completions/ropegen --generate-completion bash
check share/zsh/site-functions/_ropegen --generate-completion zsh
check share/man/man1/ropegen.1 --generate-man
# pkg-config finds the installed C API (ropegen-sys's build script asks it), wherever the prefix is.
pc=$(ls "$prefix"/lib*/pkgconfig/ropegen_c.pc "$prefix"/lib/*/pkgconfig/ropegen_c.pc 2>/dev/null | head -1)
if [ -z "$pc" ]; then
  echo "FAIL no ropegen_c.pc installed"; fails=$((fails + 1))
elif command -v pkg-config >/dev/null; then
  libdir=$(PKG_CONFIG_PATH="$(dirname "$pc")" pkg-config --variable=libdir ropegen_c)
  incdir=$(PKG_CONFIG_PATH="$(dirname "$pc")" pkg-config --variable=includedir ropegen_c)
  if [ -e "$libdir/libropegen_c.so" ] && [ -e "$incdir/ropegen/ropegen.h" ]; then echo "ok $pc"
  else echo "FAIL $pc: libdir '$libdir', includedir '$incdir'"; fails=$((fails + 1)); fi
else
  echo "ok $pc (pkg-config not installed: contents not checked)"
fi
[ "$fails" -eq 0 ]
