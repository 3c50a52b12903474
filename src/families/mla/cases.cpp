// The mla family's cases in the verification matrix: tables and deepseek_yarn, fp8 caches
// (OCP and FNUZ), every cache layout, DeepSeek-V3's head count, pdl, a kv_c width that is
// not a multiple of rotary_dim.
#include <string>

#include "families/mla/mla.hpp"
#include "verify/verify.hpp"

namespace ropegen {

void mla_matrix(std::vector<MatrixCase>& m) {
  auto add = [&](const std::string& spec, VerifyCase vc, const std::string& note) { m.push_back({spec, vc, note}); };
  auto tokens = [](long long n) {
    VerifyCase v;
    v.tokens = n;
    return v;
  };
  VerifyCase by_pos = tokens(31);
  by_pos.slots_from_positions = true;
  VerifyCase past = tokens(25);
  past.past_max_seq = true;
  VerifyCase decode = tokens(3);
  decode.parallelism = 64;
  // DeepSeek MLA: q_pe rotated in place after q_nope; kv_c || rotated k_pe rows, bf16 or fp8.
  const std::string mla = "op=mla_rope_append head_dim=192 rotary_dim=64 rotary_offset=128 ";
  add(mla + "style=gptj q_heads=16 dtype=bf16", tokens(37), "mla, gptj table");
  add(mla + "style=gptj q_heads=8 dtype=bf16 cos_sin=compute(theta=10000,scaling=deepseek_yarn(factor=40,"
            "original_max_position_embeddings=4096,beta_fast=32,beta_slow=1,mscale=1,mscale_all_dim=1))",
      tokens(29), "mla, deepseek_yarn");
  add(mla + "style=neox q_heads=8 dtype=f16 cache_dtype=fp8_e4m3", tokens(29), "mla, fp8 cache");
  add(mla + "style=gptj q_heads=4 dtype=bf16 cache_dtype=fp8_e4m3fnuz index=i64", tokens(19), "mla, fnuz, i64");
  add("op=mla_rope_append head_dim=96 rotary_dim=32 rotary_offset=64 q_heads=4 dtype=f32 kv_lora_rank=64 "
      "cache=contiguous(order=nhd)",
      by_pos, "mla, contiguous, slot = position");
  add(mla + "q_heads=4 dtype=bf16 cache=contiguous(order=hnd)", past, "mla, contiguous hnd: slots >= max_seq skipped");
  add(mla + "style=gptj q_heads=128 dtype=bf16", decode, "mla, DeepSeek-V3 heads, head split");
  add(mla + "style=gptj q_heads=16 dtype=bf16 pdl=on", tokens(9), "mla, pdl");
  add(mla + "style=neox q_heads=4 dtype=bf16 kv_lora_rank=136 cache_dtype=fp8_e5m2", tokens(13),
      "mla, kv_c not a multiple of rotary_dim (remainder copied apart)");
  // The limits (cache_slots, table_rows) with tokens past them: skipped whole.
  VerifyCase outside = tokens(37);
  outside.out_of_range = true;
  add(mla + "style=gptj q_heads=16 dtype=bf16", outside, "mla, limits");
  add(mla + "style=neox q_heads=4 dtype=bf16 kv_lora_rank=136", outside, "mla, limits, kv_c remainder");
  outside.slots_from_positions = true;
  add("op=mla_rope_append head_dim=96 rotary_dim=32 rotary_offset=64 q_heads=4 dtype=f32 kv_lora_rank=64 "
      "cache=contiguous(order=nhd)",
      outside, "mla, limits, slot = position");
  VerifyCase outside_decode = tokens(9);
  outside_decode.out_of_range = true;
  outside_decode.parallelism = 64;
  add(mla + "style=gptj q_heads=128 dtype=bf16", outside_decode, "mla, limits, head split");
  // cache_record: DeepSeek-V3.2's fp8_ds_mla and records declared in the spec (every kv_c
  // format, fp8 k_pe, the parts in another order with padding), paged and contiguous, the limits.
  const std::string ds = mla + "q_heads=16 dtype=bf16 cache=paged(block=64) ";
  add(ds + "style=gptj cache_record=fp8_ds_mla", tokens(37), "mla record: fp8_ds_mla (656 B)");
  add(ds + "style=neox cache_record=fp8_ds_mla", outside, "mla record: fp8_ds_mla, limits");
  add(ds + "style=gptj cache_record=fp8_ds_mla", outside_decode, "mla record: fp8_ds_mla, decode, head split");
  add(mla + "q_heads=8 dtype=f16 cache=paged(block=16) cache_record=record(parts=[kv_c(format=fp8_e5m2,group=64,"
            "floor=1e-6,quantize=multiply),scales(of=kv_c),k_pe(format=auto)],size=784)",
      tokens(29), "mla record: e5m2, groups of 64, multiply, f16");
  add(ds + "cache_record=record(parts=[kv_c(format=nvfp4),scales(of=kv_c),k_pe(format=auto)],size=416)", tokens(23),
      "mla record: nvfp4 kv_c (e4m3 scales per 16, global scale)");
  add(ds + "cache_record=record(parts=[k_pe(format=auto),pad(bytes=16),scales(of=kv_c),kv_c(format=mxfp4,"
            "scale_round=floor)],size=416)",
      tokens(23), "mla record: mxfp4, k_pe first, padding");
  add("op=mla_rope_append head_dim=96 rotary_dim=32 rotary_offset=64 q_heads=4 dtype=f32 kv_lora_rank=64 "
      "cache=contiguous(order=nhd) cache_record=record(parts=[kv_c(format=auto),pad(bytes=32),k_pe(format=auto)],"
      "size=416)",
      by_pos, "mla record: copied kv_c, f32, contiguous");
  // fp8 k_pe (one scale for the row, none stored): unscaled e4m3 after nvfp4 codes (the
  // 352-byte placement of vLLM's nvfp4_ds_mla writer, with ropegen's nvfp4 rule and scale
  // order), x / k_scale[0] after fp8_ds_mla's kv_c, e5m2 first, FNUZ in f32.
  const std::string pe352 =
      "cache_record=record(parts=[kv_c(format=nvfp4),k_pe(format=fp8_e4m3,scale=none),scales(of=kv_c)],size=352)";
  add(ds + "style=gptj " + pe352, tokens(37), "mla record: nvfp4 kv_c, e4m3 k_pe unscaled (352 B)");
  add(ds + "style=neox " + pe352, outside_decode, "mla record: e4m3 k_pe unscaled, limits, decode, head split");
  add(ds + "style=neox cache_record=record(parts=[kv_c(format=fp8_e4m3,group=128,qmax=448,"
           "floor=1.1754943508222875e-38,quantize=divide),scales(of=kv_c),k_pe(format=fp8_e4m3,scale=k_scale)],size=592)",
      tokens(29), "mla record: e4m3 k_pe / k_scale after fp8 kv_c (592 B)");
  add(mla + "q_heads=8 dtype=f16 style=gptj cache=paged(block=16) cache_record=record(parts=[k_pe(format=fp8_e5m2,"
            "scale=k_scale),kv_c(format=auto)],size=1088)",
      tokens(23), "mla record: e5m2 k_pe / k_scale first, copied kv_c, f16");
  add("op=mla_rope_append head_dim=96 rotary_dim=32 rotary_offset=64 q_heads=4 dtype=f32 kv_lora_rank=64 "
      "cache=contiguous(order=nhd) cache_record=record(parts=[kv_c(format=auto),k_pe(format=fp8_e4m3fnuz,scale=none),"
      "pad(bytes=16)],size=304)",
      by_pos, "mla record: e4m3fnuz k_pe unscaled, f32, contiguous");
  // vLLM's nvfp4_ds_mla (round_up block scales, no global scale, scales transposed), and
  // transposed scales of another format.
  add(ds + "style=gptj cache_record=nvfp4_ds_mla", tokens(37), "mla record: nvfp4_ds_mla (352 B)");
  add(ds + "style=neox cache_record=nvfp4_ds_mla", outside_decode, "mla record: nvfp4_ds_mla, limits, decode, head split");
  add(ds + "style=gptj cache_record=record(parts=[kv_c(format=mxfp4,scale_round=rceil),scales(of=kv_c,transpose=2),"
           "k_pe(format=auto)],size=400)",
      tokens(19), "mla record: mxfp4 kv_c, scales transposed (2)");
}

}  // namespace ropegen
