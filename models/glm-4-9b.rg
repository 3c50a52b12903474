# GLM-4 9B: THUDM/glm-4-9b-chat (config.json, model_type chatglm).
# Used: num_attention_heads 32, kv_channels 128 (head_dim), multi_query_group_num 2 (kv_heads),
# rope_ratio 500 (base 10000 * 500 = 5000000), original_rope true: the rotary part is half the
# head (64 elements, frequencies over d = 64) with interleaved pairs (gptj), as modeling_chatglm's
# apply_rotary_pos_emb (x.reshape(..., rot_dim / 2, 2)). Elements 64..127 pass through.
# The transformers port (THUDM/glm-4-9b-chat-hf) states the same as partial_rotary_factor 0.5.

kernel glm4_9b {
  op = rope_kv_append
  head_dim = 128
  rotary_dim = 64
  style = gptj
  q_heads = 32
  kv_heads = 2
  dtype = bf16
  cos_sin = compute(theta = 5000000)
  cache = paged(block = 16, order = nhd)
}
