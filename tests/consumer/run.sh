#!/usr/bin/env bash
# Installs ropegen from BUILD_DIR into a temporary prefix, then builds and runs the consumer
# project with find_package (mode "package") or add_subdirectory (mode "subdirectory").
set -euo pipefail
mode="$1" src="$2" build="$3"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [ "$mode" = package ]; then
  cmake --install "$build" --prefix "$work/prefix" > /dev/null
  cmake -S "$src/tests/consumer" -B "$work/b" -DCMAKE_PREFIX_PATH="$work/prefix" > /dev/null
else
  cmake -S "$src/tests/consumer" -B "$work/b" -DUSE_SUBDIRECTORY=ON -DROPEGEN_SOURCE_DIR="$src" > /dev/null
fi
cmake --build "$work/b" -j2 > "$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
"$work/b/consumer"
LD_LIBRARY_PATH="$work/prefix/lib:$work/b/ropegen:${LD_LIBRARY_PATH:-}" "$work/b/consumer_c"
