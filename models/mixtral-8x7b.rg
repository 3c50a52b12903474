# Mixtral 8x7B: mistralai/Mixtral-8x7B-v0.1 (config.json).
# Used: head_dim 128 (4096 / 32), num_attention_heads 32, num_key_value_heads 8,
# rope_theta 1000000, no rope_scaling. Style neox.

kernel mixtral_8x7b {
  op = rope_kv_append
  head_dim = 128
  style = neox
  q_heads = 32
  kv_heads = 8
  dtype = bf16
  cos_sin = compute(theta = 1000000)
  cache = paged(block = 16, order = nhd)
}
