# Hunyuan A13B: tencent/Hunyuan-A13B-Instruct (config.json, model_type hunyuan_v1_moe).
# Used: head_dim 128, num_attention_heads 32, num_key_value_heads 8, rope_theta 10000,
# rope_scaling {type dynamic, alpha 1000.0, factor 1.0}: Hunyuan's NTK-alpha, a fixed base
# 10000 * 1000^(128 / 126) (not length dependent despite the name). Style neox.
# Not in this kernel: q/k RMSNorm after RoPE (use_qk_norm).
# Uncertain: head counts from a description of the config (32 layers, hidden 4096, 32 q heads,
# 8 kv heads, head_dim 128); the rope_scaling alpha 1000 is what Hunyuan configs carry
# (Hunyuan-Large, Hunyuan-A13B and their test copies).

kernel hunyuan_a13b {
  op = rope_kv_append
  head_dim = 128
  style = neox
  q_heads = 32
  kv_heads = 8
  dtype = bf16
  cos_sin = compute(theta = 10000, scaling = ntk_alpha(alpha = 1000))
  cache = paged(block = 16, order = nhd)
}
