# GPT-NeoX 20B: EleutherAI/gpt-neox-20b (config.json).
# Used: hidden_size 6144, num_attention_heads 64 (head_dim 96, multi-head: kv_heads 64),
# rotary_pct 0.25 (rotary_dim 24), rotary_emb_base 10000. Style neox (rotate_half over the
# rotated 24). Elements 24..95 pass through.

kernel gpt_neox_20b {
  op = rope_kv_append
  head_dim = 96
  rotary_dim = 24
  style = neox
  q_heads = 64
  kv_heads = 64
  dtype = bf16
  cos_sin = compute(theta = 10000)
  cache = paged(block = 16, order = nhd)
}
