# GPT-J 6B: EleutherAI/gpt-j-6b (config.json).
# Used: n_embd 4096, n_head 16 (head_dim 256, multi-head: kv_heads 16), rotary_dim 64,
# base 10000 (fixed in the modeling code; not a config key). Style: interleaved (gptj:
# rotate_every_two over adjacent pairs). Elements 64..255 pass through.

kernel gptj_6b {
  op = rope_kv_append
  head_dim = 256
  rotary_dim = 64
  style = gptj
  q_heads = 16
  kv_heads = 16
  dtype = bf16
  cos_sin = compute(theta = 10000)
  cache = paged(block = 16, order = nhd)
}
