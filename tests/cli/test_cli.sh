#!/usr/bin/env bash
# End-to-end checks of the ropegen command: exit codes and messages.
# Usage: test_cli.sh PATH_TO_ROPEGEN
set -u
bin="$1"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fails=0
pass=0

# expect NAME WANT_RC NEEDLE -- ARGS...
expect() {
  local name="$1" want="$2" needle="$3"
  shift 4
  local out rc
  out=$("$bin" "$@" 2>&1)
  rc=$?
  if [ "$rc" -ne "$want" ]; then
    echo "FAIL $name: exit $rc, want $want"; echo "$out" | head -20; fails=$((fails + 1)); return
  fi
  if ! grep -qF -- "$needle" <<<"$out"; then
    echo "FAIL $name: output lacks '$needle'"; echo "$out" | head -20; fails=$((fails + 1)); return
  fi
  pass=$((pass + 1))
}

cat >"$work/bad.rg" <<'RG'
kernel llama {
  head_dim = 128
  dtype    = bf17
}
RG
cat >"$work/two.rg" <<'RG'
kernel a { head_dim = 64 q_heads = 4 kv_heads = 2 }
kernel b { op = rope head_dim = 64 q_heads = 4 kv_heads = 4 style = gptj dtype = f16 }
RG

expect "spec file error on line 3" 1 "$work/bad.rg:3:14: error: invalid value 'bf17' for dtype" -- --spec "$work/bad.rg"
expect "caret under the value" 1 "             ^~~~" -- --spec "$work/bad.rg"
expect "flag error names the command line" 1 "<command line>:1:10: error: head_dim = 127 must be even" -- --head-dim 127
expect "unknown target" 1 "unknown target 'gfx1300'; known targets:" -- --head-dim 128 --arch gfx1300
expect "unknown flag is a usage error" 2 "--frobnicate" -- --frobnicate
expect "wave the target cannot run" 1 "wave = 32 is not supported by target gfx90a" -- --head-dim 128 --arch gfx90a --wave 32 --emit
expect "missing kernel in file" 1 "no kernel named 'zzz'" -- --spec "$work/two.rg" --kernel zzz
expect "missing spec file" 1 "cannot open spec file" -- --spec "$work/nope.rg"
expect "list targets" 0 "gfx1100" -- --list-targets
expect "emit gfx1100 is wave32" 0 "// target: gfx1100 (RDNA3), wave 32" -- --head-dim 128 --arch gfx1100 --emit
expect "emit gfx90a is wave64" 0 "// target: gfx90a (CDNA2), wave 64" -- --head-dim 128 --arch gfx90a --emit
expect "emit sm_90 uses the NVIDIA prelude" 0 "prelude_nvidia.h" -- --head-dim 128 --arch sm_90 --emit
expect "one-line spec argument" 0 "op=rope head_dim=64" -- "op=rope head_dim=64" --arch gfx1030 --emit
expect "json emit" 0 '"wave": 64' -- --head-dim 128 --arch gfx942 --emit --json
expect "verify on host" 0 "result   PASS" -- --head-dim 128 --arch host --verify
expect "verify json" 0 '"passed": true' -- --head-dim 64 --dtype f16 --style gptj --arch host --verify --json --tokens 5
expect "verify every kernel of a file" 0 "op=rope head_dim=64" -- --spec "$work/two.rg" --arch host --verify
expect "flags override the file" 0 "dtype=f32" -- --spec "$work/two.rg" --kernel a --dtype f32 --arch host --emit

# The main job, the cache and bundles, in a private cache directory.
export ROPEGEN_CACHE_DIR="$work/cache"
expect "main job compiles gfx1100 (miss)" 0 "cache    miss: compiled" -- --head-dim 128 --arch gfx1100
expect "main job reports resources" 0 "wave 32, " -- --head-dim 128 --arch gfx1100
expect "second run is a disk hit" 0 "cache    hit (disk)" -- --head-dim 128 --arch gfx1100
expect "fallback is explained" 0 "fell back: hiprtc: comgr does not list ISA gfx1100" -- --head-dim 128 --arch gfx1100
expect "main job json" 0 '"cache": "hit"' -- --head-dim 128 --arch gfx1100 --json
expect "write the code object" 0 "wrote    $work/k.hsaco" -- --head-dim 128 --arch gfx942 -o "$work/k.hsaco"
[ -s "$work/k.hsaco" ] && pass=$((pass + 1)) || { echo "FAIL -o wrote nothing"; fails=$((fails + 1)); }
expect "disassembly" 0 "global_load_b128" -- --head-dim 128 --arch gfx1100 --disasm
expect "forced backend that cannot serve the target" 1 "nvrtc: builds only for NVIDIA targets, not gfx1100" -- --head-dim 128 --arch gfx1100 --compiler nvrtc
expect "cache list" 0 "clang-amdgpu" -- cache list
expect "cache stats" 0 "entries  2 (0 invalid)" -- cache stats
printf 'junk' > "$work/cache/00000000deadbeef.rgco"
expect "cache verify finds a damaged entry" 1 "INVALID $work/cache/00000000deadbeef.rgco: not a ropegen cache entry" -- cache verify
expect "prune removes damaged entries first" 0 "removed 1 entries" -- cache prune
expect "cache clear" 0 "removed 2 entries" -- cache clear
ROPEGEN_NO_COMPILE=1 expect "no-compile miss names the key" 1 "ROPEGEN_NO_COMPILE is set and no cache entry exists" -- --head-dim 48 --arch host
expect "bundle for a fleet" 0 "bundle   $work/bundle: 4 code objects" -- bundle --arch gfx90a,gfx1100 --spec "$work/two.rg" -o "$work/bundle"
ROPEGEN_CACHE_PATH="$work/bundle" ROPEGEN_NO_COMPILE=1 expect "bundle serves a run without compiling" 0 "cache    hit (bundle)" -- --spec "$work/two.rg" --kernel a --arch gfx1100
[ "$(stat -c %a "$work/bundle")" = 755 ] && [ "$(stat -c %a "$work/bundle"/*.rgco | sort -u)" = 644 ] && pass=$((pass + 1)) ||
  { echo "FAIL bundle modes: $(stat -c '%a %n' "$work/bundle" "$work/bundle"/*)"; fails=$((fails + 1)); }
