#!/usr/bin/env bash
# The Rust crates' device-agnostic tests (numerics: migration, fused, dtypes; families;
# checks) on the NVIDIA GPU, through the CUDA runtime: the same tests as on the host, with
# ROPEGEN_TEST_RUNTIME=cuda. Exits 77 (CTest: skipped) where there is no NVIDIA GPU.
# Usage: gpu_tests.sh CARGO [cargo test args...]; or, with test binaries built elsewhere
# (scripts/stage_gpu.sh), gpu_tests.sh --binaries DIR.
set -u
if ! [ -e /dev/nvidia0 ] && ! [ -e /dev/nvidiactl ]; then echo "no NVIDIA GPU (/dev/nvidia0): skipped"; exit 77; fi
export ROPEGEN_TEST_RUNTIME=cuda
tests=(migration fused dtypes families checks)
if [ "$1" = "--binaries" ]; then
  rc=0
  for t in "${tests[@]}"; do
    echo "== $t (cuda)"
    "$2/$t" --test-threads=1 || rc=1
  done
  exit $rc
fi
cargo="$1"; shift
args=()
for t in "${tests[@]}"; do args+=(--test "$t"); done
exec "$cargo" test --offline --manifest-path "$(dirname "$0")/Cargo.toml" -p ropegen "${args[@]}" "$@" -- --test-threads=1
