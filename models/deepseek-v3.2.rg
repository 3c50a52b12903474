# DeepSeek-V3.2 (deepseek-ai/DeepSeek-V3.2-Exp, config.json; the indexer from its
# inference/model.py and vLLM's DeepSeek-V3.2 indexer): MLA as DeepSeek-V3, plus the
# sparse-attention indexer's K cache and fp8 Q.
# Used: num_attention_heads 128, qk_nope_head_dim 128, qk_rope_head_dim 64, kv_lora_rank 512,
# rope_theta 10000, rope_scaling {type yarn, factor 40, original_max_position_embeddings 4096,
# beta_fast 32, beta_slow 1, mscale 1.0, mscale_all_dim 1.0} = deepseek_yarn (as
# deepseek-v3.rg); index_n_heads 64, index_head_dim 128 (rope part first: 64 of 128);
# index_topk (2048) is not part of these kernels.
# indexer: LayerNorm of k (fp32 weight and bias, eps 1e-6), RoPE half-split (neox) on the
# first 64 dims, fp8 e4m3 rows with one fp32 scale per 128 values in block records of 64
# tokens (vLLM's block size for this model); q per head the same RoPE, fp8 with a scale per
# (token, head); head weights * q_s * index_n_heads^-0.5 * index_head_dim^-0.5
# (weights_scale = 1 / sqrt(64 * 128) = 0.011048543456039806).
# Uncertain: scale_fmt (ue8m0 here: the checkpoint's quantization_config names ue8m0 and the
# reference act_quant takes it; a deployment may use fp32 scales), that the indexer's RoPE
# uses the same yarn-scaled frequencies as MLA (the reference shares freqs_cis), its neox
# pairing (rope-math.md; DeepSeek's MLA is interleaved), and k_quant (vLLM divides, AITER
# multiplies; they agree with ue8m0 scales). On gfx942 (FNUZ) add fp8_max = 224 or 240.
# MLA cache: the 656-byte fp8_ds_mla record vLLM writes for this model (kv_cache_dtype
# "fp8_ds_mla"; cache-layouts.md): 512 e4m3 bytes of kv_c / s_t in 4 tiles of 128, the 4 fp32
# tile scales max(amax / 448, FLT_MIN), the 64 rotated k_pe values in bf16. On gfx942 vLLM
# writes e4m3fnuz bytes with divisor 224: spell the record out with qmax = 224 there.

kernel mla {
  op = mla_rope_append
  head_dim = 192
  rotary_dim = 64
  rotary_offset = 128
  style = gptj
  q_heads = 128
  kv_lora_rank = 512
  dtype = bf16
  cache = paged(block = 64)
  cache_record = fp8_ds_mla
  cos_sin = compute(theta = 10000, scaling = deepseek_yarn(factor = 40, original_max_position_embeddings = 4096, beta_fast = 32, beta_slow = 1, mscale = 1, mscale_all_dim = 1))
}

kernel indexer {
  op = indexer_append
  head_dim = 128
  rotary_dim = 64
  style = neox
  q_heads = 64
  dtype = bf16
  cache = paged(block = 64)
  cache_dtype = fp8_e4m3
  k_norm = layernorm(eps = 1e-6)
  scale_fmt = ue8m0
  k_quant = divide
  weights_scale = 0.011048543456039806
  cos_sin = compute(theta = 10000, scaling = deepseek_yarn(factor = 40, original_max_position_embeddings = 4096, beta_fast = 32, beta_slow = 1, mscale = 1, mscale_all_dim = 1))
}