[ -s "$work/bundle/SHA256SUMS" ] && (cd "$work/bundle" && sha256sum -c --quiet SHA256SUMS) && pass=$((pass + 1)) ||
  { echo "FAIL bundle manifest missing or wrong"; fails=$((fails + 1)); }
# A machine without any compiler is served by the bundle: no compiler probe on a hit.
no_compilers=(env ROPEGEN_CACHE_PATH="$work/bundle" ROPEGEN_NO_COMPILE=1 ROPEGEN_CACHE_DIR="$work/empty-cache"
              ROPEGEN_HOST_CXX=/nonexistent ROPEGEN_CLANG=/nonexistent ROPEGEN_DISABLE_HIPRTC=1 ROPEGEN_CUDA_HOME=/nonexistent)
expect "bundle for the host" 0 "bundle   $work/hostbundle: 1 code object and SHA256SUMS" -- bundle --arch host --spec "$work/two.rg" --kernel b -o "$work/hostbundle"
out=$(env ROPEGEN_CACHE_PATH="$work/hostbundle" ROPEGEN_NO_COMPILE=1 ROPEGEN_CACHE_DIR="$work/empty-cache" \
      ROPEGEN_HOST_CXX=/nonexistent "$bin" --spec "$work/two.rg" --kernel b --arch host --verify 2>&1)
grep -qF "cache    hit (bundle)" <<<"$out" && grep -qF "result   PASS" <<<"$out" && pass=$((pass + 1)) ||
  { echo "FAIL host bundle without a host compiler"; echo "$out" | head; fails=$((fails + 1)); }
out=$("${no_compilers[@]}" "$bin" --spec "$work/two.rg" --kernel a --arch gfx1100 2>&1)
grep -qF "cache    hit (bundle)" <<<"$out" && pass=$((pass + 1)) ||
  { echo "FAIL gfx1100 bundle without compilers"; echo "$out" | head; fails=$((fails + 1)); }
expect "bundle that cannot be written fails" 1 "1 of 1 code objects were not written" -- --head-dim 32 bundle --arch host -o /proc/ropegen-bundle
expect "bundle with an unknown target" 1 "unknown target 'gfx9'" -- bundle --arch gfx90a,gfx9 --spec "$work/two.rg" -o "$work/b2"
# The plan shown is the plan built, in text, --json and --emit (ROPEGEN_PLAN overrides it).
ROPEGEN_PLAN=2x4 expect "plan override in text" 0 "tokens/block=2 head-groups=4" -- --head-dim 128 --arch sm_90
ROPEGEN_PLAN=2x4 expect "plan override in --json" 0 '"head_groups": 4' -- --head-dim 128 --arch sm_90 --json
ROPEGEN_PLAN=2x4 expect "plan override in --emit" 0 "tokens/block=2 head-groups=4" -- --head-dim 128 --arch sm_90 --emit
# Input that must not hang: a spec from /dev/zero, a FIFO in the cache.
out=$(timeout 60 "$bin" --spec /dev/zero --arch host 2>&1); rc=$?
[ "$rc" -eq 1 ] && grep -qF "spec file '/dev/zero' is larger than 16 MiB" <<<"$out" && pass=$((pass + 1)) ||
  { echo "FAIL --spec /dev/zero: exit $rc"; echo "$out" | head -3; fails=$((fails + 1)); }
mkdir -p "$work/fifo-cache" && chmod 700 "$work/fifo-cache" && mkfifo "$work/fifo-cache/00000000feedf00d.rgco"
out=$(ROPEGEN_CACHE_DIR="$work/fifo-cache" timeout 60 "$bin" cache verify 2>&1); rc=$?
[ "$rc" -eq 1 ] && grep -qF "00000000feedf00d.rgco: it is not a regular file" <<<"$out" && pass=$((pass + 1)) ||
  { echo "FAIL cache verify with a FIFO: exit $rc"; echo "$out" | head -3; fails=$((fails + 1)); }
printf 'partial' > "$work/fifo-cache/.tmp-dead01" && touch -d '1 hour ago' "$work/fifo-cache/.tmp-dead01"
ROPEGEN_CACHE_DIR="$work/fifo-cache" expect "stats count stale temporary files" 0 "stale    1 temporary files (7 bytes" -- cache stats
ROPEGEN_CACHE_DIR="$work/fifo-cache" expect "prune removes them" 0 "removed 2 entries" -- cache prune
expect "list keys" 0 "| cos_sin | table \\| compute" -- --list-keys

echo "$pass passed, $fails failed"
[ "$fails" -eq 0 ]
