# Gemma 2 9B: google/gemma-2-9b (config.json).
# Used: head_dim 256, num_attention_heads 16, num_key_value_heads 8, rope_theta 10000,
# no rope_scaling. Style neox. Local (sliding window 4096) and global layers share one RoPE.
# Not in RoPE: query_pre_attn_scalar 256, attention logit soft-capping.

kernel gemma2_9b {
  op = rope_kv_append
  head_dim = 256
  style = neox
  q_heads = 16
  kv_heads = 8
  dtype = bf16
  cos_sin = compute(theta = 10000)
  cache = paged(block = 16, order = nhd)
}
