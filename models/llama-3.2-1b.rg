# Llama 3.2 1B: meta-llama/Llama-3.2-1B (config.json).
# Used: head_dim 64, num_attention_heads 32, num_key_value_heads 8, rope_theta 500000,
# rope_scaling {rope_type llama3, factor 32.0, low_freq_factor 1.0, high_freq_factor 4.0,
# original_max_position_embeddings 8192}. Style neox (rotate_half).

kernel llama32_1b {
  op = rope_kv_append
  head_dim = 64
  style = neox
  q_heads = 32
  kv_heads = 8
  dtype = bf16
  cos_sin = compute(theta = 500000, scaling = llama3(factor = 32, low_freq_factor = 1, high_freq_factor = 4, original_max_position_embeddings = 8192))
  cache = paged(block = 16, order = nhd)
}
