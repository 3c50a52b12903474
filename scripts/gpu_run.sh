#!/usr/bin/env bash
# Runs the GPU suites and the kernel benchmark on an NVIDIA machine, from binaries built
# here and staged by scripts/stage_gpu.sh into build-gpu/. Writes logs to $OUT (or ./gpu-out).
set -u
out=${OUT:-gpu-out}  # the device tool collects $OUT; else ./gpu-out
mkdir -p "$out"
b=build-gpu
export ROPEGEN_CACHE_DIR="$PWD/$b/cache"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv > "$out/gpu.txt" 2>&1
echo "commit $(cat "$b/commit.txt" 2>/dev/null || echo unknown)" | tee -a "$out/gpu.txt" "$out/summary.txt"
rc=0
run() { # name, command...
  local name="$1"; shift
  echo "== $name: $*" | tee -a "$out/summary.txt"
  "$@" > "$out/$name.log" 2>&1
  local r=$?
  tail -3 "$out/$name.log" | tee -a "$out/summary.txt"
  echo "   exit $r" | tee -a "$out/summary.txt"
  [ $r -eq 0 ] || rc=1
}
run gpu_numerics env ROPEGEN_TEST_RUNTIME=cuda "$b/ropegen_numerics"
run gpu_fp8 env ROPEGEN_TEST_RUNTIME=cuda "$b/ropegen_compile_tests" "--test-case=fp8 kernels: run*"
# The e2m1 instruction of sm_100a/sm_120a against the integer code: only a compute capability
# 10.0 or 12.0 GPU has it; elsewhere the suite skips (exit 77), which counts as passed here.
run gpu_e2m1 bash -c "ROPEGEN_TEST_RUNTIME=cuda $b/ropegen_compile_tests '--test-case=e2m1 kernels: run*'; r=\$?; [ \$r -eq 77 ] && exit 0; exit \$r"
run models bash -c "for f in models/*.rg; do $b/ropegen --verify --spec \$f --all --device 0 || exit 1; done"
run api "$b/ropegen_api_tests"
run gpu_block env ROPEGEN_TEST_RUNTIME=cuda "$b/ropegen_block_tests" "--test-case-exclude=*host:*,*compile:*"
run compile_nvrtc "$b/ropegen_compile_tests" "--test-case=*nvrtc*"
run cli_matrix "$b/ropegen" --verify --matrix --device 0
run cli_verify "$b/ropegen" --head-dim 128 --arch sm_90 --verify --tokens 4096
# The Rust crates' device-agnostic tests through CUDA, and the engine example compiled and
# from an sm_90 bundle (staged by stage_gpu.sh when cargo was there).
if [ -d "$b/rust" ]; then
  run rust_gpu env LD_LIBRARY_PATH="$b" bash rust/gpu_tests.sh --binaries "$b/rust"
  run engine_rs env LD_LIBRARY_PATH="$b" "$b/rust/engine-rs" --model models/llama-3.1-8b.rg --runtime cuda --device 0 \
    --layers 32 --prefill 512 --decode 16
  run engine_rs_bundle env LD_LIBRARY_PATH="$b" ROPEGEN_CACHE_DIR="$PWD/$b/cache-empty" "$b/rust/engine-rs" \
    --model models/llama-3.1-8b.rg --runtime cuda --device 0 --bundle "$b/prebuilt-sm90"
fi
# The Python package from the source tree with the staged library: its CPU and GPU tests
# (numerics against PyTorch, torch.compile, CUDA graphs, streams), then its overhead figures.
# ROPEGEN_GPU_PYTHON=0 leaves them out (scripts/gpu_python.sh runs them in a call of their own).
if [ "${ROPEGEN_GPU_PYTHON:-1}" != 0 ]; then
  if python3 -c "import pytest" 2>/dev/null; then
    pytests=(python3 -m pytest -rs -p no:cacheprovider python/tests)
  else
    pytests=(python3 -m unittest discover -v -s python/tests -p "test_*.py")
  fi
  run python env ROPEGEN_LIB_DIR="$b" PYTHONPATH=python PYTHONDONTWRITEBYTECODE=1 "${pytests[@]}"
  run python_bench env ROPEGEN_LIB_DIR="$b" PYTHONPATH=python PYTHONDONTWRITEBYTECODE=1 python3 python/bench_overhead.py
fi
# One run writes every row (the ratio groups of issues 9 and 10 included) to kernel_bench.csv,
# one line per measured shape and variant to kernel_bench_summary.csv, and its log, and
# prints its own running time; on an H100 about 1 to 2 minutes (estimated
# from the row times in docs/performance.md: about 35 s for the older rows, 22 s for the new).
run bench "$b/ropegen_kernel_bench" --csv "$out/kernel_bench.csv"
# ROPEGEN_GPU_SWEEP=0 leaves the plan sweep out (it takes a few minutes).
[ "${ROPEGEN_GPU_SWEEP:-1}" = 0 ] || run sweep "$b/ropegen_kernel_bench" --sweep
# ropegen against FlashInfer's kernels (staged only when the build had ROPEGEN_FLASHINFER_INCLUDE):
# outputs cross-checked, then stream and graph timings; a mismatch makes it exit 1.
if [ -x "$b/ropegen_peers_bench" ]; then
  run peers "$b/ropegen_peers_bench" --csv "$out/peers.csv"
fi
# The device returns a few files: the logs go back as one archive beside the summary and CSVs.
(cd "$out" && tar czf logs.tgz ./*.log && rm -f ./*.log)
exit $rc
