// A plain copy, 16 bytes per thread: the floor of a decode size (as many bytes as the fused
// kernel moves). num_tokens is the number of 16-byte vectors, q the source, k_cache the
// destination.

RG_KERNEL(256) rg_copy_bytes(ropegen_kernel_args a) {
  using V = rg_raw<16>::type;
  const long long i = static_cast<long long>(rg_block_x()) * 256 + rg_thread_x();
  if (i >= a.num_tokens) return;  // num_tokens: 16-byte vectors to copy
  static_cast<V*>(a.k_cache)[i] = static_cast<const V*>(a.q)[i];
}
