# Mistral 7B: mistralai/Mistral-7B-v0.1 (config.json).
# Used: head_dim 128 (4096 / 32), num_attention_heads 32, num_key_value_heads 8, rope_theta 10000,
# no rope_scaling. Style neox.
# Mistral-7B-v0.3 (and Instruct-v0.2/0.3) use rope_theta 1000000 with the same shapes:
# mistral_7b_v03.

kernel mistral_7b_v01 {
  op = rope_kv_append
  head_dim = 128
  style = neox
  q_heads = 32
  kv_heads = 8
  dtype = bf16
  cos_sin = compute(theta = 10000)
  cache = paged(block = 16, order = nhd)
}

kernel mistral_7b_v03 {
  op = rope_kv_append
  head_dim = 128
  style = neox
  q_heads = 32
  kv_heads = 8
  dtype = bf16
  cos_sin = compute(theta = 1000000)
  cache = paged(block = 16, order = nhd)
}
