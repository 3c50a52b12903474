// The unfused QK-RMSNorm (Qwen3's q_norm / k_norm before RoPE) as a hand-written kernel:
// every q and k head of a token normalised in place, y = x / sqrt(mean(x^2) + 1e-6) * w,
// fp32 sums, with the weights in q_norm_weight and k_norm_weight ([head_dim] of the dtype
// each). One block of kThreads threads per token; 8 elements (16 bytes) per thread, a head
// per head_dim / 8 threads, heads in passes (grid y takes passes when there are few
// tokens). The sum of a head goes through block-shared memory (the prelude has no warp
// shuffles). The benchmark pastes the shape before this text: E (the dtype), V16, kHd,
// kQh, kKvh and kThreads.

constexpr int kLanes = kHd / 8, kPerPass = kThreads / kLanes, kPasses = (kQh + kKvh + kPerPass - 1) / kPerPass;
// 1 / sqrt(x) from the prelude's bit casts: an estimate and three Newton steps (fp32 accurate).
RG_DEVICE float rg_bench_rsqrt(float x) {
  float y = rg_as_float(0x5f3759dfu - (rg_as_uint(x) >> 1));
  for (int i = 0; i < 3; ++i) y = y * (1.5f - 0.5f * x * y * y);
  return y;
}
RG_KERNEL(256) rg_bench_qk_norm(ropegen_kernel_args a) {
  // Two buffers, used by turns: a pass writes one while a slower thread may still read the
  // other, so one barrier per pass suffices.
  RG_SHARED float part[2][kThreads];
  const long long t = rg_block_x();
  const int tid = rg_thread_x(), lane = tid % kLanes, slot = tid / kLanes;
  const E* tag = nullptr;
  int buf = 0;
  for (int pass = rg_block_y(); pass < kPasses; pass += rg_grid_y(), buf ^= 1) {
    const int h = pass * kPerPass + slot;
    const bool live = slot < kPerPass && h < kQh + kKvh;
    V16* row = nullptr;
    const V16* w = nullptr;
    float f[8] = {};
    float ss = 0;
    if (live) {
      row = reinterpret_cast<V16*>(h < kQh ? static_cast<E*>(a.q) + t * a.q_stride + h * kHd
                                           : static_cast<E*>(a.k) + t * a.k_stride + (h - kQh) * kHd) + lane;
      w = static_cast<const V16*>(h < kQh ? a.q_norm_weight : a.k_norm_weight) + lane;
      const V16 x = rg_load(row);
      for (int i = 0; i < 8; ++i) {
        const unsigned word = rg_word(x, i / 2);
        f[i] = rg_decode_bits(i % 2 ? word >> 16 : word & 0xffffu, tag);
        ss += f[i] * f[i];
      }
    }
    part[buf][tid] = ss;
    rg_barrier();
    float sum = 0;
    for (int i = 0; i < kLanes; ++i) sum += part[buf][(slot < kPerPass ? slot : 0) * kLanes + i];
    if (live) {
      const float r = rg_bench_rsqrt(sum / kHd + 1e-6f);
      const V16 wv = rg_load(w);
      V16 y = {};
      for (int i = 0; i < 8; i += 2) {
        const unsigned ww = rg_word(wv, i / 2);
        const unsigned lo = rg_encode_bits(f[i] * r * rg_decode_bits(ww & 0xffffu, tag), tag);
        const unsigned hi = rg_encode_bits(f[i + 1] * r * rg_decode_bits(ww >> 16, tag), tag);
        rg_set_word(y, i / 2, lo | hi << 16);
      }
      rg_store(row, y);
    }
  }
}
