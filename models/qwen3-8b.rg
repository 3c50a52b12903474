# Qwen3 8B: Qwen/Qwen3-8B (config.json).
# Used: head_dim 128, num_attention_heads 32, num_key_value_heads 8, rope_theta 1000000,
# rope_scaling null (32k native; the card's YaRN factor 4 for 131072 is opt-in). Style neox.
# Not in this kernel: Qwen3 applies a per-head RMSNorm to q and k before RoPE (q_norm, k_norm).

kernel qwen3_8b {
  op = rope_kv_append
  head_dim = 128
  style = neox
  q_heads = 32
  kv_heads = 8
  dtype = bf16
  cos_sin = compute(theta = 1000000)
  cache = paged(block = 16, order = nhd)
}
