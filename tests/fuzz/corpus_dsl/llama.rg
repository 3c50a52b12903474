kernel llama3_8b {
  op         = rope_kv_append
  head_dim   = 128
  q_heads    = 32; kv_heads = 8
  dtype      = bf16
  cos_sin    = compute(theta = 500000, scaling = linear(factor = 2))
  cache      = paged(block = 16, order = nhd)
}
kernel small{op=rope head_dim=64 rotary_dim=32 style=gptj q_heads=4 kv_heads=4 dtype=f16 index=i64}
