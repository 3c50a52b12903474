# Qwen3 8B: Qwen/Qwen3-8B (config.json).
# Used: head_dim 128, num_attention_heads 32, num_key_value_heads 8, rope_theta 1000000,
# rope_scaling null (32k native; the card's YaRN factor 4 for 131072 is opt-in). Style neox.
# Qwen3 applies a per-head RMSNorm to q and k before RoPE (q_norm, k_norm; rms_norm_eps 1e-6):
# qk_norm = rms(eps = 1e-6) with the layer's q_norm and k_norm weights.

kernel qwen3_8b {
  op = rope_kv_append
  head_dim = 128
  style = neox
  q_heads = 32
  kv_heads = 8
  dtype = bf16
  cos_sin = compute(theta = 1000000)
  qk_norm = rms(eps = 1e-6)
  cache = paged(block = 16, order = nhd)
}
