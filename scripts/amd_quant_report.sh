#!/usr/bin/env bash
# Static AMD report for the quantized caches (issue 21): compiles each format for gfx942,
# gfx1100 and gfx1201 with every AMD backend that can build the target here (clang-amdgpu,
# hipRTC), reads VGPRs, AGPRs, SGPRs, scratch and wave size from the code object's notes
# (llvm-readelf --notes), the waves per SIMD the VGPR count allows, and counts the ISA's
# conversion instructions (ropegen --disasm). Prints a markdown table on stdout.
#
#   scripts/amd_quant_report.sh build/ropegen            # READELF=llvm-readelf-19 by default
#
# No AMD GPU is needed or used: nothing here runs a kernel.
#
# Waves per SIMD: the rule of tests/compile/test_compile.cpp (waves_per_simd), which judges;
# this copy only prints. CDNA (wave64): 512 VGPRs per lane, granule 8, at most 8 waves;
# RDNA wave32: 1536, granule 16, at most 16. AGPRs must stay 0 for the CDNA count to hold.
# (clang 19's own remark uses granule 24 on gfx11/gfx12 wave32: below full occupancy it may
# say one wave fewer; full occupancy, <= 96 VGPRs, is the same under both.)
set -euo pipefail

ROPEGEN=${1:?usage: $0 path/to/ropegen}
READELF=${READELF:-llvm-readelf-19}
command -v "$READELF" >/dev/null || { echo "error: $READELF not found (set READELF)" >&2; exit 1; }
[ -x "$ROPEGEN" ] || { echo "error: $ROPEGEN is not executable" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export ROPEGEN_CACHE_DIR="$work/cache"  # fresh compiles; the user's cache is not touched
mkdir -p "$ROPEGEN_CACHE_DIR"

MLA="op=mla_rope_append head_dim=192 rotary_dim=64 rotary_offset=128 style=gptj q_heads=128 kv_lora_rank=512 cache=paged(block=64)"
MLA_FNUZ="cache_record=record(parts=[kv_c(format=fp8_e4m3fnuz,group=128,qmax=224,floor=1.1754943508222875e-38,quantize=divide),scales(of=kv_c),k_pe(format=auto)],size=656)"
MLA_PE_SCALED="cache_record=record(parts=[kv_c(format=fp8_e4m3,group=128,qmax=448,floor=1.1754943508222875e-38,quantize=divide),scales(of=kv_c),k_pe(format=fp8_e4m3,scale=k_scale)],size=592)"
MLA_PE_352="cache_record=record(parts=[kv_c(format=nvfp4),k_pe(format=fp8_e4m3,scale=none),scales(of=kv_c)],size=352)"
# label | spec (bf16, head_dim 128, rope_kv_append unless it says otherwise) | targets
FORMATS=(
  "fp8_e4m3 per_tensor|cache_dtype=fp8_e4m3|gfx942 gfx1100 gfx1201"
  "fp8_e4m3 per_token_head|cache_dtype=fp8_e4m3 scales=per_token_head|gfx942 gfx1100 gfx1201"
  "fp8_e4m3fnuz per_token_head|cache_dtype=fp8_e4m3fnuz scales=per_token_head|gfx942 gfx1100 gfx1201"
  "int8 per_token_head|cache_dtype=int8 scales=per_token_head|gfx942 gfx1100 gfx1201"
  "int4 per_token_head|cache_dtype=int4 scales=per_token_head|gfx942 gfx1100 gfx1201"
  "nvfp4|cache_dtype=nvfp4|gfx942 gfx1100 gfx1201"
  "mxfp4|cache_dtype=mxfp4|gfx942 gfx1100 gfx1201"
  "q fp8_e4m3 q_scales=per_token_head|q_dtype=fp8_e4m3 q_scales=per_token_head outputs=separate|gfx942 gfx1100 gfx1201"
  "MLA fp8_ds_mla|$MLA cache_record=fp8_ds_mla|gfx942 gfx1100 gfx1201"
  "MLA fp8_ds_mla as e4m3fnuz, qmax 224|$MLA $MLA_FNUZ|gfx942"
  "MLA fp8 kv_c, e4m3 k_pe / k_scale|$MLA $MLA_PE_SCALED|gfx942 gfx1100 gfx1201"
  "MLA nvfp4 kv_c, e4m3 k_pe unscaled (352 B)|$MLA $MLA_PE_352|gfx942 gfx1100 gfx1201"
  "MLA nvfp4_ds_mla|$MLA cache_record=nvfp4_ds_mla|gfx942 gfx1100 gfx1201"
  "nvfp4 head_dim 64|head_dim=64 cache_dtype=nvfp4|gfx942 gfx1100 gfx1201"
  "nvfp4 head_dim 256|head_dim=256 cache_dtype=nvfp4|gfx942 gfx1100 gfx1201"
  "int4 head_dim 64|head_dim=64 cache_dtype=int4 scales=per_token_head|gfx942 gfx1100 gfx1201"
  "int4 head_dim 256|head_dim=256 cache_dtype=int4 scales=per_token_head|gfx942 gfx1100 gfx1201"
)
BACKENDS=(clang-amdgpu hiprtc)

# The first kernel's value of a metadata key (one kernel per code object).
note() { sed -n -E "s/^[[:space:]-]*\\.$1:[[:space:]]*([0-9]+).*/\\1/p" "$2" | head -1; }

# Conversion and packing instructions of the ISA, counted by mnemonic (encoding suffixes
# _e32/_e64/_sdwa/_dpp dropped), in two groups: conversions (v_cvt_*) and the rest
# (byte/bit packing, range: v_perm, v_bfe, v_bfi, v_lshl_or, v_and_or, v_med3, v_ldexp,
# v_frexp, v_pack, v_sat_pk). "name n" pairs, largest first.
count_ops() {  # $1 disassembly, $2 regex
  awk '{print $1}' "$1" | sed -E 's/_(e32|e64|sdwa|dpp)$//' | { grep -E "$2" || true; } | sort | uniq -c |
    sort -k1,1nr -k2 | awk '{printf "%s%s %s", (NR > 1 ? ", " : ""), $2, $1}'
}

clang_version=$( (clang-19 --version 2>/dev/null || true) | head -1)
echo "ropegen: $ROPEGEN ($(cd "$(dirname "$ROPEGEN")" && git rev-parse --short HEAD 2>/dev/null || echo '?')); clang: ${clang_version:-none}; readelf: $READELF"
echo
echo "| format | target | compiler | wave | VGPRs | AGPRs | SGPRs | scratch B | waves/SIMD (VGPRs) | v_cvt_* | packing, range |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
failed=0
notes=()
declare -A skipped=()
for entry in "${FORMATS[@]}"; do
  IFS='|' read -r label spec targets <<<"$entry"
  for t in $targets; do
    for b in "${BACKENDS[@]}"; do
      obj="$work/k.hsaco"
      rm -f "$obj"
      [ -z "${skipped["$t $b"]:-}" ] || continue
      if ! "$ROPEGEN" "$spec" --arch "$t" --compiler "$b" -o "$obj" >"$work/out" 2>&1; then
        why=$(grep -v -E '^ *target:' "$work/out" | sed -E 's/^(error: )?//; s/^ +//' | tr '\n' ' ' | sed -E 's/ +$//')
        # A spec the target refuses (no fp8 on gfx1100, FNUZ only on gfx942) is refused
        # whatever the backend: one note per format. A backend that cannot build the
        # target here: one note per target and backend, and it is not asked again. Any other
        # failure is a failed compile: noted, and the script exits 1.
        case "$why" in
          *"does not have"*) why=${why#*error: }; notes+=("$label on $t: refused by ropegen: ${why%%; targets with them*}"); break ;;
          *"no compiler can build"*|*"not available"*|*"does not support"*)
            skipped["$t $b"]=$why; notes+=("$t with $b: $why"); continue ;;
          *) notes+=("$label on $t with $b: FAILED: $why"); failed=1; continue ;;
        esac
      fi
      "$READELF" --notes "$obj" >"$work/notes"
      vgpr=$(note vgpr_count "$work/notes"); agpr=$(note agpr_count "$work/notes")
      sgpr=$(note sgpr_count "$work/notes"); scratch=$(note private_segment_fixed_size "$work/notes")
      wave=$(note wavefront_size "$work/notes")
      if [ "$wave" = 64 ]; then file=512 granule=8 cap=8; else file=1536 granule=16 cap=16; fi
      alloc=$(( (vgpr + granule - 1) / granule * granule ))
      waves=$(( file / alloc )); [ "$waves" -gt "$cap" ] && waves=$cap
      occ="$waves of $cap"; [ "$waves" = "$cap" ] && occ="$occ (full)" || occ="**$occ**"
      [ "$scratch" = 0 ] || scratch="**$scratch**"
      "$ROPEGEN" "$spec" --arch "$t" --compiler "$b" --disasm >"$work/isa" 2>/dev/null
      cvt=$(count_ops "$work/isa" '^v_cvt_')
      pack=$(count_ops "$work/isa" '^v_(perm_b32|bfe_[iu]32|bfi_b32|lshl_or_b32|and_or_b32|med3_|ldexp_|frexp_|pack_|sat_pk)')
      echo "| $label | $t | $b | $wave | $vgpr | ${agpr:--} | $sgpr | $scratch | $occ | ${cvt:--} | ${pack:--} |"
    done
  done
done
if [ "${#notes[@]}" -gt 0 ]; then
  echo
  echo "Not built:"
  echo
  printf -- '- %s\n' "${notes[@]}"
fi
exit "$failed"
