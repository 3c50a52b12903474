# Qwen3-VL vision tower (Qwen/Qwen3-VL-8B-Instruct, vision_config): hidden_size 1152,
# num_heads 16 -> head_dim 72. Its VisionRotaryEmbedding(head_dim // 2) has 18 frequencies
# theta^(-2i/36) (theta 10000) for one coordinate; a patch's rotary embedding is the 18 of its
# row followed by the 18 of its column (rot_pos_emb), and q and k turn by rotate_half (NeoX
# halves over the full head) in fp32: positions = vision(sections = [18, 18]) with the
# exponent restarting in the column section (b^(-4j'/72)). The engine passes positions as
# [2, patches]: the row ids, then the column ids (after its spatial-merge reordering).
# The vision tower has no KV cache: op = rope, q and k rotated in place (its qkv projection
# gives q, k, v of 16 heads each). Uncertain: whether a checkpoint's bf16 tower rounds cos/sin
# to bf16 before the rotation; transformers' apply_rotary_pos_emb_vision computes in fp32 and
# casts the result back, as ropegen does.
# Qwen2/2.5-VL's towers are the same with head_dim 80 (1280 / 16): sections = [20, 20].

kernel qwen3_vl_vision {
  op = rope
  head_dim = 72
  style = neox
  q_heads = 16
  kv_heads = 16
  dtype = bf16
  positions = vision(sections = [18, 18])
  cos_sin = compute(theta = 10000)
}
