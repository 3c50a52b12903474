# MiniMax-M2 (MiniMaxAI/MiniMax-M2). Its config.json is not readable from here: the values are
# the defaults of the MiniMaxM2Config class that public ports (GPTQModel's hf_minimax_m2)
# ship for this checkpoint, which match the model card (62 layers, 48 heads).
# Used: head_dim 128, num_attention_heads 48, num_key_value_heads 8, rope_theta 5000000,
# rotary_dim 64 (partial RoPE on the first 64 dimensions, exponent denominator 64),
# rms_norm_eps 1e-6, use_qk_norm with qk_norm_type per_layer: one RMSNorm over all of a
# token's q heads (weights 48 x 128) and one over its k heads (8 x 128), not per head.
# Style: neox (the Llama rotate_half).
# Under tensor parallelism each rank holds some heads, and the sum of squares is all-reduced
# before the scale (vLLM); this kernel normalises over the heads it is given.

kernel minimax_m2 {
  op = rope_kv_append
  head_dim = 128
  rotary_dim = 64
  style = neox
  q_heads = 48
  kv_heads = 8
  dtype = bf16
  cos_sin = compute(theta = 5000000)
  qk_norm = rms(eps = 1e-6, span = all_heads)
  cache = paged(block = 16, order = nhd)
}
