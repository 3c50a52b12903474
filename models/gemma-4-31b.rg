# Gemma 4 31B, text part (google/gemma-4-31b-it). Its config.json is not readable from here:
# the values below are those that public ports of the model carry for the 31B text config,
# and the ones marked "uncertain" come from a single port.
# Used: 32 attention heads; sliding layers: head_dim 256, 16 KV heads, rope_theta 10000
# (default RoPE); full-attention (global) layers: global_head_dim 512, rope_theta 1000000,
# rope_type proportional with partial_rotary_factor 0.25 (128 of 512 dimensions turn, paired
# over the whole head: j with j + 256), attention_k_eq_v (no v_proj: v is the raw k).
# Uncertain: the global layers' KV head count 4 (num_global_key_value_heads; one port's
# global_num_query_groups = 4), and whether the sliding layers normalise v too (the mlx port
# applies the weightless v_norm on every layer; another port only with k_eq_v; kept on both).
# Norms: q_norm and k_norm multiply by w (Gemma 4; Gemma 3 used 1 + w), rms_norm_eps 1e-6; v is
# normalised without a weight, rounded to bf16 before the cache write. Style: neox (rotate_half).
# Not in this kernel: the sliding window (1024) and the attention soft-capping, which belong to
# the attention kernel; layers that reuse another layer's KV write none.

kernel gemma4_31b_sliding {
  op = rope_kv_append
  head_dim = 256
  style = neox
  q_heads = 32
  kv_heads = 16
  dtype = bf16
  cos_sin = compute(theta = 10000)
  qk_norm = rms(eps = 1e-6)
  v_norm = rms(eps = 1e-6)
  cache = paged(block = 16, order = nhd)
}

kernel gemma4_31b_global {
  op = rope_kv_append
  head_dim = 512
  style = neox
  q_heads = 32
  kv_heads = 4
  dtype = bf16
  cos_sin = compute(theta = 1000000, scaling = proportional(partial_rotary_factor = 0.25))
  qk_norm = rms(eps = 1e-6)
  v_norm = rms(eps = 1e-6)
  v_source = k
  cache = paged(block = 16, order = nhd)
}
