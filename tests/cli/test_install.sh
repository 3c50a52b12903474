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
[ "$fails" -eq 0 ]
