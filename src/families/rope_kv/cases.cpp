// The rope_kv family's cases in the verification matrix (the numerics tests on the host in
// CI and on the GPU machine, and `ropegen --verify --matrix`): every op x style x dtype x
// cache layout, the scaling families, positions, layouts, fp8, QK-norm, checks, schedules.
#include <string>

#include "families/rope_kv/rope_kv.hpp"
#include "verify/verify.hpp"

namespace ropegen {

void rope_kv_matrix(std::vector<MatrixCase>& m) {
  auto add = [&](const std::string& spec, VerifyCase vc, const std::string& note) { m.push_back({spec, vc, note}); };
  auto tokens = [](long long n) {
    VerifyCase v;
    v.tokens = n;
    return v;
  };
  // Programmatic dependent launch: on sm_90 a cuLaunchKernelEx launch whose kernel reads
  // q, k, v after griddepcontrol.wait; on the host the same template with no-op waits.
  add("pdl=on" + std::string(" head_dim=128 q_heads=8 kv_heads=2 dtype=bf16"), tokens(37), "pdl, fused");
  add("pdl=on op=rope head_dim=64 q_heads=4 kv_heads=4 dtype=f16", tokens(5), "pdl, rope");
  // Scaling families computed in the kernel (frequencies and attention factor baked in).
  for (const char* sc : {"llama3(factor=8,low_freq_factor=1,high_freq_factor=4,original_max_position_embeddings=8192)",
                         "yarn(factor=4,original_max_position_embeddings=32768)",
                         "deepseek_yarn(factor=40,original_max_position_embeddings=4096,beta_fast=32,beta_slow=1,"
                         "mscale=1,mscale_all_dim=0.8)",
                         "ntk(factor=2)", "ntk_alpha(alpha=1000)"})
    add(std::string("head_dim=128 q_heads=8 kv_heads=2 dtype=bf16 cos_sin=compute(theta=500000,scaling=") + sc + ")",
        tokens(37), "scaling family");
  add("op=rope style=gptj head_dim=192 rotary_dim=64 q_heads=4 kv_heads=4 dtype=f32 "
      "cos_sin=compute(scaling=yarn(factor=4,original_max_position_embeddings=4096,attention_factor=0.7))",
      tokens(19), "yarn with attention factor, partial rotary");
  // The rotated stretch elsewhere in the head: DeepSeek's q_pe after q_nope (GPT-J pairs,
  // deepseek_yarn), and a stretch in the middle of the head (NeoX, fused with the cache).
  add("op=rope style=gptj head_dim=192 rotary_dim=64 rotary_offset=128 q_heads=4 kv_heads=4 dtype=bf16 "
      "cos_sin=compute(scaling=deepseek_yarn(factor=40,original_max_position_embeddings=4096,beta_fast=32,"
      "beta_slow=1,mscale=0.707,mscale_all_dim=0.707))",
      tokens(21), "rotary_offset, DeepSeek-like");
  add("head_dim=128 rotary_dim=64 rotary_offset=32 q_heads=8 kv_heads=2 dtype=f16", tokens(37),
      "rotary_offset in the middle, fused");
  add("head_dim=96 rotary_dim=2 rotary_offset=94 style=gptj q_heads=2 kv_heads=1 dtype=f32", tokens(5),
      "rotary_offset: the last pair only");
  // Families that read the sequence length at run time (seq_lens), and their static choice.
  const std::string lr32 = "short_factor=[1,1.02,1.04,1.06,1.08,1.1,1.2,1.3,1.4,1.5,1.6,1.7,1.8,1.9,2,2.1],"
                           "long_factor=[1,1.5,2,2.5,3,4,5,6,7,8,9,10,12,14,16,20],"
                           "original_max_position_embeddings=4096,max_position_embeddings=131072";
  for (const std::string& sc :
       {std::string("dynamic(factor=4,original_max_position_embeddings=2048)"),
        std::string("dynamic(factor=4,original_max_position_embeddings=2048,choose=static,max_model_len=8192)"),
        "longrope(" + lr32 + ")", "longrope(" + lr32 + ",choose=static,max_model_len=131072)",
        "longrope(" + lr32 + ",short_mscale=1.1,long_mscale=1.3)"})
    for (const char* op : {"rope_kv_append", "rope"})
      add(std::string("op=") + op + " head_dim=64 rotary_dim=32 q_heads=4 kv_heads=2 dtype=bf16 "
                                    "cos_sin=compute(theta=10000,scaling=" + sc + ")",
          tokens(29), "run-time length family");
  add("op=rope style=gptj head_dim=96 rotary_dim=32 q_heads=2 kv_heads=1 dtype=f32 "
      "cos_sin=compute(scaling=longrope(" + lr32 + "))",
      tokens(17), "longrope, f32 gptj partial");
  // Multimodal RoPE: three position rows, contiguous (mrope) or cycling (imrope) sections,
  // with tables and computed cos/sin, every rope op.
  for (const char* pos : {"mrope(sections=[16,24,24])", "imrope(sections=[24,20,20])"}) {
    add(std::string("positions=") + pos + " head_dim=128 q_heads=8 kv_heads=2 dtype=bf16", tokens(37), "multimodal, table");
    add(std::string("positions=") + pos + " head_dim=128 q_heads=8 kv_heads=2 dtype=bf16 cos_sin=compute(theta=1000000)",
        tokens(37), "multimodal, computed");
    add(std::string("op=rope positions=") + pos + " head_dim=128 q_heads=4 kv_heads=4 dtype=f32 style=gptj",
        tokens(19), "multimodal, rope gptj");
  }
  add("positions=mrope(sections=[2,3,3]) head_dim=64 rotary_dim=16 q_heads=4 kv_heads=2 dtype=f16", tokens(19),
      "multimodal, partial rotary");
  // Vision towers' 2-D RoPE: row and column rows, the exponent restarting in the column
  // section; head_dim 80 (Qwen2/2.5-VL) and 72 (Qwen3-VL), a table and computed, uneven sections.
  add("op=rope positions=vision(sections=[20,20]) head_dim=80 q_heads=16 kv_heads=16 dtype=bf16 "
      "cos_sin=compute(theta=10000)", tokens(37), "vision 2-D, computed");
  add("op=rope positions=vision(sections=[20,20]) head_dim=80 q_heads=16 kv_heads=16 dtype=f16", tokens(29),
      "vision 2-D, table");
  add("op=rope positions=vision(sections=[18,18]) head_dim=72 q_heads=16 kv_heads=16 dtype=f32 "
      "cos_sin=compute(theta=10000)", tokens(23), "vision 2-D, head_dim 72");
  add("positions=vision(sections=[20,12]) head_dim=64 q_heads=8 kv_heads=2 dtype=bf16 cos_sin=compute(theta=10000)",
      tokens(19), "vision 2-D, uneven sections, with the cache");
  // angle = exact at positions up to 2^24 (the fp32 angle would be off by up to ~1 rad).
  VerifyCase huge = tokens(33);
  huge.max_position = 1LL << 24;
  for (const char* s : {"angle=exact cos_sin=compute(theta=10000) head_dim=128 q_heads=4 kv_heads=2 dtype=f32",
                        "angle=exact cos_sin=compute(theta=500000,scaling=llama3(factor=8,low_freq_factor=1,"
                        "high_freq_factor=4,original_max_position_embeddings=8192)) head_dim=128 q_heads=4 kv_heads=2",
                        "angle=exact op=rope style=gptj cos_sin=compute(scaling=yarn(factor=4,"
                        "original_max_position_embeddings=32768)) head_dim=64 q_heads=2 kv_heads=2 dtype=f32",
                        "angle=exact positions=imrope(sections=[24,20,20]) cos_sin=compute(theta=5000000) head_dim=128 "
                        "q_heads=4 kv_heads=2"})
    add(s, huge, "angle = exact, far positions");
  add("angle=exact cos_sin=compute(theta=10000,scaling=dynamic(factor=2,original_max_position_embeddings=1024)) "
      "head_dim=64 q_heads=4 kv_heads=2 dtype=f32", tokens(29), "angle = exact, dynamic");
  // Layouts: padded heads (head strides), out-of-place outputs, q only.
  VerifyCase padded = tokens(23);
  padded.head_strides = true;
  add("heads=strided head_dim=128 q_heads=8 kv_heads=2 dtype=bf16", padded, "head strides, fused");
  add("heads=strided op=rope head_dim=64 q_heads=4 kv_heads=2 dtype=f16 style=gptj", padded, "head strides, rope");
  add("heads=strided op=kv_append head_dim=64 kv_heads=2 dtype=f32", padded, "head strides, kv_append");
  VerifyCase out = tokens(21);
  out.out_of_place = true;
  add("outputs=separate op=rope head_dim=128 rotary_dim=64 q_heads=8 kv_heads=2 dtype=bf16", out,
      "q_out and k_out, rope");
  add("outputs=separate head_dim=128 q_heads=8 kv_heads=2 dtype=f16", out, "q_out and k_out, fused (k also to the cache)");
  out.head_strides = true;
  add("outputs=separate heads=strided op=rope head_dim=64 q_heads=4 kv_heads=4 dtype=f32 style=gptj", out,
      "out of place from padded heads");
  VerifyCase q_only = tokens(19);
  q_only.without_k = true;
  add("op=rope head_dim=192 rotary_dim=64 rotary_offset=128 style=gptj q_heads=8 kv_heads=1 dtype=bf16", q_only,
      "rope on q only (k null)");
  q_only.out_of_place = true;
  add("outputs=separate op=rope head_dim=128 q_heads=8 kv_heads=2 dtype=bf16", q_only, "q only, to q_out");
  // fp8 KV caches (the target's encoding; host: OCP, and FNUZ when asked), per-tensor and
  // per-head scales, every layout, fp8 q output; V copies must match bit for bit.
  for (const char* f8 : {"fp8_e4m3", "fp8_e5m2", "fp8_e4m3fnuz", "fp8_e5m2fnuz"}) {
    add(std::string("cache_dtype=") + f8 + " head_dim=128 q_heads=8 kv_heads=2 dtype=bf16", tokens(37), "fp8 cache");
    add(std::string("cache_dtype=") + f8 + " scales=per_head op=kv_append head_dim=64 kv_heads=4 dtype=f16 "
                                           "cache=contiguous(order=hnd)",
        tokens(29), "fp8 cache, per-head scales, kv_append");
  }
  for (const char* c : {"paged(block=8,order=hnd)", "contiguous(order=nhd)"})
    add(std::string("cache_dtype=fp8_e4m3 scales=per_head style=gptj dtype=f32 head_dim=64 q_heads=4 kv_heads=2 cache=") + c,
        tokens(23), "fp8 cache layouts");
  add("cache_dtype=fp8_e4m3 q_dtype=fp8_e4m3 outputs=separate head_dim=128 q_heads=8 kv_heads=2", tokens(21),
      "fp8 q_out and cache");
  add("q_dtype=fp8_e5m2 outputs=separate op=rope head_dim=64 rotary_dim=32 q_heads=4 kv_heads=2 dtype=f16", tokens(19),
      "fp8 q_out, rope, partial");
  add("cache_dtype=fp8_e4m3 head_dim=96 rotary_dim=2 rotary_offset=94 style=gptj q_heads=2 kv_heads=1 dtype=f32", tokens(5),
      "fp8 cache, narrow vectors");
  // Quantized caches (templates/quant.h): codes and scales computed in the kernel. Rows the
  // kernel copies (v, kv_append) match the reference bit for bit, codes and scales; rotated
  // rows lie within the bounds of their values (check_quant_rows). nvfp4(recipe=trtllm) runs on
  // NVIDIA targets only (the reference takes rcp.approx.ftz.f32's values from the device).
  const char* quants[] = {"nvfp4",
                          "nvfp4(recipe=trtllm)",
                          "mxfp4",
                          "mxfp4(scale_round=floor)",
                          "mxfp4(scale_round=even)",
                          "int8 scales=per_token_head",
                          "int8(round=trunc) scales=per_token_head",
                          "int4 scales=per_token_head",
                          "fp8_e4m3 scales=per_token_head",
                          "fp8_e5m2 scales=per_token_head",
                          "fp8_e4m3fnuz(qmax=224) scales=per_token_head"};
  for (const char* qf : quants) {
    add(std::string("cache_dtype=") + qf + " head_dim=128 q_heads=8 kv_heads=2 dtype=bf16", tokens(37), "quantized cache");
    add(std::string("cache_dtype=") + qf + " op=kv_append head_dim=64 kv_heads=4 dtype=f16 cache=paged(block=16,order=hnd)",
        tokens(29), "quantized cache, kv_append (exact), hnd");
  }
  // NaN (quiet, signaling, a whole row), +-inf, -0.0 and the largest finite values among the
  // copied rows: the groups' ranges (packed max and min where the target has them) leave NaN
  // out, on every target, bit for bit with the reference.
  VerifyCase special = tokens(23);
  special.specials = true;
  for (const char* qf : {"nvfp4", "mxfp4", "int8 scales=per_token_head", "int4 scales=per_token_head",
                         "fp8_e4m3 scales=per_token_head"}) {
    add(std::string("cache_dtype=") + qf + " head_dim=128 q_heads=4 kv_heads=2 dtype=bf16", special,
        "quantized cache, special values in v");
    add(std::string("cache_dtype=") + qf + " op=kv_append head_dim=64 kv_heads=2 dtype=f16", special,
        "quantized cache, special values in k and v, kv_append");
  }
  for (const char* c : {"paged(block=8,order=nhd)", "paged(block=32,order=hnd)", "contiguous(order=nhd)", "contiguous(order=hnd)"}) {
    add(std::string("cache_dtype=nvfp4 style=gptj dtype=f32 head_dim=64 q_heads=4 kv_heads=2 cache=") + c, tokens(23),
        "nvfp4 layouts");
    add(std::string("cache_dtype=int4 scales=per_token_head dtype=bf16 head_dim=64 q_heads=4 kv_heads=1 cache=") + c,
        tokens(23), "int4 layouts");
  }
  add("cache_dtype=nvfp4(v_scales=swizzled) cache=paged(block=16,order=hnd) head_dim=128 q_heads=8 kv_heads=2 dtype=bf16",
      tokens(37), "nvfp4, swizzled v scales");
  add("cache_dtype=nvfp4(v_scales=swizzled) op=kv_append cache=paged(block=8,order=hnd) head_dim=64 kv_heads=3 dtype=f16",
      tokens(29), "nvfp4, swizzled v scales, kv_append");
  add("cache_dtype=nvfp4 qk_norm=rms(eps=1e-6) head_dim=128 q_heads=8 kv_heads=1 dtype=bf16", tokens(33),
      "nvfp4 + qk_norm, MQA");
  add("cache_dtype=int8 scales=per_token_head qk_norm=rms(eps=1e-6,gemma=true) head_dim=256 q_heads=8 kv_heads=2 dtype=bf16",
      tokens(19), "int8 + gemma qk_norm, head_dim 256");
  add("cache_dtype=mxfp4 head_dim=512 rotary_dim=64 q_heads=4 kv_heads=1 dtype=bf16 checks=bounds", tokens(17),
      "mxfp4, head_dim 512, partial rotary, bounds");
  add("cache_dtype=nvfp4 head_dim=64 q_heads=16 kv_heads=1 dtype=bf16 outputs=separate", tokens(41),
      "nvfp4 with k_out, MQA");
  add("cache_dtype=fp8_e4m3 scales=per_token_head head_dim=128 rotary_dim=64 rotary_offset=32 q_heads=8 kv_heads=2 dtype=f16",
      tokens(37), "fp8 per_token_head, rotary_offset");
  add("cache_dtype=int8 scales=per_token_head head_dim=96 rotary_dim=2 rotary_offset=94 style=gptj q_heads=2 kv_heads=1 dtype=f32",
      tokens(5), "int8, narrow vectors");
  {
    VerifyCase oor = tokens(41);
    oor.out_of_range = true;
    add("cache_dtype=nvfp4 head_dim=128 q_heads=8 kv_heads=2 dtype=bf16 checks=bounds", oor, "nvfp4, planted out-of-range tokens");
    VerifyCase split = tokens(9);
    split.parallelism = 4;
    add("cache_dtype=int4 scales=per_token_head qk_norm=rms(eps=1e-6) head_dim=128 q_heads=8 kv_heads=2 dtype=bf16", split,
        "int4 + qk_norm, split heads");
  }
  // Inline scales (scales_at = page | row): codes and scales in the cache's own records, the
  // scale tensors null; the reference places the bytes by the layout formulas.
  add("cache_dtype=nvfp4(scales_at=page) cache=paged(block=16,order=nhd) head_dim=128 q_heads=8 kv_heads=2 dtype=bf16",
      tokens(37), "nvfp4, scales per page, nhd");
  add("cache_dtype=nvfp4(scales_at=page) op=kv_append cache=paged(block=8,order=hnd) head_dim=64 kv_heads=3 dtype=f16",
      tokens(29), "nvfp4, scales per page, hnd, kv_append");
  add("cache_dtype=nvfp4(v_scales=swizzled,scales_at=page) cache=paged(block=16,order=hnd) head_dim=128 q_heads=8 "
      "kv_heads=2 dtype=bf16", tokens(37), "nvfp4, scales per page, swizzled v");
  add("cache_dtype=nvfp4(v_scales=swizzled,scales_at=page) op=kv_append cache=paged(block=4,order=hnd) head_dim=64 "
      "kv_heads=1 dtype=f16", tokens(23), "nvfp4, scales per page, swizzled v, kv_append, block 4");
  add("cache_dtype=mxfp4(scales_at=page) cache=paged(block=8,order=nhd) style=gptj head_dim=64 q_heads=6 kv_heads=3 "
      "dtype=f32", tokens(23), "mxfp4, scales per page");
  add("cache_dtype=int8(scales_at=page) scales=per_token_head cache=paged(block=8,order=hnd) head_dim=64 q_heads=4 "
      "kv_heads=2 dtype=bf16", tokens(23), "int8, scales per page");
  for (const char* c : {"paged(block=16,order=nhd)", "paged(block=8,order=hnd)", "contiguous(order=nhd)",
                        "contiguous(order=hnd)"}) {
    add(std::string("cache_dtype=int8(scales_at=row) scales=per_token_head head_dim=128 q_heads=8 kv_heads=2 "
                    "dtype=bf16 cache=") + c, tokens(29), "int8, scale after each row");
    add(std::string("cache_dtype=fp8_e4m3(scales_at=row) scales=per_token_head head_dim=64 q_heads=4 kv_heads=2 "
                    "dtype=f16 cache=") + c, tokens(23), "fp8 per_token_head, scale after each row");
  }
  add("cache_dtype=int4(scales_at=row) scales=per_token_head head_dim=128 q_heads=8 kv_heads=2 dtype=bf16",
      tokens(37), "int4, scale after each row");
  add("cache_dtype=int4(scales_at=row) scales=per_token_head op=kv_append head_dim=64 kv_heads=3 dtype=f16 "
      "cache=paged(block=8,order=hnd)", tokens(29), "int4, scale after each row, kv_append, hnd");
  add("cache_dtype=int8(round=trunc,scales_at=row) scales=per_token_head op=kv_append head_dim=96 kv_heads=2 "
      "dtype=f32 cache=contiguous(order=nhd)", tokens(19), "int8 trunc, scale after each row, narrow record alignment");
  add("cache_dtype=nvfp4(scales_at=page) op=kv_append cache=paged(block=3,order=nhd) head_dim=32 kv_heads=1 dtype=bf16",
      tokens(13), "nvfp4, scales per page, pages 2-byte aligned (split code stores)");
  {  // K and V pages in one buffer ([N, 2, page], vLLM's nvfp4 KV cache): cache_block_stride
    VerifyCase kv = tokens(29);
    kv.cache_layout = "N2";
    add("cache_dtype=nvfp4(scales_at=page) cache=paged(block=16,order=nhd) head_dim=128 q_heads=8 kv_heads=2 "
        "dtype=bf16", kv, "nvfp4, scales per page, K and V pages interleaved");
    kv.cache_pad = 48;
    add("cache_dtype=nvfp4(v_scales=swizzled,scales_at=page) cache=paged(block=8,order=hnd) head_dim=64 q_heads=4 "
        "kv_heads=2 dtype=f16 checks=bounds", kv, "nvfp4 swizzled v, K and V pages interleaved with slack, bounds");
    kv.cache_pad = 0;
    add("cache_dtype=int8(scales_at=page) scales=per_token_head op=kv_append cache=paged(block=8,order=hnd) "
        "head_dim=64 kv_heads=2 dtype=bf16", kv, "int8, scales per page, K and V pages interleaved");
  }
  add("cache_dtype=nvfp4(scales_at=page) layers=many head_dim=64 q_heads=4 kv_heads=2 dtype=bf16", tokens(13),
      "layers = many, nvfp4 scales per page");
  add("cache_dtype=fp8_e5m2(scales_at=row) scales=per_token_head qk_norm=rms(eps=1e-6) head_dim=256 q_heads=8 "
      "kv_heads=2 dtype=bf16", tokens(19), "fp8 e5m2 + qk_norm, scale after each row, head_dim 256");
  // Dynamic q quantization: fp8 q_out with a scale per (token, head) computed in the kernel.
  add("q_dtype=fp8_e4m3 q_scales=per_token_head outputs=separate head_dim=128 q_heads=8 kv_heads=2 dtype=bf16",
      tokens(37), "fp8 q_out, per_token_head");
  add("q_dtype=fp8_e4m3 q_scales=per_token_head outputs=separate cache_dtype=nvfp4 qk_norm=rms(eps=1e-6) head_dim=128 "
      "q_heads=8 kv_heads=2 dtype=bf16", tokens(29), "fp8 q per_token_head + nvfp4 cache + qk_norm");
  add("op=rope q_dtype=fp8_e5m2 q_scales=per_token_head outputs=separate head_dim=64 rotary_dim=32 q_heads=4 kv_heads=2 "
      "dtype=f16 style=gptj", tokens(19), "fp8 q per_token_head, rope, partial");
  add("q_dtype=fp8_e4m3fnuz q_scales=per_token_head outputs=separate cache_dtype=int8 scales=per_token_head head_dim=64 "
      "q_heads=4 kv_heads=1 dtype=f32", tokens(23), "fnuz q per_token_head + int8 cache");
  // QK-RMSNorm before RoPE: every op that rotates, both weight forms, partial rotary, fp8.
  add("qk_norm=rms(eps=1e-6) head_dim=128 q_heads=8 kv_heads=2 dtype=bf16", tokens(37), "qk_norm, fused");
  add("qk_norm=rms(eps=1e-6,gemma=true) op=rope head_dim=256 q_heads=4 kv_heads=2 dtype=bf16", tokens(19),
      "qk_norm gemma, rope, head_dim 256");
  add("qk_norm=rms(eps=1e-5) style=gptj rotary_dim=64 head_dim=128 q_heads=4 kv_heads=4 dtype=f32", tokens(19),
      "qk_norm, gptj partial");
  add("qk_norm=rms(eps=1e-6) cache_dtype=fp8_e4m3 cos_sin=compute(theta=1000000) head_dim=128 q_heads=8 kv_heads=2",
      tokens(29), "qk_norm + fp8 cache, computed");
  VerifyCase norm_split = tokens(3);
  norm_split.parallelism = 64;
  add("qk_norm=rms(eps=1e-6) head_dim=128 q_heads=32 kv_heads=8 dtype=f16", norm_split, "qk_norm, head split");
  add("qk_norm=rms(eps=1e-6) checks=bounds head_dim=64 q_heads=4 kv_heads=2", tokens(17), "qk_norm, checks");
  add("qk_norm=rms(eps=1e-6) pdl=on head_dim=128 q_heads=8 kv_heads=2", tokens(33), "qk_norm, pdl");
  add("qk_norm=rms(eps=1e-6) head_dim=128 q_heads=8 kv_heads=2", tokens(2048), "qk_norm, prefill-sized");
  // The 2026 norms: weightless and after RoPE (Llama 4), over all of a token's heads
  // (MiniMax-M2: partial rotary; decode with a split the plan must refuse, prefill; after
  // RoPE; with a quantized cache), v's own norm (Gemma 4), and v taken from k (K = V layers).
  add("qk_norm=rms(eps=1e-5,weight=none,order=post) style=gptj head_dim=128 q_heads=8 kv_heads=2 dtype=bf16",
      tokens(37), "qk_norm weightless after RoPE (Llama 4)");
  add("qk_norm=rms(eps=1e-6,weight=none) op=rope head_dim=64 q_heads=4 kv_heads=2 dtype=f32", tokens(9),
      "qk_norm weightless, rope");
  VerifyCase all_split = tokens(2);
  all_split.parallelism = 64;
  add("qk_norm=rms(eps=1e-6,span=all_heads) rotary_dim=64 head_dim=128 q_heads=12 kv_heads=2 dtype=bf16", all_split,
      "qk_norm all_heads, decode (no head split)");
  add("qk_norm=rms(eps=1e-6,span=all_heads) rotary_dim=64 head_dim=128 q_heads=12 kv_heads=2 dtype=bf16",
      tokens(300), "qk_norm all_heads, prefill");
  add("qk_norm=rms(eps=1e-6,span=all_heads,order=post) op=rope style=gptj head_dim=64 q_heads=6 kv_heads=3 dtype=f16",
      tokens(23), "qk_norm all_heads after RoPE, rope");
  add("qk_norm=rms(eps=1e-6,span=all_heads) op=rope head_dim=64 q_heads=2 kv_heads=1 dtype=bf16", tokens(13),
      "qk_norm all_heads, 3 tasks (the items summed directly)");
  add("qk_norm=rms(eps=1e-6,span=all_heads) op=rope head_dim=64 q_heads=3 kv_heads=1 dtype=bf16", tokens(37),
      "qk_norm all_heads, 16 threads a token (one exchange tree, no block-shared memory)");
  add("qk_norm=rms(eps=1e-6,span=all_heads) head_dim=256 q_heads=64 kv_heads=8 dtype=bf16", tokens(5),
      "qk_norm all_heads, more tasks than groups (rows read twice)");
  add("qk_norm=rms(eps=1e-6,span=all_heads,gemma=true) cache_dtype=int8 scales=per_token_head head_dim=128 q_heads=8 "
      "kv_heads=1 dtype=bf16", tokens(19), "qk_norm all_heads (1 + w) + int8 cache");
  add("v_norm=rms(eps=1e-6) qk_norm=rms(eps=1e-6) head_dim=256 q_heads=8 kv_heads=2 dtype=bf16 "
      "cos_sin=compute(theta=10000)", tokens(29), "v_norm (Gemma 4 sliding)");
  add("v_norm=rms(eps=1e-6) v_source=k qk_norm=rms(eps=1e-6) head_dim=512 q_heads=8 kv_heads=1 dtype=bf16 "
      "cos_sin=compute(theta=1000000,scaling=proportional(partial_rotary_factor=0.25))",
      tokens(17), "K = V, v_norm, proportional RoPE (Gemma 4 global)");
  add("v_norm=rms(eps=1e-6) cache_dtype=fp8_e4m3 op=kv_append head_dim=128 kv_heads=2 dtype=f16", tokens(19),
      "v_norm, kv_append, fp8 cache");
  add("v_norm=rms(eps=1e-6) v_source=k cache_dtype=nvfp4 head_dim=128 q_heads=4 kv_heads=2 dtype=bf16", tokens(21),
      "K = V, v_norm, nvfp4 cache");
  add("v_source=k head_dim=64 q_heads=4 kv_heads=2 dtype=f32 cache=paged(block=8,order=hnd)", tokens(13),
      "v taken from k");
  // q times a factor of the position (Llama 4's NoPE temperature with a small floor_scale so
  // the factor moves within the test's positions; log-n), partial rotary: the copied stretch
  // of q is scaled too.
  add("q_temperature=llama4(attn_scale=0.1,floor_scale=4) head_dim=128 q_heads=8 kv_heads=2 dtype=bf16", tokens(37),
      "q_temperature llama4");
  add("q_temperature=logn(base=16) op=rope rotary_dim=64 head_dim=128 q_heads=4 kv_heads=2 dtype=f16 style=gptj",
      tokens(29), "q_temperature logn, partial rotary");
  add("q_temperature=llama4(attn_scale=0.5,floor_scale=3) qk_norm=rms(eps=1e-5,weight=none,order=post) "
      "q_dtype=fp8_e4m3 outputs=separate head_dim=64 q_heads=4 kv_heads=1 dtype=f32", tokens(23),
      "q_temperature + post norm + fp8 q_out");
  // The all-heads norm across launches (tensor parallelism): the second launch with sums read
  // from norm_sums (added over 2 ranks, one rank), order = post, a cache op and fp8; the first
  // launch's q and k stay as they are (its sums are checked in tests/api).
  add("qk_norm=rms(eps=1e-6,span=all_heads,sums=read,ranks=2) rotary_dim=64 head_dim=128 q_heads=12 kv_heads=2 "
      "dtype=bf16", tokens(19), "all_heads norm, sums read (2 ranks)");
  add("qk_norm=rms(eps=1e-6,span=all_heads,sums=read,order=post,weight=none) op=rope style=gptj head_dim=64 q_heads=6 "
      "kv_heads=3 dtype=f16 outputs=separate", tokens(13), "all_heads norm, sums read, post");
  add("qk_norm=rms(eps=1e-6,span=all_heads,sums=write) op=rope rotary_dim=64 head_dim=128 q_heads=12 kv_heads=2 "
      "dtype=bf16", tokens(19), "all_heads norm, sums written (q, k untouched)");
  // 3-D grid positions (video DiTs): Wan's sections of head_dim 128 (22, 21, 21), interleaved
  // pairs; HunyuanVideo's [16, 56, 56] channels (8, 28, 28) with a fused cache write; a table.
  {
    VerifyCase g = tokens(37);
    g.max_position = 4 * 3 * 5;  // 4 frames of the 3 x 5 grid
    add("positions=grid(sections=[22,21,21]) style=gptj op=rope head_dim=128 q_heads=4 kv_heads=4 dtype=bf16 "
        "cos_sin=compute(theta=10000)", g, "grid positions (Wan 2.1 sections)");
    g.grid_h = 6;
    g.grid_w = 2;
    add("positions=grid(sections=[8,28,28]) style=gptj head_dim=128 q_heads=8 kv_heads=8 dtype=f32 "
        "cos_sin=compute(theta=256)", g, "grid positions (HunyuanVideo sections), fused");
    add("positions=grid(sections=[4,6,6]) head_dim=64 rotary_dim=32 q_heads=4 kv_heads=2 dtype=f16 cos_sin=table "
        "checks=bounds", g, "grid positions, table, checks = bounds");
  }
  // QKV biases and gated attention (Qwen3-Next / Qwen3.5: q rows [q_h | gate_h]): the biases
  // before the norm and the rotation, the gate halves to gate_out; with a one_plus_w norm,
  // partial rotary and separate outputs (Qwen3-Next's layout), fp8 and nvfp4 caches, GPT-J,
  // the all-heads norm, packed QKV rows.
  add("gate=interleaved bias=qkv qk_norm=rms(eps=1e-6,weight=one_plus_w) outputs=separate head_dim=256 rotary_dim=64 "
      "q_heads=4 kv_heads=2 dtype=bf16 cos_sin=compute(theta=10000000)",
      tokens(19), "gated attention with biases (Qwen3-Next layout)");
  add("gate=interleaved head_dim=128 q_heads=8 kv_heads=2 dtype=f16 style=gptj cache_dtype=fp8_e4m3", tokens(23),
      "gated attention, fp8 cache");
  add("bias=qkv head_dim=128 q_heads=8 kv_heads=2 dtype=bf16 cache_dtype=nvfp4", tokens(17), "qkv bias, nvfp4 cache");
  add("bias=qkv op=kv_append head_dim=64 kv_heads=2 dtype=f32 cache=contiguous(order=hnd)", tokens(13),
      "qkv bias, kv_append");
  add("bias=qkv gate=interleaved op=rope qk_norm=rms(eps=1e-6,span=all_heads) head_dim=64 q_heads=6 kv_heads=2 "
      "dtype=f16", tokens(11), "qkv bias, gate, all-heads norm, rope");
  {
    VerifyCase packed = tokens(21);
    packed.packed_qkv = true;
    add("bias=qkv gate=interleaved head_dim=64 rotary_dim=32 q_heads=4 kv_heads=1 dtype=bf16", packed,
        "qkv bias, gate, packed QKV rows");
  }
  // rotary_dim = 0: layers without RoPE (Llama 4's NoPE layers): q times the temperature, the
  // cache written; nothing rotates, with a norm, fp8 caches, q only.
  add("rotary_dim=0 q_temperature=llama4(attn_scale=0.1,floor_scale=4) head_dim=128 q_heads=8 kv_heads=2 dtype=bf16",
      tokens(37), "NoPE (rotary_dim = 0), q_temperature, fused");
  add("rotary_dim=0 qk_norm=rms(eps=1e-5,weight=none) outputs=separate cache_dtype=fp8_e4m3 head_dim=64 q_heads=4 "
      "kv_heads=1 dtype=f16 cache=paged(block=8,order=hnd)",
      tokens(19), "NoPE, qk_norm, separate outputs, fp8 cache");
  add("rotary_dim=0 op=rope q_temperature=logn(base=4) head_dim=96 q_heads=2 kv_heads=1 dtype=f32", tokens(13),
      "NoPE, rope op: q times logn");
  add("rotary_dim=0 cos_sin=compute(theta=500000) q_temperature=llama4(attn_scale=0.1,floor_scale=4) head_dim=128 "
      "q_heads=32 kv_heads=8 dtype=bf16",
      tokens(21), "NoPE with computed cos/sin (Llama 4's spec), eight head groups");
  // cos_sin = table(per_head = true): one table per KV head (its frequencies scaled by
  // 1 + h / 4 in the verifier's table); a q head turns by its group's. GQA fused with a paged
  // cache, GPT-J pairs with mrope rows and an all-heads norm (order = post), a per-head norm
  // with an fp8 cache and planted out-of-range positions.
  add("cos_sin=table(per_head=true) head_dim=128 q_heads=8 kv_heads=2 dtype=bf16", tokens(37), "per-head tables, fused");
  add("cos_sin=table(per_head=true) op=rope style=gptj head_dim=64 rotary_dim=32 q_heads=6 kv_heads=3 dtype=f32 "
      "positions=mrope(sections=[4,6,6]) qk_norm=rms(eps=1e-6,span=all_heads,order=post,weight=none)",
      tokens(19), "per-head tables, mrope, all-heads norm after RoPE");
  {
    VerifyCase oor = tokens(23);
    oor.out_of_range = true;
    oor.combined_table = false;  // cos and sin in two arrays, rows padded
    add("cos_sin=table(per_head=true) qk_norm=rms(eps=1e-6) cache_dtype=fp8_e4m3 head_dim=128 q_heads=4 kv_heads=4 "
        "dtype=f16 cache=paged(block=16,order=hnd)",
        oor, "per-head tables, qk_norm, fp8 cache, out-of-range positions");
  }
  add("op=rope_kv_append style=neox head_dim=256 q_heads=4 kv_heads=2 dtype=f16 "
      "cos_sin=compute(theta=10000,scaling=proportional(partial_rotary_factor=0.5,factor=2))",
      tokens(19), "proportional RoPE with factor");
  // Cache addressing (issue 22): order = strided with the run-time cache strides. The six
  // orders of vLLM's [N, B, H, D] (D contiguous), K and V in one tensor (vLLM's and
  // FlashInfer's [N, 2, B, H, D], [2, N, B, H, D], FlashInfer's HND [N, 2, H, B, D]), slack
  // between pages, fp8, checks = bounds (the overlap checks pass valid layouts).
  const std::string strided = " cache=paged(block=16,order=strided)";
  auto layout = [&](const char* l, long long pad, long long n) {
    VerifyCase v = tokens(n);
    v.cache_layout = l;
    v.cache_pad = pad;
    return v;
  };
  for (const char* l : {"NBH", "NHB", "BNH", "BHN", "HNB", "HBN"})
    add("head_dim=128 q_heads=8 kv_heads=2 dtype=bf16" + strided, layout(l, 0, 37),
        std::string("strided cache, vLLM permutation ") + l);
  for (const char* l : {"N2BH", "2NBH", "N2HB"}) {
    add("head_dim=128 q_heads=8 kv_heads=2 dtype=bf16" + strided, layout(l, 0, 37),
        std::string("stacked K and V, ") + l);
    add("op=kv_append head_dim=64 kv_heads=4 dtype=f16 cache=paged(block=8,order=strided)", layout(l, 0, 29),
        std::string("stacked K and V, kv_append, ") + l);
  }
  add("style=gptj dtype=f32 head_dim=64 q_heads=4 kv_heads=2 cache=paged(block=8,order=strided)", layout("NHB", 8, 23),
      "strided cache, slack between pages");
  add("cache_dtype=fp8_e4m3 head_dim=128 q_heads=8 kv_heads=2 dtype=bf16" + strided, layout("N2HB", 0, 37),
      "strided fp8 cache, stacked HND");
  add("checks=bounds head_dim=128 q_heads=8 kv_heads=2 dtype=bf16" + strided, layout("N2BH", 16, 37),
      "strided, checks=bounds");
  {
    VerifyCase oor = layout("HNB", 0, 41);
    oor.out_of_range = true;
    add("head_dim=64 q_heads=4 kv_heads=2 dtype=f16" + strided, oor, "strided, planted out-of-range slots");
    VerifyCase split = layout("BHN", 0, 3);
    split.parallelism = 64;
    add("qk_norm=rms(eps=1e-6) head_dim=128 q_heads=32 kv_heads=8 dtype=bf16" + strided, split,
        "strided, qk_norm, head split");
  }
  // AMD paged attention's layouts (vLLM ROCm, AITER): K split by x = 16 bytes [N, H, D / x, B,
  // x], V [N, H, D, B] (amd) or shuffled [N, H, B / x, D, x] (amd_shuffle); verify places the
  // elements by its own formula.
  for (const std::string o : {"amd", "amd_shuffle"}) {
    add("head_dim=128 q_heads=8 kv_heads=2 dtype=bf16 cache=paged(block=16,order=" + o + ")", tokens(37),
        "AMD layout " + o + ", fused");
    add("op=kv_append head_dim=64 kv_heads=4 dtype=f32 cache=paged(block=8,order=" + o + ")", tokens(29),
        "AMD layout " + o + ", kv_append f32");
    add("style=gptj head_dim=64 rotary_dim=32 q_heads=4 kv_heads=1 dtype=f16 cache=paged(block=32,order=" + o + ")",
        tokens(23), "AMD layout " + o + ", gptj partial, MQA");
    VerifyCase oor = tokens(41);
    oor.out_of_range = true;
    add("checks=bounds head_dim=64 q_heads=4 kv_heads=2 dtype=bf16 cache=paged(block=16,order=" + o + ")", oor,
        "AMD layout " + o + ", planted out-of-range slots");
    VerifyCase split = tokens(3);
    split.parallelism = 64;
    add("qk_norm=rms(eps=1e-6) head_dim=128 q_heads=32 kv_heads=8 cache=paged(block=16,order=" + o + ")", split,
        "AMD layout " + o + ", qk_norm, head split");
    // fp8 caches with given scales (vLLM ROCm's fp8 KV cache): x = 16 codes a piece.
    add("cache_dtype=fp8_e4m3 head_dim=128 q_heads=8 kv_heads=2 dtype=bf16 cache=paged(block=16,order=" + o + ")",
        tokens(37), "AMD layout " + o + ", fp8 per-tensor");
    add("cache_dtype=fp8_e4m3fnuz scales=per_head op=kv_append head_dim=64 kv_heads=4 dtype=f32 "
        "cache=paged(block=32,order=" + o + ")",
        tokens(29), "AMD layout " + o + ", fp8 fnuz per-head, kv_append f32");
    add("cache_dtype=fp8_e5m2 style=gptj head_dim=64 rotary_dim=32 q_heads=4 kv_heads=1 dtype=f16 "
        "cache=paged(block=16,order=" + o + ")",
        tokens(23), "AMD layout " + o + ", fp8 e5m2, gptj partial, MQA");
    // 8-bit codes with per-(token, head) scales computed in the kernel, in their scale tensors.
    add("cache_dtype=int8 scales=per_token_head head_dim=128 q_heads=8 kv_heads=2 dtype=bf16 "
        "cache=paged(block=16,order=" + o + ")",
        tokens(37), "AMD layout " + o + ", int8 per_token_head");
    add("cache_dtype=fp8_e4m3 scales=per_token_head qk_norm=rms(eps=1e-6) head_dim=64 q_heads=4 kv_heads=2 dtype=f16 "
        "cache=paged(block=32,order=" + o + ")",
        tokens(29), "AMD layout " + o + ", fp8 per_token_head, qk_norm");
  }
  // Sliding-window ring caches (TensorRT-LLM's getKVTokenIdx): sinks, a bubble padding them to
  // a page, wrap-around; the slot from ring_base and the position.
  VerifyCase seqs = tokens(61);
  seqs.sequences = true;
  add("window=ring(size=20,sinks=3) head_dim=64 q_heads=4 kv_heads=2 dtype=bf16 cache=paged(block=8)", seqs,
      "ring: sinks, bubble, wrap-around");
  add("window=ring(size=48,sinks=0) head_dim=128 q_heads=8 kv_heads=2 dtype=f16 cache=paged(block=16,order=hnd)", seqs,
      "ring: no sinks, hnd");
  add("window=ring(size=37,sinks=16) op=kv_append head_dim=64 kv_heads=2 dtype=f32 cache=paged(block=16)", seqs,
      "ring: sinks filling a page, kv_append");
  add("window=ring(size=20,sinks=5) checks=bounds head_dim=64 q_heads=4 kv_heads=2 cache=paged(block=4)", seqs,
      "ring: checks=bounds");
  {
    VerifyCase ring_strided = seqs;
    ring_strided.cache_layout = "N2HB";
    add("window=ring(size=24,sinks=2) head_dim=64 q_heads=4 kv_heads=2 dtype=bf16 cache=paged(block=8,order=strided)",
        ring_strided, "ring in a stacked strided cache");
  }
  // cache_tail = zero: the end of each run of slots zeroes the rest of its page.
  add("cache_tail=zero head_dim=64 q_heads=4 kv_heads=2 dtype=bf16 cache=paged(block=16)", seqs, "tail zeroed, nhd");
  add("cache_tail=zero op=kv_append head_dim=64 kv_heads=2 dtype=f16 cache=paged(block=8,order=hnd)", seqs,
      "tail zeroed, kv_append hnd");
  add("cache_tail=zero cache_dtype=fp8_e4m3 head_dim=128 q_heads=8 kv_heads=2 dtype=bf16 cache=paged(block=16)", seqs,
      "tail zeroed, fp8");
  {
    VerifyCase tail_strided = seqs;
    tail_strided.cache_layout = "2NBH";
    add("cache_tail=zero checks=bounds head_dim=64 q_heads=4 kv_heads=2 dtype=f32 cache=paged(block=8,order=strided)",
        tail_strided, "tail zeroed, stacked strided, checks=bounds");
    VerifyCase tail_split = seqs;
    tail_split.parallelism = 64;
    add("cache_tail=zero qk_norm=rms(eps=1e-6) head_dim=128 q_heads=8 kv_heads=2 cache=paged(block=16)", tail_split,
        "tail zeroed, qk_norm, head split");
  }
  // Quantized caches: the tail's codes and scales are zero bytes.
  add("cache_tail=zero cache_dtype=int8 scales=per_token_head head_dim=128 q_heads=8 kv_heads=2 dtype=bf16 "
      "cache=paged(block=16)",
      seqs, "tail zeroed, int8 per_token_head");
  add("cache_tail=zero cache_dtype=int4 scales=per_token_head op=kv_append head_dim=64 kv_heads=2 dtype=f16 "
      "cache=paged(block=8,order=hnd)",
      seqs, "tail zeroed, int4 kv_append hnd");
  add("cache_tail=zero cache_dtype=nvfp4(v_scales=swizzled) head_dim=64 q_heads=4 kv_heads=2 dtype=bf16 "
      "cache=paged(block=16,order=hnd)",
      seqs, "tail zeroed, nvfp4 with swizzled v scales");
  add("cache_tail=zero cache_dtype=mxfp4(scales_at=page) head_dim=64 q_heads=4 kv_heads=2 dtype=bf16 "
      "cache=paged(block=16)",
      seqs, "tail zeroed, mxfp4 scales in the page");
  add("cache_tail=zero cache_dtype=fp8_e4m3(scales_at=row) scales=per_token_head head_dim=128 q_heads=8 kv_heads=2 "
      "dtype=f32 cache=paged(block=16)",
      seqs, "tail zeroed, fp8 per_token_head scales after each row");
  // Every op x style x dtype x cache layout.
  const char* dtypes[] = {"f32", "f16", "bf16"};
  const char* styles[] = {"neox", "gptj"};
  const char* caches[] = {"paged(block=16,order=nhd)", "paged(block=8,order=hnd)", "contiguous(order=hnd)",
                          "contiguous(order=nhd)"};
  const std::string shape = " head_dim=128 q_heads=8 kv_heads=2";
  for (const char* d : dtypes) {
    for (const char* s : styles) add("op=rope style=" + std::string(s) + " dtype=" + d + shape, tokens(37), "op x style x dtype");
    for (const char* c : caches)
      add("op=kv_append dtype=" + std::string(d) + " cache=" + c + " head_dim=128 kv_heads=2", tokens(37), "kv_append layouts");
    for (const char* s : styles)
      for (const char* c : caches)
        add("op=rope_kv_append style=" + std::string(s) + " dtype=" + d + " cache=" + c + shape, tokens(37),
            "fused: style x dtype x layout");
  }
  // Partial rotary and narrow vectors.
  for (const char* s : {"head_dim=128 rotary_dim=64 style=neox q_heads=4 kv_heads=2",
                        "head_dim=128 rotary_dim=64 style=gptj q_heads=4 kv_heads=2",
                        "head_dim=96 rotary_dim=24 dtype=f16 q_heads=4 kv_heads=4",
                        "head_dim=80 rotary_dim=32 dtype=f16 q_heads=4 kv_heads=4 op=rope",
                        "head_dim=256 rotary_dim=64 style=gptj dtype=f32 q_heads=2 kv_heads=2",
                        "head_dim=64 rotary_dim=2 q_heads=2 kv_heads=1",
                        "head_dim=64 rotary_dim=6 style=gptj dtype=f32 q_heads=2 kv_heads=1"})
    add(s, tokens(19), "partial rotary");
  // GQA ratios 1, 4, 8 and MQA.
  for (const char* h : {"q_heads=8 kv_heads=8", "q_heads=8 kv_heads=2", "q_heads=16 kv_heads=2", "q_heads=8 kv_heads=1"}) {
    add(std::string("head_dim=64 ") + h, tokens(21), "GQA/MQA");
    add(std::string("op=rope head_dim=64 style=gptj ") + h, tokens(21), "GQA/MQA rope");
  }
  // Index types, token counts, padding, packed QKV, slots from positions, table layouts.
  add("index=i64 head_dim=64 q_heads=4 kv_heads=2", tokens(29), "i64 paged");
  add("index=i64 op=kv_append cache=contiguous(order=nhd) head_dim=64 kv_heads=2", tokens(29), "i64 contiguous");
  add("index=i64 op=rope head_dim=64 q_heads=4 kv_heads=2", tokens(29), "i64 rope");
  for (long long t : {1LL, 2LL, 3LL, 5LL, 129LL}) add("head_dim=128 q_heads=8 kv_heads=2", tokens(t), "token count");
  add("head_dim=128 q_heads=8 kv_heads=2", tokens(0), "zero tokens: nothing changes");
  VerifyCase all_pad = tokens(17);
  all_pad.padding = 1.0;
  add("head_dim=64 q_heads=4 kv_heads=2 dtype=f16", all_pad, "every slot is padding: Q rotated, cache untouched");
  VerifyCase packed = tokens(23);
  packed.packed_qkv = true;
  add("head_dim=128 q_heads=8 kv_heads=2", packed, "packed QKV");
  add("op=rope head_dim=128 q_heads=8 kv_heads=2 style=gptj dtype=f16", packed, "packed QKV rope");
  add("op=kv_append head_dim=64 kv_heads=2 dtype=f32", packed, "packed KV append");
  VerifyCase by_pos = tokens(31);
  by_pos.slots_from_positions = true;
  add("head_dim=64 q_heads=4 kv_heads=2 cache=contiguous(order=hnd)", by_pos, "contiguous, slot = position");
  add("op=kv_append head_dim=64 kv_heads=2 cache=contiguous(order=nhd)", by_pos, "contiguous, slot = position");
  VerifyCase past = tokens(25);
  past.past_max_seq = true;
  add("head_dim=64 q_heads=4 kv_heads=2 cache=contiguous(order=hnd)", past, "contiguous hnd: slots >= max_seq skipped");
  add("index=i64 op=kv_append head_dim=64 kv_heads=3 dtype=f32 cache=contiguous(order=hnd)", past,
      "contiguous hnd i64: slots >= max_seq skipped");
  past.slots_from_positions = true;
  add("op=kv_append head_dim=32 kv_heads=2 cache=contiguous(order=hnd)", past,
      "contiguous hnd: positions >= max_seq skipped");
  VerifyCase split = tokens(27);
  split.combined_table = false;
  add("head_dim=128 q_heads=8 kv_heads=2 style=gptj", split, "separate cos and sin arrays");
  add("head_dim=128 rotary_dim=96 q_heads=8 kv_heads=2 dtype=f32", split, "separate arrays, partial");
  // cos/sin computed from theta, large positions.
  VerifyCase far = tokens(33);
  far.max_position = 1 << 20;
  for (const char* s : {"cos_sin=compute head_dim=128 q_heads=4 kv_heads=2",
                        "cos_sin=compute(theta=500000) dtype=f32 head_dim=128 q_heads=4 kv_heads=2 style=gptj",
                        "cos_sin=compute(theta=500000,scaling=linear(factor=8)) dtype=f16 head_dim=64 q_heads=4 kv_heads=1",
                        "cos_sin=compute(theta=10000,scaling=linear(factor=2)) op=rope dtype=f32 head_dim=80 rotary_dim=32 q_heads=2 kv_heads=2"})
    add(s, far, "computed cos/sin");
  // Schedules: wave64, heads split over grid y, a prefill-sized batch.
  add("wave=64 head_dim=128 q_heads=8 kv_heads=2", tokens(37), "wave64 schedule");
  add("wave=64 op=rope style=gptj dtype=f16 head_dim=64 q_heads=8 kv_heads=8", tokens(9), "wave64 schedule");
  VerifyCase decode = tokens(3);
  decode.parallelism = 64;
  add("head_dim=128 q_heads=32 kv_heads=8", decode, "decode-like head split");
  add("op=kv_append head_dim=128 kv_heads=8 dtype=f32", decode, "head split kv_append");
  add("head_dim=128 q_heads=8 kv_heads=2 dtype=bf16", tokens(2048), "prefill-sized batch");
  // checks = bounds on in-range data: the same results, nothing recorded (verify() checks
  // the bounds_error buffer), for every op, both table modes, padding and the head split.
  add("checks=bounds head_dim=128 q_heads=8 kv_heads=2 dtype=bf16", tokens(37), "checks=bounds, fused");
  add("checks=bounds op=rope style=gptj head_dim=64 q_heads=4 kv_heads=4 dtype=f16", split, "checks=bounds, rope");
  add("checks=bounds op=kv_append head_dim=64 kv_heads=2 dtype=f32 cache=contiguous(order=hnd)", tokens(29),
      "checks=bounds, kv_append");
  add("checks=bounds op=kv_append head_dim=64 kv_heads=2 cache=contiguous(order=nhd)", by_pos,
      "checks=bounds, slot = position");
  add("checks=bounds cos_sin=compute index=i64 head_dim=128 q_heads=4 kv_heads=2 cache=paged(block=8,order=hnd)", far,
      "checks=bounds, computed cos/sin");
  add("checks=bounds pdl=on head_dim=128 q_heads=8 kv_heads=2 dtype=bf16", tokens(37), "checks=bounds, pdl");
  add("checks=bounds head_dim=128 q_heads=32 kv_heads=8", decode, "checks=bounds, head split");
  // The limits in every checks mode (issue 26): cache_slots and table_rows passed, some tokens
  // past the cache or outside the table; they are skipped whole (checks = bounds: and one is
  // recorded), for every op, cache layout, table form, qk_norm's barriers, mrope, the head split.
  VerifyCase outside = tokens(37);
  outside.out_of_range = true;
  add("head_dim=128 q_heads=8 kv_heads=2 dtype=bf16", outside, "limits: fused, paged");
  add("op=rope style=gptj head_dim=64 q_heads=4 kv_heads=4 dtype=f16", outside, "limits: rope");
  add("op=kv_append head_dim=64 kv_heads=2 dtype=f32 cache=paged(block=16,order=hnd)", outside,
      "limits: kv_append, paged hnd");
  add("head_dim=64 q_heads=4 kv_heads=2 dtype=f32 cache=contiguous(order=hnd) index=i64", outside,
      "limits: contiguous hnd, i64");
  add("qk_norm=rms(eps=1e-6) head_dim=64 q_heads=4 kv_heads=2 outputs=separate", outside,
      "limits: qk_norm (barriers), k_out");
  add("positions=mrope(sections=[16,24,24]) head_dim=128 q_heads=8 kv_heads=2 dtype=bf16", outside,
      "limits: mrope rows");
  add("cos_sin=compute head_dim=128 q_heads=4 kv_heads=2 pdl=on", outside, "limits: computed cos/sin (slots only), pdl");
  add("checks=bounds head_dim=128 q_heads=8 kv_heads=2 dtype=bf16", outside, "limits: checks=bounds records one");
  VerifyCase outside_split = outside;
  outside_split.combined_table = false;
  outside_split.slots_from_positions = true;
  add("head_dim=64 q_heads=4 kv_heads=2 cache=contiguous(order=nhd)", outside_split,
      "limits: slot = position, separate arrays");
  add("op=kv_append head_dim=64 kv_heads=2 cache=contiguous(order=nhd)", outside_split, "limits: kv_append by position");
  VerifyCase outside_decode = tokens(9);
  outside_decode.out_of_range = true;
  outside_decode.parallelism = 64;
  add("head_dim=128 q_heads=32 kv_heads=8", outside_decode, "limits: head split");

  // One launch, many layers (layers = many): three layers with their own q, k, v (the layer
  // strides), caches, scales, weights and outputs (their records), shared tokens; each layer
  // against the single-layer reference.
  const std::string lay = "layers=many ";
  add(lay + "head_dim=128 q_heads=8 kv_heads=2 dtype=bf16", tokens(37), "layers: bf16, paged nhd");
  add(lay + "head_dim=128 q_heads=8 kv_heads=2 dtype=bf16 cache_dtype=fp8_e4m3 scales=per_head", tokens(37),
      "layers: fp8 cache, per-layer per-head scales");
  add(lay + "head_dim=128 q_heads=8 kv_heads=2 dtype=bf16 cache_dtype=nvfp4 cache=paged(block=16,order=hnd)", tokens(29),
      "layers: nvfp4 cache, per-layer scale tensors and global scales");
  add(lay + "cache_dtype=int8 scales=per_token_head op=kv_append head_dim=64 kv_heads=2 dtype=f16", tokens(23),
      "layers: int8 cache, kv_append");
  {
    VerifyCase v = tokens(31);
    v.cache_layout = "N2BH";  // K and V in one buffer per layer
    add(lay + "head_dim=64 q_heads=4 kv_heads=2 dtype=bf16 cache=paged(block=8,order=strided)", v,
        "layers: strided cache, K and V stacked");
  }
  {
    VerifyCase v = tokens(21);
    v.packed_qkv = true;  // q, k, v of a layer in one buffer: one layer stride moves all three
    add(lay + "qk_norm=rms(eps=1e-6) outputs=separate bias=qkv head_dim=64 q_heads=4 kv_heads=2 dtype=f32", v,
        "layers: packed QKV, per-layer norm weights, biases, q_out and k_out");
  }
  add(lay + "gate=interleaved q_dtype=fp8_e4m3 outputs=separate head_dim=64 q_heads=4 kv_heads=2 dtype=bf16",
      tokens(17), "layers: gate_out, fp8 q_out with per-layer q_scale");
  add(lay + "cache=contiguous(order=hnd) op=kv_append head_dim=64 kv_heads=4 dtype=f32 index=i64", tokens(19),
      "layers: contiguous hnd cache, kv_append");
  add(lay + "checks=bounds head_dim=128 q_heads=8 kv_heads=2 dtype=bf16", outside, "layers: checks=bounds, limits");
  add(lay + "window=ring(size=20,sinks=3) head_dim=64 q_heads=4 kv_heads=2 dtype=bf16 cache=paged(block=8)", seqs,
      "layers: ring caches, ring_base shared");
  add(lay + "cache_tail=zero head_dim=64 q_heads=4 kv_heads=2 dtype=f16 cache=paged(block=16)", seqs,
      "layers: each layer's page tails zeroed");
  add(lay + "cache=paged(block=16,order=amd_shuffle) head_dim=64 q_heads=4 kv_heads=2 dtype=bf16", tokens(23),
      "layers: AMD shuffled layouts");
  add(lay + "pdl=on cache_dtype=fp8_e4m3 scales=per_token_head head_dim=128 q_heads=8 kv_heads=2 dtype=bf16", tokens(29),
      "layers: pdl (records read before the wait), fp8 per_token_head scale tensors");
  {
    VerifyCase v = tokens(5);
    v.parallelism = 64;  // decode: heads split over grid y, layers over grid z
    v.layers = 4;
    add(lay + "head_dim=128 q_heads=32 kv_heads=8 dtype=bf16", v, "layers: decode, four layers, head split");
  }
}

}  // namespace ropegen
