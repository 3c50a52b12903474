# Llama 4 Scout, text part: meta-llama/Llama-4-Scout-17B-16E(-Instruct) config.json, text_config.
# Used: head_dim 128, num_attention_heads 40, num_key_value_heads 8, rope_theta 500000,
# rope_scaling {rope_type llama3, factor 16.0, low_freq_factor 1.0, high_freq_factor 1.0,
# original_max_position_embeddings 8192}.
# Style: interleaved (gptj). Meta's and Hugging Face's Llama 4 rotate with complex numbers over
# adjacent pairs (view_as_complex); vLLM builds its rotary with is_neox_style = False.
# The RoPE layers normalise q and k after RoPE (use_qk_norm: Llama4TextL2Norm, x / sqrt(mean(x^2)
# + eps) in fp32 with no weight, eps = rms_norm_eps 1e-5): qk_norm = rms(eps = 1e-5, weight = none,
# order = post).
# Every 4th layer has no RoPE (no_rope_layers / no_rope_layer_interval 4): kernel
# llama4_scout_nope. Those layers rotate nothing (rotary_dim = 0), have no QK-norm (use_qk_norm
# applies to the RoPE layers) and scale q by the attention temperature (attn_temperature_tuning,
# floor_scale 8192, attn_scale 0.1): q_temperature = llama4(attn_scale = 0.1, floor_scale = 8192).
# Note: low_freq_factor == high_freq_factor (1.0), so llama3's middle band is empty; a copy of the
# config (unsloth) with factor 8 / high_freq_factor 4 also circulates; the values above are those
# of the meta-llama repository as quoted by several engines.

kernel llama4_scout {
  op = rope_kv_append
  head_dim = 128
  style = gptj
  q_heads = 40
  kv_heads = 8
  dtype = bf16
  cos_sin = compute(theta = 500000, scaling = llama3(factor = 16, low_freq_factor = 1, high_freq_factor = 1, original_max_position_embeddings = 8192))
  qk_norm = rms(eps = 1e-5, weight = none, order = post)
  cache = paged(block = 16, order = nhd)
}

kernel llama4_scout_nope {
  op = rope_kv_append
  head_dim = 128
  rotary_dim = 0
  q_heads = 40
  kv_heads = 8
  dtype = bf16
  q_temperature = llama4(attn_scale = 0.1, floor_scale = 8192)
  cache = paged(block = 16, order = nhd)
}
