#!/usr/bin/env bash
# Copies the binaries the GPU run needs into build-gpu/ (small enough to carry to the GPU
# machine, which has CUDA but none of this machine's build tree).
set -eu
rm -rf build-gpu && mkdir -p build-gpu
cp build/ropegen build/libropegen_c.so build/tests/ropegen_numerics build/tests/ropegen_api_tests build/tests/ropegen_block_tests \
   build/tests/ropegen_compile_tests build/bench/ropegen_kernel_bench build/bench/ropegen_compile_bench build-gpu/
strip build-gpu/* 2>/dev/null || true
# The Python package runs from the working tree's python/ (pure Python) with this
# libropegen_c.so: gpu_run.sh sets ROPEGEN_LIB_DIR=build-gpu and PYTHONPATH=python.
du -sh build-gpu
