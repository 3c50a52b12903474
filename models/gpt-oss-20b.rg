# gpt-oss 20B: openai/gpt-oss-20b (config.json).
# Used: head_dim 64, num_attention_heads 64, num_key_value_heads 8, rope_theta 150000,
# rope_scaling {rope_type yarn, factor 32.0, beta_fast 32.0, beta_slow 1.0,
# original_max_position_embeddings 4096, truncate false}; attention factor 0.1 ln 32 + 1.
# Style neox (the reference splits each head in two halves).
# Not in RoPE: the attention sinks and the alternating sliding window (128).

kernel gpt_oss_20b {
  op = rope_kv_append
  head_dim = 64
  style = neox
  q_heads = 64
  kv_heads = 8
  dtype = bf16
  cos_sin = compute(theta = 150000, scaling = yarn(factor = 32, original_max_position_embeddings = 4096, beta_fast = 32, beta_slow = 1, truncate = false))
  cache = paged(block = 16, order = nhd)
}
