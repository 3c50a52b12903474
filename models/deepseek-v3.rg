# DeepSeek-V3 (and V3-0324, R1): deepseek-ai/DeepSeek-V3 (config.json), the RoPE part of MLA.
# Used: num_attention_heads 128, qk_nope_head_dim 128, qk_rope_head_dim 64 (q head = 192),
# kv_lora_rank 512, rope_theta 10000, rope_scaling {type yarn, factor 40,
# original_max_position_embeddings 4096, beta_fast 32, beta_slow 1, mscale 1.0,
# mscale_all_dim 1.0} = deepseek_yarn here (attention factor g(40, 1) / g(40, 1) = 1).
# Style: interleaved (gptj), as DeepSeek's reference code and vLLM (is_neox_style = False).
# mla: one launch per layer: q_pe (the last 64 elements of each 192-wide q head) rotated in
# place, and the cache row kv_c (512) || rotated k_pe (64) written through the slot mapping
# (k = k_pe, v = kv_c, k_cache = [blocks, 64, 576]; DeepSeek's vLLM cache uses block 64).
# q_pe and k_pe: the same rotations as two plain rope kernels, for engines that write the
# cache themselves (k_pe passed as the q of a 1-head kernel, k null).
# Not in RoPE: the softmax scale is also multiplied by g(40, mscale_all_dim)^2.

kernel mla {
  op = mla_rope_append
  head_dim = 192
  rotary_dim = 64
  rotary_offset = 128
  style = gptj
  q_heads = 128
  kv_lora_rank = 512
  dtype = bf16
  cache = paged(block = 64)
  cos_sin = compute(theta = 10000, scaling = deepseek_yarn(factor = 40, original_max_position_embeddings = 4096, beta_fast = 32, beta_slow = 1, mscale = 1, mscale_all_dim = 1))
}

kernel q_pe {
  op = rope
  head_dim = 192
  rotary_dim = 64
  rotary_offset = 128
  style = gptj
  q_heads = 128
  kv_heads = 1
  dtype = bf16
  cos_sin = compute(theta = 10000, scaling = deepseek_yarn(factor = 40, original_max_position_embeddings = 4096, beta_fast = 32, beta_slow = 1, mscale = 1, mscale_all_dim = 1))
}

kernel k_pe {
  op = rope
  head_dim = 64
  style = gptj
  q_heads = 1
  kv_heads = 1
  dtype = bf16
  cos_sin = compute(theta = 10000, scaling = deepseek_yarn(factor = 40, original_max_position_embeddings = 4096, beta_fast = 32, beta_slow = 1, mscale = 1, mscale_all_dim = 1))
}
