# Gemma 3 12B: google/gemma-3-12b-it (config.json, text_config).
# Used: head_dim 256, num_attention_heads 16, num_key_value_heads 8;
# global layers (every 6th, sliding_window_pattern 6): rope_theta 1000000 with rope_scaling
# {rope_type linear, factor 8.0}; local layers (sliding window 1024): rope_local_base_freq 10000,
# no scaling. Style neox.
# q/k RMSNorm before RoPE with Gemma's (1 + w) weights (rms_norm_eps 1e-6):
# qk_norm = rms(eps = 1e-6, gemma = true).

kernel gemma3_12b_global {
  qk_norm = rms(eps = 1e-6, gemma = true)
  op = rope_kv_append
  head_dim = 256
  style = neox
  q_heads = 16
  kv_heads = 8
  dtype = bf16
  cos_sin = compute(theta = 1000000, scaling = linear(factor = 8))
  cache = paged(block = 16, order = nhd)
}

kernel gemma3_12b_local {
  qk_norm = rms(eps = 1e-6, gemma = true)
  op = rope_kv_append
  head_dim = 256
  style = neox
  q_heads = 16
  kv_heads = 8
  dtype = bf16
  cos_sin = compute(theta = 10000)
  cache = paged(block = 16, order = nhd)
}
