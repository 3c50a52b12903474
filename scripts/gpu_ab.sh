#!/usr/bin/env bash
# One device call that times a change: the kernel benchmark of an older build and of this
# one, the same groups back to back on the same GPU (ratios of one run, as docs/performance.md
# reports them), then the peers benchmark against FlashInfer where it is staged, the GPU
# verification matrix, and `ropegen tune` of the named model kernels on the device. Run from
# the repository root on the GPU machine after scripts/stage_gpu.sh; results go to $OUT (or
# ./gpu-out), each with the commit that produced it.
#
#   bash scripts/gpu_ab.sh [GROUPS] [MODEL:KERNEL ...]
#     GROUPS         the benchmark's --only list (default main,quant,indexer,mla,norms)
#     MODEL:KERNEL   a kernel of models/MODEL.rg to tune (default deepseek-v3.2:indexer
#                    deepseek-v3.2:mla)
#
# The older build's benchmark is build-gpu/old_kernel_bench (its commit in
# build-gpu/old_commit.txt): stage_gpu.sh copies it from build-old-bench/ where that commit's
# ropegen_kernel_bench and a commit.txt were put (built in a worktree of that commit). Without
# it the A half is left out.
set -u
out=${OUT:-gpu-out}
mkdir -p "$out"
b=build-gpu
groups=${1:-main,quant,indexer,mla,norms}
arch=${ROPEGEN_AB_ARCH:-sm_90}  # the GPU's target (H100, H200: sm_90)
shift $(($# > 0 ? 1 : 0))
tunes=("$@")
[ ${#tunes[@]} -gt 0 ] || tunes=(deepseek-v3.2:indexer deepseek-v3.2:mla)
export ROPEGEN_CACHE_DIR="$PWD/$b/cache"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv > "$out/gpu.txt" 2>&1
echo "commit $(cat "$b/commit.txt" 2>/dev/null || echo unknown)" >> "$out/gpu.txt"
echo "old commit $(cat "$b/old_commit.txt" 2>/dev/null || echo none)" >> "$out/gpu.txt"
rc=0
step() {  # name, command...: its log in $OUT, its last lines and exit status in summary.txt
  local name="$1"; shift
  echo "== $name: $*" >> "$out/summary.txt"
  local t0=$SECONDS
  "$@" > "$out/$name.log" 2>&1
  local r=$?
  tail -3 "$out/$name.log" >> "$out/summary.txt"
  echo "   exit $r, $((SECONDS - t0)) s" >> "$out/summary.txt"
  [ $r -eq 0 ] || rc=1
}
if [ -x "$b/old_kernel_bench" ]; then
  step bench_old "$b/old_kernel_bench" --only "$groups" --csv "$out/kernel_bench_old.csv"
fi
step bench_new "$b/ropegen_kernel_bench" --only "$groups" --csv "$out/kernel_bench_new.csv"
if [ -x "$b/ropegen_peers_bench" ]; then
  step peers "$b/ropegen_peers_bench" --csv "$out/peers.csv"
fi
step matrix "$b/ropegen" --verify --matrix --device 0
for mk in "${tunes[@]}"; do
  step "tune_${mk//[:.]/_}" "$b/ropegen" tune --spec "models/${mk%%:*}.rg" --kernel "${mk#*:}" --arch "$arch" --device 0 \
    --no-store --buckets 1,32,256,8192 --json
done
cat "$out/summary.txt"
exit $rc
