// The unfused fp8 append as a hand-written kernel: a token's (already rotated) k and v
// quantized to OCP e4m3, q = saturate(round_nearest_even(x / scale)) with per-tensor scales
// read from device memory (k_scale, v_scale), into a paged NHD cache (a slot's row is slot *
// kv_heads * head_dim elements in; the block size does not enter). 8 elements per thread:
// 16 bytes in, 8 out; one block per token. The benchmark pastes the target's fp8 encoders
// (templates/fp8.h with the vendor's hardware header, as emit() pastes them) and the shape
// before this text: E (the dtype), V16, V8, kHd, kQh, kKvh and kThreads.

constexpr int kRowVecs = kKvh * kHd / 8;  // 16-byte vectors in a token's k (or v) row
RG_KERNEL(kThreads) rg_bench_append_fp8(ropegen_kernel_args a) {
  const long long t = rg_block_x();
  const int tid = rg_thread_x();
  const long long slot = static_cast<const int*>(a.slot_mapping)[t];
  if (slot < 0) return;
  const bool is_v = tid >= kRowVecs;
  const int c = is_v ? tid - kRowVecs : tid;
  const E* src = is_v ? static_cast<const E*>(a.v) + t * a.v_stride : static_cast<const E*>(a.k) + t * a.k_stride;
  const float scale = is_v ? a.v_scale[0] : a.k_scale[0];
  const E* tag = nullptr;
  const V16 x = rg_load(reinterpret_cast<const V16*>(src) + c);
  unsigned pair[4];
  for (int i = 0; i < 4; ++i) {
    const unsigned word = rg_word(x, i);
    pair[i] = rg_fp8_encode2_e4m3(rg_decode_bits(word & 0xffffu, tag) / scale, rg_decode_bits(word >> 16, tag) / scale);
  }
  V8 y = {};
  rg_set_word(y, 0, pair[0] | pair[1] << 16);
  rg_set_word(y, 1, pair[2] | pair[3] << 16);
  unsigned char* cache = static_cast<unsigned char*>(is_v ? a.v_cache : a.k_cache) + slot * (kKvh * kHd);
  rg_store(reinterpret_cast<V8*>(cache) + c, y);
}
