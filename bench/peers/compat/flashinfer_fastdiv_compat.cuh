// ropegen's stand-in for FlashInfer's flashinfer/fastdiv.cuh, for CUDA toolkits whose CCCL
// has no cuda::fast_mod_div (CUDA 13.0 ships CCCL 3.0). The peers program includes this
// before any FlashInfer header: it defines FlashInfer's include guard, so the original
// header (included by page.cuh with quotes, which no include path can shadow) becomes empty,
// and provides the same interface: flashinfer::uint_fastdiv with a default constructor, a
// host constructor from the divisor, a conversion back to the divisor, divmod(), and the
// free operators / and %.
//
// Division by a run-time constant d as a multiply-high: with l = ceil(log2 d) and
// m = floor(2^32 * (2^l - d) / d) + 1 (fits 32 bits for every d >= 1),
//   n / d = (mulhi(m, n) + n) >> l        for every 32-bit n,
// the sum taken in 64 bits. `ropegen_peers_bench --self-test` compares it with / and % .
#ifndef ROPEGEN_PEERS_FASTDIV_COMPAT_CUH
#define ROPEGEN_PEERS_FASTDIV_COMPAT_CUH
#define FLASHINFER_FASTDIV_CUH_ 1  // FlashInfer's guard: its fastdiv.cuh is skipped

#include <cstdint>

namespace flashinfer {

struct uint_fastdiv {
  __host__ __device__ uint_fastdiv() : d_(0), m_(0), l_(0) {}

  __host__ __device__ uint_fastdiv(uint32_t d) : d_(d), m_(0), l_(0) {
    if (d == 0) return;  // as FlashInfer's default: dividing by it is the caller's error
    uint32_t l = 0;
    while (l < 32 && (uint64_t{1} << l) < d) ++l;
    l_ = l;
    m_ = static_cast<uint32_t>(((uint64_t{1} << 32) * ((uint64_t{1} << l) - d)) / d + 1);
  }

  __host__ __device__ __forceinline__ operator unsigned int() const { return d_; }

  __host__ __device__ __forceinline__ uint32_t div(uint32_t n) const {
#ifdef __CUDA_ARCH__
    const uint32_t hi = __umulhi(m_, n);
#else
    const uint32_t hi = static_cast<uint32_t>((static_cast<uint64_t>(m_) * n) >> 32);
#endif
    return static_cast<uint32_t>((static_cast<uint64_t>(hi) + n) >> l_);
  }

  __host__ __device__ __forceinline__ void divmod(uint32_t n, uint32_t& q, uint32_t& r) const {
    q = div(n);
    r = n - q * d_;
  }

 private:
  uint32_t d_;  // the divisor
  uint32_t m_;  // the multiplier
  uint32_t l_;  // the shift, ceil(log2 d)
};

__host__ __device__ __forceinline__ uint32_t operator/(const uint32_t n, const uint_fastdiv& d) {
  return d.div(n);
}

__host__ __device__ __forceinline__ uint32_t operator%(const uint32_t n, const uint_fastdiv& d) {
  uint32_t q, r;
  d.divmod(n, q, r);
  return r;
}

}  // namespace flashinfer

#endif  // ROPEGEN_PEERS_FASTDIV_COMPAT_CUH
