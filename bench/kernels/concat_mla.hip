// DeepSeek MLA's concat_and_cache (V3 shape): kv_c (v, 512 wide) || k_pe (k, 64 wide) into
// one cache row of 72 16-byte vectors through the slot mapping. uint4 is the NVIDIA raw
// vector: the benchmark builds this kernel for NVIDIA targets only.

RG_KERNEL(128) rg_bench_concat_mla(ropegen_kernel_args a) {
  // One block per token: 72 threads copy the 16-byte vectors of kv_c (64) and k_pe (8).
  const long long t = rg_block_x();
  const int i = rg_thread_x();
  if (i >= 72) return;
  const long long slot = static_cast<const int*>(a.slot_mapping)[t];
  if (slot < 0) return;
  const uint4* src = i < 64 ? static_cast<const uint4*>(a.v) + t * (a.v_stride / 8) + i
                            : static_cast<const uint4*>(a.k) + t * (a.k_stride / 8) + (i - 64);
  static_cast<uint4*>(a.k_cache)[slot * 72 + i] = *src;
}
