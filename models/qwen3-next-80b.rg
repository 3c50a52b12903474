# Qwen3-Next 80B-A3B, full-attention layers (Qwen/Qwen3-Next-80B-A3B-Instruct). Its config.json
# is not readable here; the values are those of the Qwen3NextConfig class in public ports, whose
# docstring says its defaults match this checkpoint: head_dim 256, num_attention_heads 16,
# num_key_value_heads 2, partial_rotary_factor 0.25 (rotary_dim 64), rms_norm_eps 1e-6.
# Uncertain: rope_theta. The class default is 10000; the checkpoint's config is quoted by
# engines as 10000000, which is used here.
# Gated attention: the q projection gives per head [q_h (256) | gate_h (256)], interleaved head
# by head: gate = interleaved. The kernel reads the q projection's output as it is ([tokens, 16,
# 512]), writes the normalized, rotated q packed to q_out (outputs = separate) and each gate
# half packed to gate_out, for the sigmoid the engine applies after attention. No QKV bias
# (attention_bias false in the class defaults).
# QK norm multiplies by 1 + w (Qwen3NextRMSNorm): qk_norm = rms(eps = 1e-6, weight = one_plus_w).
# Style: neox (rotate_half). The linear-attention (Gated DeltaNet) layers have no RoPE.

kernel qwen3_next_80b {
  op = rope_kv_append
  head_dim = 256
  rotary_dim = 64
  style = neox
  q_heads = 16
  kv_heads = 2
  dtype = bf16
  cos_sin = compute(theta = 10000000)
  qk_norm = rms(eps = 1e-6, weight = one_plus_w)
  gate = interleaved
  outputs = separate
  cache = paged(block = 16, order = nhd)
}
