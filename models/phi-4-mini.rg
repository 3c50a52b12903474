# Phi-4 mini: microsoft/Phi-4-mini-instruct (config.json).
# Used: head_dim 128 (3072 / 24), num_attention_heads 24, num_key_value_heads 8,
# partial_rotary_factor 0.75 (rotary_dim 96, 48 factors), rope_theta 10000,
# original_max_position_embeddings 4096, max_position_embeddings 131072,
# rope_scaling {type longrope, long_factor [48], short_factor [48 x 1.0]}. Style neox.
# Attention factor: not given, so sqrt(1 + ln(32) / ln(4096)) = 1.1902380714.
# choose = static, max_model_len = 131072 (vLLM's choice: long factors).
# Uncertain: most copies of the config (one pinned at revision cfbefacb99257ffa30c83adab238a50856ac3083)
# give short_factor = 48 x 1.0; one port copies long_factor into short_factor. With choose = static
# and max_model_len 131072 only long_factor is used.
# Needs scaling = longrope(...), which is being added on main.

kernel phi4_mini {
  op = rope_kv_append
  head_dim = 128
  rotary_dim = 96
  style = neox
  q_heads = 24
  kv_heads = 8
  dtype = bf16
  cos_sin = compute(theta = 10000, scaling = longrope(
    short_factor = [
      1.0, 1.0, 1.0, 1.0, 1.0, 1.0,
      1.0, 1.0, 1.0, 1.0, 1.0, 1.0,
      1.0, 1.0, 1.0, 1.0, 1.0, 1.0,
      1.0, 1.0, 1.0, 1.0, 1.0, 1.0,
      1.0, 1.0, 1.0, 1.0, 1.0, 1.0,
      1.0, 1.0, 1.0, 1.0, 1.0, 1.0,
      1.0, 1.0, 1.0, 1.0, 1.0, 1.0,
      1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
    long_factor = [
      1, 1.118320672, 1.250641126, 1.398617824, 1.564103225, 1.74916897,
      1.956131817, 2.187582649, 2.446418898, 2.735880826, 3.059592084, 3.421605075,
      3.826451687, 4.279200023, 4.785517845, 5.351743533, 5.984965424, 6.693110555,
      7.485043894, 8.370679318, 9.36110372, 10.4687158, 11.70738129, 13.09260651,
      14.64173252, 16.37415215, 18.31155283, 20.47818807, 22.90118105, 25.61086418,
      28.64115884, 32.03, 32.1, 32.13, 32.23, 32.6,
      32.61, 32.64, 32.66, 32.7, 32.71, 32.93,
      32.97, 33.28, 33.49, 33.5, 44.16, 47.77],
    original_max_position_embeddings = 4096, max_position_embeddings = 131072,
    choose = static, max_model_len = 131072))
  cache = paged(block = 16, order = nhd)
}
