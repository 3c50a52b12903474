#!/usr/bin/env bash
# The Python package on an NVIDIA GPU: its GPU tests (numerics against PyTorch, compiled
# values against eager under inductor / aot_eager / reduce-overhead and PyTorch's reinplacing
# hazard beside a pure-torch operator, resolved repeat calls, CUDA graphs, streams; ropegen.vllm's
# operators under CUDA graphs, torch.compile and opcheck) and the
# host-overhead figures of python/bench_overhead.py, with the library and command staged by
# scripts/stage_gpu.sh in build-gpu/. Writes logs to $OUT (or ./gpu-out); a few minutes,
# most of it inductor compiling.
set -u
out=${OUT:-gpu-out}
mkdir -p "$out"
export ROPEGEN_LIB_DIR=build-gpu ROPEGEN_CACHE_DIR="$PWD/build-gpu/cache" PYTHONPATH=python PYTHONDONTWRITEBYTECODE=1
{ nvidia-smi --query-gpu=name,memory.total --format=csv
  python3 -c "import sys, torch; print('PyTorch', torch.__version__, 'CUDA', torch.version.cuda, 'Python', sys.version.split()[0])"
  lscpu | grep -E "Model name|^CPU\(s\)"; } > "$out/gpu.txt" 2>&1
rc=0
for i in 1 2; do
  python3 python/bench_overhead.py --calls 3000 > "$out/bench_overhead_$i.txt" 2>&1 || rc=1
done
python3 -m pytest -rsx -v -p no:cacheprovider python/tests/test_gpu.py python/tests/test_vllm.py > "$out/python_gpu.log" 2>&1 || rc=1
tail -25 "$out/python_gpu.log"
cat "$out/gpu.txt" "$out"/bench_overhead_*.txt
exit $rc
