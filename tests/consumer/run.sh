#!/usr/bin/env bash
# Installs ropegen from BUILD_DIR into a temporary prefix, then builds and runs the consumer
# project with find_package (mode "package") or add_subdirectory (mode "subdirectory").
set -euo pipefail
mode="$1" src="$2" build="$3"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [ "$mode" = package ]; then
  cmake --install "$build" --prefix "$work/prefix" > /dev/null
  # Only the embedding API is installed, and each public header stands on its own.
  want="code_object.hpp error.hpp kernel_args.h options.hpp plan.hpp ropegen.h ropegen.hpp runtime.hpp spec.hpp target.hpp"
  have=$(cd "$work/prefix/include/ropegen" && ls | tr '\n' ' ' | sed 's/ $//')
  [ "$have" = "$want" ] || { echo "installed headers: '$have', expected '$want'"; exit 1; }
  for h in $want; do
    case "$h" in
      *.h) echo "#include \"ropegen/$h\"" | cc -std=c99 -Wall -Wextra -Werror -fsyntax-only -I"$work/prefix/include" -x c - ;;
      *) echo "#include \"ropegen/$h\"" | c++ -std=c++17 -Wall -Wextra -Werror -fsyntax-only -I"$work/prefix/include" -x c++ - ;;
    esac || { echo "public header $h does not compile on its own"; exit 1; }
  done
  cmake -S "$src/tests/consumer" -B "$work/b" -DCMAKE_PREFIX_PATH="$work/prefix" > /dev/null
else
  cmake -S "$src/tests/consumer" -B "$work/b" -DUSE_SUBDIRECTORY=ON -DROPEGEN_SOURCE_DIR="$src" > /dev/null
fi
cmake --build "$work/b" -j2 > "$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
"$work/b/consumer"
LD_LIBRARY_PATH="$work/prefix/lib:$work/b/ropegen:${LD_LIBRARY_PATH:-}" "$work/b/consumer_c"
