# Llama 3.1 8B: meta-llama/Llama-3.1-8B (config.json).
# Used: head_dim 128 (hidden_size 4096 / num_attention_heads 32), num_attention_heads 32,
# num_key_value_heads 8, rope_theta 500000, rope_scaling {rope_type llama3, factor 8.0,
# low_freq_factor 1.0, high_freq_factor 4.0, original_max_position_embeddings 8192}.
# Style: rotate_half (neox), as Hugging Face's LlamaAttention applies it.

kernel llama31_8b {
  op = rope_kv_append
  head_dim = 128
  style = neox
  q_heads = 32
  kv_heads = 8
  dtype = bf16
  cos_sin = compute(theta = 500000, scaling = llama3(factor = 8, low_freq_factor = 1, high_freq_factor = 4, original_max_position_embeddings = 8192))
  cache = paged(block = 16, order = nhd)
}
