# Falcon 7B: tiiuae/falcon-7b (config.json).
# Used: hidden_size 4544, num_attention_heads 71 (head_dim 64), multi_query true (kv_heads 1),
# rotary (alibi false), rope_theta 10000 (the default; not in the config). Style neox.

kernel falcon_7b {
  op = rope_kv_append
  head_dim = 64
  style = neox
  q_heads = 71
  kv_heads = 1
  dtype = bf16
  cos_sin = compute(theta = 10000)
  cache = paged(block = 16, order = nhd)
}
