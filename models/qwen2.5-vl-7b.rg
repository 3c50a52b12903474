# Qwen2.5-VL 7B: Qwen/Qwen2.5-VL-7B-Instruct (config.json).
# Used: head_dim 128 (hidden_size 3584 / 28 heads), num_attention_heads 28, num_key_value_heads 4,
# rope_theta 1000000, rope_scaling {type mrope, mrope_section [16, 24, 24]} (16 + 24 + 24 = 64 =
# head_dim / 2). Style neox. Positions are 3 rows (temporal, height, width); text tokens carry
# the same position in each.
# Needs the positions key (multimodal RoPE), which is being added on main.

kernel qwen25_vl_7b {
  op = rope_kv_append
  head_dim = 128
  style = neox
  q_heads = 28
  kv_heads = 4
  dtype = bf16
  positions = mrope(sections = [16, 24, 24])
  cos_sin = compute(theta = 1000000)
  cache = paged(block = 16, order = nhd)
}
