#!/usr/bin/env bash
# End-to-end checks of the ropegen command: exit codes and messages.
# Usage: test_cli.sh PATH_TO_ROPEGEN
set -u
bin="$1"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
. "$(dirname "$0")/expect.sh"  # fails, pass, expect

# expect_json NAME WANT_RC JQ_LIKE_NEEDLE -- ARGS...: stdout alone (stderr dropped) holds the needle.
expect_stdout() {
  local name="$1" want="$2" needle="$3"
  shift 4
  local out rc
  out=$("$bin" "$@" 2>/dev/null)
  rc=$?
  if [ "$rc" -ne "$want" ]; then
    echo "FAIL $name: exit $rc, want $want"; echo "$out" | head -20; fails=$((fails + 1)); return
  fi
  if ! grep -qF -- "$needle" <<<"$out"; then
    echo "FAIL $name: stdout lacks '$needle'"; echo "$out" | head -20; fails=$((fails + 1)); return
  fi
  pass=$((pass + 1))
}

# expect_not NAME NEEDLE -- ARGS...: the output (stdout and stderr) lacks the needle.
expect_not() {
  local name="$1" needle="$2"
  shift 3
  local out
  out=$("$bin" "$@" 2>&1)
  if grep -qF -- "$needle" <<<"$out"; then
    echo "FAIL $name: output has '$needle'"; echo "$out" | head -20; fails=$((fails + 1)); return
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
expect "--all verifies every kernel of a file" 0 "op=rope head_dim=64" -- --spec "$work/two.rg" --all --arch host --verify
expect "--all with --kernel is a usage error" 2 "--all runs every kernel of the file, and --kernel picks one" -- --spec "$work/two.rg" --all --kernel a --emit
expect "--all needs --spec" 2 "--all requires --spec" -- --all --head-dim 64 --emit
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
# Spec flags and spec text after the subcommand, as the main command takes them.
expect "bundle with spec flags after it" 0 "bundle   $work/b4: 1 code object and SHA256SUMS" -- bundle --arch host --head-dim 64 --q-heads 4 --kv-heads 2 -o "$work/b4"
ROPEGEN_CACHE_PATH="$work/b4" ROPEGEN_NO_COMPILE=1 expect "bundle from flags serves that spec" 0 "cache    hit (bundle)" -- --head-dim 64 --q-heads 4 --kv-heads 2 --arch host
ROPEGEN_CACHE_PATH="$work/b4" ROPEGEN_NO_COMPILE=1 expect "bundle from flags holds only that spec" 1 "ROPEGEN_NO_COMPILE" -- --head-dim 128 --q-heads 4 --kv-heads 2 --arch host
expect "bundle with spec text after it" 0 "1 code object" -- bundle --arch host "head_dim=32 dtype=f16" -o "$work/b5"
ROPEGEN_CACHE_PATH="$work/b5" ROPEGEN_NO_COMPILE=1 expect "bundle from text serves that spec" 0 "cache    hit (bundle)" -- --head-dim 32 --dtype f16 --arch host
expect "bundle flag before and after" 2 "--head-dim is given both before and after 'bundle'" -- --head-dim 64 bundle --arch host --head-dim 32 -o "$work/b6"
expect "bundle spec text before and after" 2 "spec text is given both before and after 'bundle'" -- head_dim=64 bundle --arch host head_dim=32 -o "$work/b6"
expect "bundle with a bare word" 2 "bundle takes no argument 'llama'" -- bundle --arch host llama -o "$work/b6"
expect "bundle with a bad flag value" 1 "head_dim" -- bundle --arch host --head-dim 63 -o "$work/b6"
# The plan shown is the plan built, in text, --json and --emit (ROPEGEN_PLAN overrides it).
ROPEGEN_PLAN=2x4 expect "plan override in text" 0 "tokens/block=2 head-groups=4" -- --head-dim 128 --arch sm_90
ROPEGEN_PLAN=2x4 expect "plan override in --json" 0 '"head_groups": 4' -- --head-dim 128 --arch sm_90 --json
ROPEGEN_PLAN=2x4 expect "plan override in --emit" 0 "tokens/block=2 head-groups=4" -- --head-dim 128 --arch sm_90 --emit
# span = all_heads under other plans: 1x1 puts 64 tasks in a group (rows read again after the
# token's reduction), 1x8 eight (the most a group keeps in registers), 2x16 two tokens a block.
allh="head_dim=128 rotary_dim=64 q_heads=48 kv_heads=8 dtype=bf16 cache=paged(block=16) qk_norm=rms(eps=1e-6,span=all_heads)"
for p in 1x1 1x8 2x16; do
  ROPEGEN_PLAN=$p expect "all_heads norm under plan $p" 0 "result   PASS" -- --arch host --verify --tokens 5 "$allh"
done
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
expect "list keys" 0 "| cos_sin | table \\| table(per_head = true) \\| compute" -- --list-keys

# Issue 12, item 1: --device asks for a GPU; one that is not there is an error naming what was found.
if ! [ -e /dev/nvidia0 ] && ! [ -e /dev/kfd ]; then
  expect "missing --device is an error" 1 "no GPU 0 found (cuda: " -- --verify --matrix --device 0
  expect "missing --device names hip too" 1 "; hip: " -- --head-dim 64 --device 0 --emit
fi
# Item 5: --json errors are one object on stdout, with a location where known and no -1.
expect_stdout "json spec error" 1 '"kind": "spec"' -- --spec "$work/bad.rg" --json
expect_stdout "json error location" 1 '"line": 3' -- --spec "$work/bad.rg" --json
expect_stdout "json error fault" 1 '"fault": "user"' -- --head-dim 127 --json
expect_stdout "json usage error" 2 '"kind": "usage"' -- --frobnicate --json
expect_stdout "json target error without location" 1 '"location": null' -- --arch gfx1300 --json
expect_not "json resources have no -1" ': -1' -- --head-dim 64 --arch host --json
expect_not "json AMD resources have no -1" ': -1' -- --head-dim 128 --arch gfx1100 --json
expect_not "json AMD resources have no registers" '"registers"' -- --head-dim 128 --arch gfx1100 --json
if "$bin" --list-targets | grep -q "^sm_90 .* nvrtc"; then
  expect_not "json NVIDIA resources have no -1" ': -1' -- --head-dim 128 --arch sm_90 --json
  expect_not "json NVIDIA resources have no VGPRs" '"vgprs"' -- --head-dim 128 --arch sm_90 --json
fi
# Item 6: exit codes, the same for every bad value, and listed in --help.
expect "bad --tokens value is exit 1" 1 "not in range" -- --verify --tokens 99999
expect "bad --head-dim value is exit 1" 1 "expected an integer for head_dim" -- --head-dim abc
expect "help lists exit codes" 0 "  3  --verify found results outside the tolerance" -- --help
expect "help lists usage exit code" 0 "  2  wrong command line" -- --help
# Item 7: flags that cannot act are errors; --emit -o writes the source.
expect "emit -o writes the source" 0 "wrote    $work/k.hip" -- --head-dim 64 --arch host --emit -o "$work/k.hip"
grep -q "RG_KERNEL" "$work/k.hip" && pass=$((pass + 1)) || { echo "FAIL --emit -o wrote no source"; fails=$((fails + 1)); }
expect "emit with disasm" 2 "--emit does not compile" -- --head-dim 64 --emit --disasm
expect "emit with verify" 2 "--emit does not compile" -- --head-dim 64 --emit --verify
expect "tokens without verify" 2 "--tokens requires --verify" -- --head-dim 64 --tokens 5
expect "seed without verify" 2 "--seed requires --verify" -- --head-dim 64 --seed 5
expect "list-targets with spec flags" 2 "--list-targets takes no spec" -- --list-targets --head-dim 64
expect "empty -o" 2 "-o needs a file name" -- --head-dim 64 -o ""
expect "matrix without verify" 2 "--matrix requires --verify" -- --matrix
# Item 9: a mistyped command is an unknown command with a suggestion, not spec text.
expect "mistyped bundle" 2 "unknown command 'bundel'; did you mean 'bundle'?" -- bundel
expect "version as a command" 2 "did you mean '--version'?" -- version
# One version: --version and the man page say the same.
ver=$("$bin" --version)
if [[ "$ver" =~ ^ropegen\ [0-9]+\.[0-9]+\.[0-9]+$ ]] && "$bin" --generate-man | head -1 | grep -qF "\"$ver\""; then
  pass=$((pass + 1))
else
  echo "FAIL version: '$ver' is not 'ropegen X.Y.Z' or not the man page's"; fails=$((fails + 1))
fi
expect "list-targets as a command" 2 "did you mean '--list-targets'?" -- list-targets
# Item 10: --list-targets says which compiler each target would use here.
expect "list-targets names the compiler" 0 "host-cxx      yes" -- --list-targets
expect_stdout "list-targets json availability" 0 '"available": true' -- --list-targets --json
# Every capability is in the JSON, pdl included (sm_90 has it, gfx1100 not).
if command -v python3 >/dev/null; then
  if "$bin" --list-targets --json | python3 -c '
import json, sys
rows = {r["arch"]: r["caps"] for r in json.load(sys.stdin)}
assert rows["sm_90"]["pdl"] is True and rows["gfx1100"]["pdl"] is False, rows["sm_90"]
assert set(rows["sm_90"]) == {"fp8_ocp", "fp8_fnuz", "hw_f16", "hw_bf16", "hw_fp8", "pdl", "hw_e2m1", "rcp_approx"}, sorted(rows["sm_90"])
assert [a for a, c in rows.items() if c["hw_e2m1"]] == ["sm_100a", "sm_120a"], rows
assert all(c["rcp_approx"] == a.startswith("sm_") for a, c in rows.items()), rows
'; then pass=$((pass + 1)); else echo "FAIL list-targets json caps"; fails=$((fails + 1)); fi
else
  expect_stdout "list-targets json pdl" 0 '"pdl": true' -- --list-targets --json
fi
# Item 12: flags override a spec file; a changed op drops the keys it does not use, with a note.
cat >"$work/models.rg" <<'RG'
kernel m { head_dim = 128 q_heads = 8 kv_heads = 8 cache = paged(block = 32, order = hnd) }
RG
expect "op override drops unused keys" 0 "does not use cache from $work/models.rg; dropped" -- --spec "$work/models.rg" --op rope --arch host --emit
expect "op override result" 0 "op=rope head_dim=128" -- --spec "$work/models.rg" --op rope --arch host --emit
expect "flag equal to the default is fine" 0 "op=kv_append" -- --op kv_append --style neox --arch host --emit
expect "flag the op ignores still an error" 1 "key 'style' has no effect for op = kv_append" -- --op kv_append --style gptj --arch host --emit
# Item 13: a flag's value is one value.
expect "flag value with a second key" 1 "expected one value for 'head_dim', found '64 dtype=f32'" -- --head-dim "64 dtype=f32" --emit
expect "hex number" 1 "'0x80' is not a number" -- --head-dim 0x80 --emit
# Item 14: cache subcommands with their own help; --dir must exist; list has a header.
expect "cache subcommand help" 0 "cache prune [OPTIONS]" -- cache prune --help
expect "cache subcommand help names its options" 0 "--max-bytes" -- cache prune --help
expect "cache needs an action" 2 "cache needs a command: list, stats, verify, prune, clear" -- cache
expect "mistyped cache action" 2 "unknown cache command 'lsit'; did you mean 'list'?" -- cache lsit
expect "unknown flag of a cache action" 2 "cache list takes no argument '--bogus'" -- cache list --bogus
expect "cache --dir missing" 1 "cache directory '$work/nope' does not exist" -- cache list --dir "$work/nope"
"$bin" --head-dim 128 --arch host >/dev/null 2>&1
expect "cache list header" 0 "target     backend            bytes  last used" -- cache list
expect "cache list last used" 0 "host       host-cxx" -- cache list
# Item 8: environment values that cannot be used are one warning naming the variable.
ROPEGEN_CACHE_MAX_BYTES=1G expect "size with a suffix" 0 "cap      1073741824" -- cache stats
ROPEGEN_CACHE_MAX_BYTES=abc expect "bad size warns" 0 "ropegen: warning: ROPEGEN_CACHE_MAX_BYTES=abc: not a size" -- --head-dim 64 --arch host
ROPEGEN_PLAN=4by8 expect "bad plan warns" 0 "ropegen: warning: ROPEGEN_PLAN=4by8: bad plan '4by8'" -- --head-dim 64 --arch host --emit
n=$(ROPEGEN_PLAN=4by8 "$bin" --head-dim 64 --arch host --verify 2>&1 | grep -c "warning: ROPEGEN_PLAN")
[ "$n" -eq 1 ] && pass=$((pass + 1)) || { echo "FAIL ROPEGEN_PLAN warned $n times"; fails=$((fails + 1)); }
expect "prune --max-bytes with a suffix" 0 "(cap 1048576 bytes)" -- cache prune --max-bytes 1M
expect "prune --max-bytes bad value" 1 "'lots' is not a size" -- cache prune --max-bytes lots
# Item 16: --disasm needs a disassembler; a missing one is the only output.
if ! command -v cuobjdump >/dev/null && ! command -v nvdisasm >/dev/null && ! [ -x /usr/local/cuda/bin/cuobjdump ] &&
   ! [ -x /usr/local/cuda/bin/nvdisasm ] && "$bin" --list-targets | grep -q "^sm_90 .* nvrtc"; then
  expect "disasm without a tool" 1 "--disasm needs nvdisasm or cuobjdump" -- --head-dim 128 --arch sm_90 --disasm
  expect_not "disasm error comes first" "kernel   cli" -- --head-dim 128 --arch sm_90 --disasm
  mkdir -p "$work/bin"
  printf '#!/bin/sh\necho "fake nvdisasm of $1"\n' >"$work/bin/nvdisasm"
  chmod +x "$work/bin/nvdisasm"
  PATH="$work/bin:$PATH" expect "disasm with nvdisasm" 0 "fake nvdisasm of" -- --head-dim 128 --arch sm_90 --disasm
fi
# Item 18: completion scripts and the man page come from the CLI definition.
"$bin" --generate-completion bash >"$work/ropegen.bash" && bash -n "$work/ropegen.bash" &&
  grep -q -- "--head-dim" "$work/ropegen.bash" && grep -q "gfx1100" "$work/ropegen.bash" &&
  pass=$((pass + 1)) || { echo "FAIL bash completion"; fails=$((fails + 1)); }
(source "$work/ropegen.bash"; COMP_WORDS=(ropegen cache pr); COMP_CWORD=2; _ropegen; [ "${COMPREPLY[*]}" = "prune" ]) &&
  pass=$((pass + 1)) || { echo "FAIL bash completion of 'cache pr'"; fails=$((fails + 1)); }
(source "$work/ropegen.bash"; COMP_WORDS=(ropegen --dtype b); COMP_CWORD=2; _ropegen; [ "${COMPREPLY[*]}" = "bf16" ]) &&
  pass=$((pass + 1)) || { echo "FAIL bash completion of '--dtype b'"; fails=$((fails + 1)); }
(source "$work/ropegen.bash"; COMP_WORDS=(ropegen --verify --tok); COMP_CWORD=2; _ropegen; [ "${COMPREPLY[*]}" = "--tokens" ]) &&
  pass=$((pass + 1)) || { echo "FAIL bash completion after a flag without a value"; fails=$((fails + 1)); }
"$bin" --generate-completion zsh >"$work/_ropegen" && grep -q "^#compdef ropegen" "$work/_ropegen" &&
  grep -qF "'--verify[run on the target with random inputs against the reference]' \\" "$work/_ropegen" &&
  grep -qF "'--dtype[element type of q, k, v and the cache]:value:(f32 f16 bf16)'" "$work/_ropegen" &&
  { ! command -v zsh >/dev/null || zsh -n "$work/_ropegen"; } &&
  pass=$((pass + 1)) || { echo "FAIL zsh completion"; fails=$((fails + 1)); }
expect "man page" 0 ".TH ROPEGEN 1" -- --generate-man
expect "man page options" 0 '\-\-head\-dim' -- --generate-man
expect "generate-completion is hidden" 0 "Options:" -- --help
expect_not "generate-completion not in help" "generate-completion" -- --help

# Issue 26. Item 7: a cache directory that is a file fails every cache command, naming it.
printf 'not a directory' >"$work/cache-file"
for action in list stats verify prune clear; do
  ROPEGEN_CACHE_DIR="$work/cache-file" expect "cache $action on a file from the environment" 1 \
    "cache directory '$work/cache-file' (ROPEGEN_CACHE_DIR) is not a directory" -- cache "$action"
done
expect "cache --dir on a file" 1 "cache directory '$work/cache-file' is not a directory" -- cache list --dir "$work/cache-file"
[ "$(cat "$work/cache-file")" = "not a directory" ] && pass=$((pass + 1)) || { echo "FAIL cache-file changed"; fails=$((fails + 1)); }
# Item 8: numbers in flags are decimal, in range, never wrapped; names are never empty.
expect "--device -1" 1 "--device: '-1' is not a decimal number from 0 to 2147483647" -- --head-dim 64 --device -1 --emit
expect "--device -5" 1 "--device: '-5' is not a decimal number" -- --head-dim 64 --device -5 --verify
expect "--device 0x10" 1 "--device: '0x10' is not a decimal number" -- --head-dim 64 --device 0x10 --emit
expect "--seed -1" 1 "--seed: '-1' is not a decimal number from 0 to 18446744073709551615" -- --verify --seed -1
expect "--tokens 0x10" 1 "--tokens: '0x10' is not a decimal number from 0 to 16384" -- --verify --tokens 0x10
expect "--spec empty" 1 "--spec: the value is empty; expected a file" -- --spec "" --arch host --emit
expect "--kernel empty" 1 "--kernel: the value is empty; expected a kernel name" -- --spec "$work/two.rg" --kernel "" --emit
expect "--compiler empty" 1 "--compiler: the value is empty; expected a backend name" -- --head-dim 64 --arch host --compiler ""
expect "bundle --compiler empty" 1 "--compiler: the value is empty" -- bundle --arch host --compiler "" -o "$work/b3"
expect "bundle -j -1" 1 "--jobs: '-1' is not a decimal number" -- bundle --arch host -j -1 -o "$work/b3"
expect "cache --dir empty" 1 "--dir: the value is empty; expected a directory" -- cache list --dir ""
expect "--seed decimal" 0 "seed 18446744073709551615" -- --head-dim 64 --arch host --verify --tokens 2 --seed 18446744073709551615
ROPEGEN_PLAN=99999999999x8 expect "plan that overflows" 0 \
  "ropegen: warning: ROPEGEN_PLAN=99999999999x8: bad plan '99999999999x8': expected TOKENSxGROUPS, each 1 to 1024" -- --head-dim 64 --arch host --emit
ROPEGEN_PLAN=99999999999x8 expect_not "plan that overflows is not wrapped" "1215752191" -- --head-dim 64 --arch host --emit
# Item 9: control bytes of a spec file are escaped; the excerpt and caret stay.
printf 'kernel k {\n  head_dim = 128 \0 q_heads = 4\n}\n' >"$work/nul.rg"
expect "NUL in a spec file" 1 "$work/nul.rg:2:18: error: expected a key such as 'head_dim', found invalid character '\\x00'" -- --spec "$work/nul.rg" --emit
expect "NUL excerpt" 1 "    head_dim = 128 \\x00 q_heads = 4" -- --spec "$work/nul.rg" --emit
expect "NUL caret" 1 "                   ^~~~" -- --spec "$work/nul.rg" --emit
printf 'kernel k {\n  dtype = bf16\033[2J\033]0;owned\007\n}\n' >"$work/esc.rg"
expect "ESC in a spec file" 1 "found invalid character '\\x1b'" -- --spec "$work/esc.rg" --emit
expect_not "ESC is not echoed raw" $'\033' -- --spec "$work/esc.rg" --emit
ROPEGEN_PLAN=$'4\033[2Jx8' expect "ESC in an environment warning" 0 "ROPEGEN_PLAN=4\\x1b[2Jx8: bad plan" -- --head-dim 64 --arch host --emit
# Item 3: a size cap below one entry keeps the entry just written (its path exists), with a warning.
out=$(ROPEGEN_CACHE_DIR="$work/tiny-cache" ROPEGEN_CACHE_MAX_BYTES=1K "$bin" --head-dim 64 --arch host 2>&1); rc=$?
path=$(sed -n 's/^code .*(elf-so) //p' <<<"$out")
[ "$rc" -eq 0 ] && [ -n "$path" ] && [ -f "$path" ] &&
  grep -qF "warning: the cache size cap (ROPEGEN_CACHE_MAX_BYTES) of 1024 bytes is smaller than one entry" <<<"$out" &&
  pass=$((pass + 1)) || { echo "FAIL cap below one entry: exit $rc, path '$path'"; echo "$out" | tail -5; fails=$((fails + 1)); }
# Item 11: an invalid entry with ROPEGEN_NO_COMPILE=1 is named as invalid, not as missing.
: >"$path"
ROPEGEN_CACHE_DIR="$work/tiny-cache" ROPEGEN_NO_COMPILE=1 expect "no-compile with a zero-size entry" 1 \
  "exists but is invalid: cache entry $path is unusable (not a ropegen cache entry" -- --head-dim 64 --arch host

echo "$pass passed, $fails failed"
[ "$fails" -eq 0 ]
