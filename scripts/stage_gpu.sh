#!/usr/bin/env bash
# Copies the binaries the GPU run needs into build-gpu/ (small enough to carry to the GPU
# machine, which has CUDA but none of this machine's build tree).
set -eu
rm -rf build-gpu && mkdir -p build-gpu
cp build/ropegen build/libropegen_c.so build/tests/ropegen_numerics build/tests/ropegen_api_tests build/tests/ropegen_block_tests \
   build/tests/ropegen_compile_tests build/bench/ropegen_kernel_bench build/bench/ropegen_compile_bench build-gpu/
# The peers benchmark against FlashInfer, when the build has it (ROPEGEN_FLASHINFER_INCLUDE).
if [ -x build/bench/ropegen_peers_bench ]; then cp build/bench/ropegen_peers_bench build-gpu/; fi
# An older commit's kernel benchmark for scripts/gpu_ab.sh's A/B, where one was built and kept
# in build-old-bench/ (its ropegen_kernel_bench and commit.txt).
if [ -x build-old-bench/ropegen_kernel_bench ]; then
  cp build-old-bench/ropegen_kernel_bench build-gpu/old_kernel_bench
  cp build-old-bench/commit.txt build-gpu/old_commit.txt 2>/dev/null || echo unknown > build-gpu/old_commit.txt
fi
strip build-gpu/* 2>/dev/null || true
# The commit the binaries were built from (with "-dirty" for uncommitted changes): gpu_run.sh
# writes it beside the device, driver and results, so each table names what produced it.
git describe --always --dirty --abbrev=12 > build-gpu/commit.txt 2>/dev/null || echo unknown > build-gpu/commit.txt
# The Python package runs from the working tree's python/ (pure Python) with this
# libropegen_c.so: gpu_run.sh sets ROPEGEN_LIB_DIR=build-gpu and PYTHONPATH=python.
# The Rust tests that run on any runtime, and engine-rs, linked against build/'s
# libropegen_c.so (gpu_run.sh runs them with LD_LIBRARY_PATH=build-gpu), when cargo is here.
cargo=$(command -v cargo || echo "${HOME:-/root}/.cargo/bin/cargo")
if [ -x "$cargo" ]; then
  mkdir -p build-gpu/rust
  export ROPEGEN_LIB_DIR="$PWD/build" CARGO_TARGET_DIR="$PWD/build/rust-target"
  list=$("$cargo" test --offline --quiet --no-run --message-format=json --manifest-path rust/Cargo.toml -p ropegen \
           --test migration --test fused --test dtypes --test families --test checks) || exit 1
  python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable"):
        print(m["target"]["name"], m["executable"])' <<<"$list" | while read -r name exe; do
    cp "$exe" "build-gpu/rust/$name"
  done
  CARGO_TARGET_DIR="$PWD/build/engine-rs-shared" "$cargo" build --offline --quiet \
    --manifest-path examples/engine-rs/Cargo.toml || exit 1
  cp build/engine-rs-shared/debug/engine-rs build-gpu/rust/
  strip build-gpu/rust/* 2>/dev/null || true
  # An sm_90 bundle of one model, for engine-rs --bundle on the GPU machine.
  build/ropegen bundle --arch sm_90 --spec models/llama-3.1-8b.rg -o build-gpu/prebuilt-sm90 >/dev/null
fi
du -sh build-gpu
