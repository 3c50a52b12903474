# Qwen2.5 7B: Qwen/Qwen2.5-7B-Instruct (config.json).
# Used: head_dim 128 (hidden_size 3584 / num_attention_heads 28), num_attention_heads 28,
# num_key_value_heads 4, rope_theta 1000000, no rope_scaling (32k context). Style neox.
# qwen25_7b_yarn: the 128k setting of the model card ("rope_scaling": {"type": "yarn",
# "factor": 4.0, "original_max_position_embeddings": 32768}); beta_fast 32, beta_slow 1 and the
# attention factor 0.1 ln 4 + 1 are the YaRN defaults. vLLM applies it for every length (static
# YaRN), as the model card warns.

kernel qwen25_7b {
  op = rope_kv_append
  head_dim = 128
  style = neox
  q_heads = 28
  kv_heads = 4
  dtype = bf16
  cos_sin = compute(theta = 1000000)
  cache = paged(block = 16, order = nhd)
}

kernel qwen25_7b_yarn {
  op = rope_kv_append
  head_dim = 128
  style = neox
  q_heads = 28
  kv_heads = 4
  dtype = bf16
  cos_sin = compute(theta = 1000000, scaling = yarn(factor = 4, original_max_position_embeddings = 32768))
  cache = paged(block = 16, order = nhd)
}
