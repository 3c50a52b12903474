// The seed-style baseline (Llama-3-8B shape, fp32): one block of 256 threads per (token,
// head), scalar loads, rope and append as two kernels: the build-time kernels' shape (64 of
// 256 threads busy for head_dim 128).

RG_KERNEL(256) rg_seed_rope(ropegen_kernel_args a) {
  const int t = rg_block_x(), h = rg_block_y(), i = rg_thread_x();
  if (i >= 64) return;
  float* x = h < 32 ? static_cast<float*>(a.q) + t * a.q_stride + h * 128
                    : static_cast<float*>(a.k) + t * a.k_stride + (h - 32) * 128;
  const int pos = static_cast<const int*>(a.positions)[t];
  const float c = a.cos[pos * a.cos_sin_stride + i], s = a.sin[pos * a.cos_sin_stride + i];
  const float x0 = x[i], x1 = x[i + 64];
  x[i] = x0 * c - x1 * s;
  x[i + 64] = x1 * c + x0 * s;
}
RG_KERNEL(256) rg_seed_append(ropegen_kernel_args a) {
  const int t = rg_block_x(), h = rg_block_y(), i = rg_thread_x();
  if (i >= 128) return;
  const long long slot = static_cast<const int*>(a.slot_mapping)[t];
  if (slot < 0) return;
  const long long dst = (slot * 8 + h) * 128 + i;
  static_cast<float*>(a.k_cache)[dst] = static_cast<const float*>(a.k)[t * a.k_stride + h * 128 + i];
  static_cast<float*>(a.v_cache)[dst] = static_cast<const float*>(a.v)[t * a.v_stride + h * 128 + i];
}
