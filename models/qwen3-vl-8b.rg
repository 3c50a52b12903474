# Qwen3-VL 8B: Qwen/Qwen3-VL-8B-Instruct (config.json, text_config).
# Used: head_dim 128, num_attention_heads 32, num_key_value_heads 8, rope_theta 5000000,
# rope_scaling {rope_type default, mrope_section [24, 20, 20], mrope_interleaved true}.
# Style neox. The rows cycle with the frequency index (t, h, w, t, h, w, ...) = imrope.
# q/k RMSNorm before RoPE as Qwen3 (rms_norm_eps 1e-6): qk_norm = rms(eps = 1e-6).
# Uncertain: the head counts were taken from the Qwen3-VL-8B model card/config as quoted by
# other projects; the rope values (theta 5000000, sections [24, 20, 20], interleaved) were
# seen in copies of Qwen3-VL text configs.
# Needs the positions key (multimodal RoPE), which is being added on main.

kernel qwen3_vl_8b {
  qk_norm = rms(eps = 1e-6)
  op = rope_kv_append
  head_dim = 128
  style = neox
  q_heads = 32
  kv_heads = 8
  dtype = bf16
  positions = imrope(sections = [24, 20, 20])
  cos_sin = compute(theta = 5000000)
  cache = paged(block = 16, order = nhd)
}
