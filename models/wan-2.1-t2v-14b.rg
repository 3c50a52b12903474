# Wan 2.1 T2V 14B (Wan-AI/Wan2.1-T2V-14B), self-attention of the DiT blocks: the Wan-Video/Wan2.1
# repository's wan/configs/wan_t2v_14B.py (dim 5120, num_heads 40: head_dim 128; qk_norm True,
# eps 1e-6) and wan/modules/model.py:
# - q and k are normalized by WanRMSNorm(dim) before they are split into heads: one RMS over all
#   5120 values of a token (in fp32, rounded to the dtype, then times the weight):
#   qk_norm = rms(eps = 1e-6, span = all_heads).
# - rope_apply: 3-D RoPE over the token grid (frames, height, width after patching), the head's
#   64 complex pairs (adjacent channels: style = gptj) split 22 / 21 / 21 between frame, row and
#   column, each axis with its own frequencies theta^(-2i / dim_axis), theta 10000:
#   positions = grid(sections = [22, 21, 21]); grid_h and grid_w are the patched latent's height
#   and width, each token's position its index in the grid.
# Not in this kernel: the DiT has no KV cache (op = rope); Wan evaluates the rotation in float64
# (here fp32, angle = exact would take the angle in double).

kernel wan21_t2v_14b {
  op = rope
  head_dim = 128
  q_heads = 40
  kv_heads = 40
  dtype = bf16
  style = gptj
  positions = grid(sections = [22, 21, 21])
  cos_sin = compute(theta = 10000)
  qk_norm = rms(eps = 1e-6, span = all_heads)
}
