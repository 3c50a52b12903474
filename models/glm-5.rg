# GLM-5 class (zai-org/GLM-5, model_type glm_moe_dsa): DeepSeek-V3.2-style MLA with the DSA
# sparse-attention indexer. Values from the config.json of the GLM-5.x releases as public code
# quotes it (transformers' GlmMoeDsaConfig defaults give the same shapes): num_attention_heads
# 64, qk_nope_head_dim 192, qk_rope_head_dim 64 (q heads of 256, the rope part last),
# kv_lora_rank 512, rope_interleave true, rope_parameters {rope_theta 8000000, rope_type
# default}, index_n_heads 32, index_head_dim 128 (rope part first), indexer_rope_interleave
# true; the indexer's LayerNorm eps 1e-6 (transformers' GlmMoeDsaIndexer). Head weights
# * n_heads^-0.5 * head_dim^-0.5 = 1 / sqrt(32 * 128) = 0.015625.
# MLA cache: the 656-byte fp8_ds_mla record (as deepseek-v3.2.rg: the MLA shape is the same).
# Uncertain: rope_theta differs between releases read here (8000000 in GLM-5.x's config;
# transformers' defaults leave it to rope_parameters); the indexer's pairing (the config says
# interleaved, transformers' GlmMoeDsaIndexer docstring says NeoX: gptj is taken from the
# config); the indexer's scale format (ue8m0 as DeepSeek-V3.2's checkpoint, an assumption) and
# k_quant (vLLM's divide). index_topk (2048) is not part of these kernels.

kernel mla {
  op = mla_rope_append
  head_dim = 256
  rotary_dim = 64
  rotary_offset = 192
  style = gptj
  q_heads = 64
  kv_lora_rank = 512
  dtype = bf16
  cache = paged(block = 64)
  cache_record = fp8_ds_mla
  cos_sin = compute(theta = 8000000)
}

kernel indexer {
  op = indexer_append
  head_dim = 128
  rotary_dim = 64
  style = gptj
  q_heads = 32
  dtype = bf16
  cache = paged(block = 64)
  cache_dtype = fp8_e4m3
  k_norm = layernorm(eps = 1e-6)
  scale_fmt = ue8m0
  k_quant = divide
  weights_scale = 0.015625
  cos_sin = compute(theta = 8000000)
}
