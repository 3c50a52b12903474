// Peers benchmark: ropegen's generated RoPE + paged-KV-append kernels against FlashInfer's
// CUDA kernels, on the same buffers in one run. Built only when the CMake option
// ROPEGEN_FLASHINFER_INCLUDE names a FlashInfer include folder (bench/peers/CMakeLists.txt);
// FlashInfer's kernels are header-only templates instantiated here. Not a test.
//
//   ropegen_peers_bench [--csv FILE] [--quick] [--tokens LIST] [--cache-dir DIR] [--self-test]
//
// For each shape (bf16, paged NHD cache of 16-token pages) and token count:
//  - ropegen: op = rope_kv_append, outputs = separate (q rotated to q_out; k rotated into the
//    cache, v copied into it), cos_sin = table, one slot per token in slot_mapping;
//  - FlashInfer "fused": RopeQuantizeAppendPagedKVCache with the cache type = the activation
//    type (bf16) and both scales 1 (q to q_rope_out, k and v into the pages);
//  - FlashInfer "rope+append": BatchQKApplyRotaryPosIdsCosSinCache (q, k to separate
//    outputs) then AppendPagedKVCache (the rotated k and v into the pages), two launches.
//  - fp8 (Llama NeoX shape): ropegen with cache_dtype = q_dtype = fp8_e4m3, scales 1, against
//    RopeQuantizeAppendPagedKVCache with e4m3 as the cache type (see compare_fp8_into);
//  - MLA (DeepSeek-V3 shape): ropegen's mla_rope_append against FlashInfer's
//    BatchQKApplyRotaryPosIdsCosSinCache (q_pe in place, k_pe) + AppendPagedKVMlaCache
//    (see MlaWorkload).
// One launch of each from the same inputs is compared byte for byte (q_out, every page of
// the k and v caches); the result is printed and written to the CSV, a mismatch included.
// Then each is timed back to back on a stream (CUDA events around N launches) and inside a
// CUDA graph (N launches captured, the graph replayed, event-timed), rotating through
// enough buffer sets to cover 4x the L2 size so no launch finds its data in L2. An empty
// kernel and a device-to-device copy are timed in the same run as the floor and the
// bandwidth ceiling.
//
// Table and page mapping (both sides read the same device buffers):
//  - one fp32 table [rows, rot]: cos(p * theta_j) in the first rot/2 columns, sin in the
//    last rot/2 (FlashInfer's cos_sin_cache; ropegen's cos = table, sin = table + rot/2,
//    cos_sin_stride = rot), plus one zero row of padding (FlashInfer's GPT-J path loads a
//    full vector from the half-row offset);
//  - FlashInfer: one request (batch_indices all 0, indptr {0, pages}) whose page table
//    `indices` lists the pages in reverse, positions[t] = t; ropegen: slot_mapping[t] =
//    indices[t / 16] * 16 + t % 16 — the same page and row for every token.
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <unistd.h>

// Before any FlashInfer header: replaces flashinfer/fastdiv.cuh (see the header).
#include "flashinfer_fastdiv_compat.cuh"

#include <flashinfer/page.cuh>
#include <flashinfer/pos_enc.cuh>

#include "ropegen/ropegen.hpp"

#ifndef ROPEGEN_FLASHINFER_COMMIT
#define ROPEGEN_FLASHINFER_COMMIT "unknown"
#endif

namespace {

using bf16 = __nv_bfloat16;
constexpr double kL2Bytes = 50.0 * 1024 * 1024;  // H100: 50 MiB
constexpr int kPage = 16;

/// A CUDA runtime failure: thrown with the call and its message.
struct CudaFailure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw CudaFailure(std::string(what) + ": " + cudaGetErrorString(e));
}
#define CK(call) check((call), #call)

struct Options {
  std::string csv;
  std::string cache_dir;
  bool quick = false;
  std::vector<long long> tokens = {1, 32, 256, 2048, 8192, 32768};
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

/// Device memory freed on scope exit.
struct Dev {
  void* p = nullptr;
  size_t bytes = 0;
  Dev() = default;
  explicit Dev(size_t n) : bytes(n) { CK(cudaMalloc(&p, std::max<size_t>(n, 16))); }
  Dev(const Dev&) = delete;
  Dev& operator=(const Dev&) = delete;
  Dev(Dev&& o) noexcept : p(o.p), bytes(o.bytes) { o.p = nullptr; }
  Dev& operator=(Dev&& o) noexcept {
    std::swap(p, o.p);
    std::swap(bytes, o.bytes);
    return *this;
  }
  ~Dev() {
    if (p) cudaFree(p);
  }
  template <typename T>
  T* as(size_t elem_offset = 0) const {
    return static_cast<T*>(p) + elem_offset;
  }
};

__global__ void empty_kernel() {}

/// The compat divider on the device (__umulhi), for fastdiv_device_check.
__global__ void fastdiv_kernel(const uint32_t* ns, int count, flashinfer::uint_fastdiv d, uint32_t* out) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < count) {
    uint32_t q, r;
    d.divmod(ns[i], q, r);
    out[2 * i] = q;
    out[2 * i + 1] = ns[i] % d;
    if (ns[i] / d != q) out[2 * i] = ~q;  // the operator and divmod must agree
  }
}

// ---- host-side bf16 -------------------------------------------------------------------

uint16_t to_bf16(float f) {  // round to nearest even
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}
float from_bf16(uint16_t b) {
  const uint32_t u = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// ---- shapes -----------------------------------------------------------------------------

struct Shape {
  std::string name;  // for the table and the CSV
  int q_heads, kv_heads, head_dim;
  bool gptj;  // style = gptj (FlashInfer: interleave = true)
  bool llama;  // 32768 tokens too (memory allowing)
  bool fp8 = false;  // q_out and the caches in fp8 e4m3, scales 1 (FlashInfer: QuantType e4m3)
  std::string spec() const {
    return "op=rope_kv_append head_dim=" + std::to_string(head_dim) + " q_heads=" + std::to_string(q_heads) +
           " kv_heads=" + std::to_string(kv_heads) + " dtype=bf16 style=" + (gptj ? "gptj" : "neox") +
           " index=i32 cos_sin=table outputs=separate cache=paged(block=16,order=nhd)" +
           (fp8 ? " cache_dtype=fp8_e4m3 q_dtype=fp8_e4m3" : "");
  }
  /// Bytes per token a launch of the fused kernels must move at least: q, k, v read; q_out
  /// and the caches written at their width; the indices and one cos/sin row.
  double bytes_per_token() const {
    const double ob = fp8 ? 1 : 2;
    return (q_heads * (2 + ob) + kv_heads * (4 + 2 * ob)) * static_cast<double>(head_dim) + 8 + 4.0 * head_dim;
  }
};

/// Everything one shape at one token count needs: `sets` copies of every buffer a launch
/// reads or writes (the L2 rotation), and the index arrays and table they share.
struct Workload {
  Shape s;
  long long T = 0;
  int sets = 1;
  long long pages = 0, table_rows = 0;
  size_t q_elems = 0, kv_elems = 0, cache_elems = 0;  // per set
  Dev q, k, v, q_out, k_rot, kc, vc;                  // pools of `sets` sets
  Dev positions, slots, batch_idx, fi_positions, indices, indptr, last_len, table;

  bf16* qp(int set) const { return q.as<bf16>(set * q_elems); }
  bf16* kp(int set) const { return k.as<bf16>(set * kv_elems); }
  bf16* vp(int set) const { return v.as<bf16>(set * kv_elems); }
  bf16* qop(int set) const { return q_out.as<bf16>(set * q_elems); }
  bf16* krp(int set) const { return k_rot.as<bf16>(set * kv_elems); }
  bf16* kcp(int set) const { return kc.as<bf16>(set * cache_elems); }
  bf16* vcp(int set) const { return vc.as<bf16>(set * cache_elems); }

  /// Bytes one launch of the fused kernels must move at least.
  Dev scales;  // fp8: k_scale, v_scale, q_scale, all 1

  double bytes() const { return s.bytes_per_token() * T; }
};

/// Bytes of device memory a workload takes (to skip a shape that cannot fit).
size_t workload_bytes(const Shape& s, long long T, int sets) {
  const size_t qe = static_cast<size_t>(T) * s.q_heads * s.head_dim;
  const size_t kve = static_cast<size_t>(T) * s.kv_heads * s.head_dim;
  const size_t ce = static_cast<size_t>((T + kPage - 1) / kPage) * kPage * s.kv_heads * s.head_dim;
  return static_cast<size_t>(sets) * 2 * (2 * qe + 3 * kve + 2 * ce) + static_cast<size_t>(T + 2) * s.head_dim * 4;
}

int sets_for(const Shape& s, long long T) {
  const double per_token = s.bytes_per_token();
  return static_cast<int>(std::min(8192.0, std::max(1.0, std::ceil(4 * kL2Bytes / (per_token * T)))));
}

/// Fills `elems` bf16 values in [-4, 4) of set 0 of `pool` from the generator `state` (a
/// linear congruential one, advanced in place so consecutive fills continue its sequence) and
/// copies them to the other `sets` on the device.
void fill_sets(const Dev& pool, size_t elems, int sets, unsigned& state) {
  std::vector<uint16_t> h(elems);
  for (auto& e : h) {
    state = state * 1664525u + 1013904223u;
    e = to_bf16((static_cast<float>(state >> 8) / 16777216.0f - 0.5f) * 8.0f);
  }
  CK(cudaMemcpy(pool.p, h.data(), elems * 2, cudaMemcpyHostToDevice));
  for (int i = 1; i < sets; ++i)
    CK(cudaMemcpy(pool.as<uint16_t>(i * elems), pool.p, elems * 2, cudaMemcpyDeviceToDevice));
}

/// The indices and the cos/sin table both sides read, uploaded into a workload (the rope
/// shapes' and MLA's alike): int32 positions spread over the table (not equal to the token),
/// ropegen's slots and FlashInfer's page table (pages listed in reverse, one request, its
/// positions the token index), and one fp32 table [rows + 1, rot] with cos in the first half
/// and sin in the second (the extra row is zero: FlashInfer's GPT-J path reads a full vector
/// past the last row's half).
template <class W>
void upload_indices_and_table(W& w, long long T, int rot) {
  std::vector<int32_t> pos(T), slots(T), zeros(T, 0), fi_pos(T), indices(w.pages),
      indptr = {0, static_cast<int32_t>(w.pages)}, last = {static_cast<int32_t>((T - 1) % kPage + 1)};
  for (long long p = 0; p < w.pages; ++p) indices[p] = static_cast<int32_t>(w.pages - 1 - p);
  for (long long t = 0; t < T; ++t) {
    pos[t] = static_cast<int32_t>((t * 37 + 11) % w.table_rows);
    fi_pos[t] = static_cast<int32_t>(t);
    slots[t] = indices[t / kPage] * kPage + static_cast<int32_t>(t % kPage);
  }
  auto upload = [](const std::vector<int32_t>& h) {
    Dev d(h.size() * 4);
    CK(cudaMemcpy(d.p, h.data(), h.size() * 4, cudaMemcpyHostToDevice));
    return d;
  };
  w.positions = upload(pos);
  w.slots = upload(slots);
  w.batch_idx = upload(zeros);
  w.fi_positions = upload(fi_pos);
  w.indices = upload(indices);
  w.indptr = upload(indptr);
  w.last_len = upload(last);
  std::vector<float> table(static_cast<size_t>(w.table_rows + 1) * rot, 0.0f);
  for (long long p = 0; p < w.table_rows; ++p)
    for (int j = 0; j < rot / 2; ++j) {
      const double a = static_cast<double>(p) * std::pow(10000.0, -2.0 * j / rot);
      table[p * rot + j] = static_cast<float>(std::cos(a));
      table[p * rot + rot / 2 + j] = static_cast<float>(std::sin(a));
    }
  w.table = Dev(table.size() * 4);
  CK(cudaMemcpy(w.table.p, table.data(), table.size() * 4, cudaMemcpyHostToDevice));
}

Workload make_workload(const Shape& s, long long T, int sets, unsigned seed) {
  Workload w;
  w.s = s;
  w.T = T;
  w.sets = sets;
  w.pages = (T + kPage - 1) / kPage;
  w.table_rows = T + 1024;
  w.q_elems = static_cast<size_t>(T) * s.q_heads * s.head_dim;
  w.kv_elems = static_cast<size_t>(T) * s.kv_heads * s.head_dim;
  w.cache_elems = static_cast<size_t>(w.pages) * kPage * s.kv_heads * s.head_dim;
  w.q = Dev(w.q_elems * sets * 2);
  w.k = Dev(w.kv_elems * sets * 2);
  w.v = Dev(w.kv_elems * sets * 2);
  w.q_out = Dev(w.q_elems * sets * 2);
  w.k_rot = Dev(w.kv_elems * sets * 2);
  w.kc = Dev(w.cache_elems * sets * 2);
  w.vc = Dev(w.cache_elems * sets * 2);
  // Inputs: bf16 values in [-4, 4) for set 0, copied to the other sets on the device.
  unsigned state = seed;
  auto fill = [&](const Dev& pool, size_t elems) { fill_sets(pool, elems, sets, state); };
  fill(w.q, w.q_elems);
  fill(w.k, w.kv_elems);
  fill(w.v, w.kv_elems);
  CK(cudaMemset(w.q_out.p, 0, w.q_out.bytes));
  CK(cudaMemset(w.k_rot.p, 0, w.k_rot.bytes));
  CK(cudaMemset(w.kc.p, 0, w.kc.bytes));
  CK(cudaMemset(w.vc.p, 0, w.vc.bytes));
  upload_indices_and_table(w, T, s.head_dim);
  // The fills ran on the legacy stream (device-to-device copies and memsets return before
  // they finish); the launches go to a non-blocking stream, which does not wait for them.
  const float ones[3] = {1.0f, 1.0f, 1.0f};
  w.scales = Dev(sizeof ones);
  CK(cudaMemcpy(w.scales.p, ones, sizeof ones, cudaMemcpyHostToDevice));
  CK(cudaDeviceSynchronize());
  return w;
}

// ---- the launches -----------------------------------------------------------------------

ropegen_kernel_args ropegen_args(const Workload& w, int set) {
  ropegen_kernel_args a = ROPEGEN_KERNEL_ARGS_INIT;
  const Shape& s = w.s;
  a.num_tokens = w.T;
  a.positions = w.positions.p;
  a.slot_mapping = w.slots.p;
  a.q = w.qp(set);
  a.q_stride = static_cast<long long>(s.q_heads) * s.head_dim;
  a.k = w.kp(set);
  a.k_stride = static_cast<long long>(s.kv_heads) * s.head_dim;
  a.v = w.vp(set);
  a.v_stride = a.k_stride;
  a.cos = w.table.as<float>();
  a.sin = w.table.as<float>(s.head_dim / 2);
  a.cos_sin_stride = s.head_dim;
  a.k_cache = w.kcp(set);
  a.v_cache = w.vcp(set);
  a.max_seq = w.pages * kPage;
  a.cache_slots = w.pages * kPage;  // the limits, as the Python and Rust bindings pass them
  a.table_rows = w.table_rows;
  a.q_out = w.qop(set);  // fp8: the set's bf16-sized slot holds the fp8 rows at its start
  a.q_out_stride = a.q_stride;
  if (s.fp8) {
    a.k_scale = w.scales.as<float>(0);
    a.v_scale = w.scales.as<float>(1);
    a.q_scale = w.scales.as<float>(2);
  }
  return a;
}

template <typename C = bf16>
flashinfer::paged_kv_t<C, int32_t> fi_cache(const Workload& w, int set) {
  return flashinfer::paged_kv_t<C, int32_t>(
      static_cast<uint32_t>(w.s.kv_heads), kPage, static_cast<uint32_t>(w.s.head_dim), 1, flashinfer::QKVLayout::kNHD,
      reinterpret_cast<C*>(w.kcp(set)), reinterpret_cast<C*>(w.vcp(set)), w.indices.as<int32_t>(),
      w.indptr.as<int32_t>(), w.last_len.as<int32_t>());
}

void fi_check(cudaError_t e, const char* entry) {
  if (e != cudaSuccess) throw CudaFailure(std::string("FlashInfer ") + entry + ": " + cudaGetErrorString(e));
}

/// FlashInfer's fused rope + (quantize +) append: its fp8 quantize-append kernel with the
/// cache type C (bf16: no quantization; e4m3 with both scales 1).
template <typename C>
void fi_fused_as(const Workload& w, int set, cudaStream_t st) {
  const Shape& s = w.s;
  const size_t qn = static_cast<size_t>(s.q_heads) * s.head_dim, kn = static_cast<size_t>(s.kv_heads) * s.head_dim,
               hd = s.head_dim;
  C* q_out = reinterpret_cast<C*>(w.qop(set));
  fi_check(flashinfer::RopeQuantizeAppendPagedKVCache<bf16, int32_t, int32_t, C>(
               w.qp(set), w.kp(set), /*q_nope_in=*/w.qp(set), /*k_nope_in=*/w.kp(set), w.vp(set), q_out,
               /*q_nope_out=*/q_out, fi_cache<C>(w, set), w.batch_idx.as<int32_t>(), w.fi_positions.as<int32_t>(),
               w.table.as<float>(), w.positions.as<int32_t>(), static_cast<uint32_t>(w.T), s.q_heads, s.kv_heads,
               /*rope_dim=*/s.head_dim, /*no_rope_dim=*/0, qn, hd, qn, hd, qn, hd, qn, hd, kn, hd, kn, hd, kn, hd,
               /*quant_scale_q=*/1.0f, /*quant_scale_kv=*/1.0f, s.gptj, /*enable_pdl=*/false, st),
           "RopeQuantizeAppendPagedKVCache");
}

void fi_fused(const Workload& w, int set, cudaStream_t st) {
  if (w.s.fp8)
    fi_fused_as<__nv_fp8_e4m3>(w, set, st);
  else
    fi_fused_as<bf16>(w, set, st);
}

/// FlashInfer's unfused pair: rope to separate outputs, then the paged append.
void fi_rope_append(const Workload& w, int set, cudaStream_t st) {
  const Shape& s = w.s;
  const size_t qn = static_cast<size_t>(s.q_heads) * s.head_dim, kn = static_cast<size_t>(s.kv_heads) * s.head_dim,
               hd = s.head_dim;
  fi_check(flashinfer::BatchQKApplyRotaryPosIdsCosSinCache<bf16, int32_t>(
               w.qp(set), w.kp(set), w.qop(set), w.krp(set), w.table.as<float>(), w.positions.as<int32_t>(),
               static_cast<uint32_t>(w.T), s.q_heads, s.kv_heads, s.head_dim, s.head_dim, qn, hd, kn, hd, qn, hd, kn, hd,
               s.gptj, st),
           "BatchQKApplyRotaryPosIdsCosSinCache");
  fi_check(flashinfer::AppendPagedKVCache<bf16, int32_t>(fi_cache(w, set), w.krp(set), w.vp(set),
                                                          w.batch_idx.as<int32_t>(), w.fi_positions.as<int32_t>(),
                                                          static_cast<uint32_t>(w.T), kn, hd, kn, hd, st),
           "AppendPagedKVCache");
}

// ---- the cross-check --------------------------------------------------------------------

struct Compare {
  long long mismatches = 0, elements = 0;
  double max_ulps = 0;  // the largest difference in bf16 units (ulps of the larger value)
  // fp8 rows: differences of one code step in the rotated q and k (double rounding through
  // bf16 on ropegen's side, by design; see fp8_step), not counted as mismatches.
  bool fp8 = false;
  long long one_step = 0;
  std::string text() const {
    char buf[256];
    const char* unit = fp8 ? "fp8 steps" : "bf16 ulps";
    if (mismatches == 0 && one_step == 0)
      std::snprintf(buf, sizeof buf, "match (%lld elements)", elements);
    else if (mismatches == 0)
      std::snprintf(buf, sizeof buf,
                    "match but %lld of %lld rotated codes one step apart (ropegen rounds to bf16 before fp8)", one_step,
                    elements);
    else
      std::snprintf(buf, sizeof buf, "MISMATCH %lld of %lld elements, max %.0f %s%s", mismatches, elements, max_ulps,
                    unit, one_step ? " (plus one-step codes)" : "");
    return buf;
  }
};

/// An e4m3 code's place on the number line (codes are sign-magnitude and monotonic in the
/// magnitude): two codes' distance in representable steps.
int fp8_step(uint16_t code) {
  const int mag = code & 0x7f;
  return (code & 0x80) ? -mag : mag;
}

/// fp8 outputs held one byte per uint16_t. `rotated`: q_out and the k cache, where ropegen
/// quantizes the bf16-rounded rotation and FlashInfer the fp32 one, so one step apart is the
/// expected double-rounding difference; v is copied and must match exactly.
void compare_fp8_into(Compare& c, const std::vector<uint16_t>& a, const std::vector<uint16_t>& b, bool rotated) {
  c.fp8 = true;
  c.elements += static_cast<long long>(a.size());
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] == b[i]) continue;
    const bool nan = (a[i] & 0x7f) == 0x7f || (b[i] & 0x7f) == 0x7f;
    const int steps = nan ? 1000 : std::abs(fp8_step(a[i]) - fp8_step(b[i]));
    if (rotated && steps == 1) {
      ++c.one_step;
      continue;
    }
    ++c.mismatches;
    c.max_ulps = std::max(c.max_ulps, static_cast<double>(steps));
  }
}

void compare_into(Compare& c, const std::vector<uint16_t>& a, const std::vector<uint16_t>& b) {
  c.elements += static_cast<long long>(a.size());
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] == b[i]) continue;
    ++c.mismatches;
    const float x = from_bf16(a[i]), y = from_bf16(b[i]);
    double ulps;
    if (!std::isfinite(x) || !std::isfinite(y)) {
      ulps = INFINITY;
    } else {
      const double big = std::max({std::fabs(static_cast<double>(x)), std::fabs(static_cast<double>(y)), 1e-30});
      const double ulp = std::ldexp(1.0, std::ilogb(big) - 7);
      ulps = std::fabs(static_cast<double>(x) - y) / ulp;
    }
    c.max_ulps = std::max(c.max_ulps, ulps);
  }
}

std::vector<uint16_t> download(const void* p, size_t elems) {
  std::vector<uint16_t> h(elems);
  CK(cudaMemcpy(h.data(), p, elems * 2, cudaMemcpyDeviceToHost));
  return h;
}

/// fp8 bytes, one per uint16_t.
std::vector<uint16_t> download_fp8(const void* p, size_t elems) {
  std::vector<uint8_t> bytes(elems);
  CK(cudaMemcpy(bytes.data(), p, elems, cudaMemcpyDeviceToHost));
  return std::vector<uint16_t>(bytes.begin(), bytes.end());
}

/// The outputs of set 0 after one launch of `run` from cleared outputs: q_out, k cache,
/// v cache.
std::vector<std::vector<uint16_t>> outputs_of(const Workload& w, cudaStream_t st, const std::function<void()>& run) {
  CK(cudaMemsetAsync(w.qop(0), 0, w.q_elems * 2, st));
  CK(cudaMemsetAsync(w.krp(0), 0, w.kv_elems * 2, st));
  CK(cudaMemsetAsync(w.kcp(0), 0, w.cache_elems * 2, st));
  CK(cudaMemsetAsync(w.vcp(0), 0, w.cache_elems * 2, st));
  run();
  CK(cudaStreamSynchronize(st));
  CK(cudaGetLastError());
  if (w.s.fp8)
    return {download_fp8(w.qop(0), w.q_elems), download_fp8(w.kcp(0), w.cache_elems),
            download_fp8(w.vcp(0), w.cache_elems)};
  return {download(w.qop(0), w.q_elems), download(w.kcp(0), w.cache_elems), download(w.vcp(0), w.cache_elems)};
}

/// `fp8`: the outputs are q_out, k cache, v cache in e4m3 (see compare_fp8_into).
Compare cross_check(const std::vector<std::vector<uint16_t>>& mine, const std::vector<std::vector<uint16_t>>& theirs,
                    bool fp8 = false) {
  Compare c;
  for (size_t i = 0; i < mine.size(); ++i) {
    if (fp8)
      compare_fp8_into(c, mine[i], theirs[i], /*rotated=*/i < 2);
    else
      compare_into(c, mine[i], theirs[i]);
  }
  return c;
}

// ---- timing -----------------------------------------------------------------------------

struct Timer {
  cudaStream_t st;
  cudaEvent_t a, b;
  explicit Timer(cudaStream_t s) : st(s) {
    CK(cudaEventCreate(&a));
    CK(cudaEventCreate(&b));
  }
  ~Timer() {
    cudaEventDestroy(a);
    cudaEventDestroy(b);
  }
  template <typename F>
  double ms(F&& f) {
    CK(cudaEventRecord(a, st));
    f();
    CK(cudaEventRecord(b, st));
    CK(cudaEventSynchronize(b));
    float m = 0;
    CK(cudaEventElapsedTime(&m, a, b));
    return m;
  }
};

/// Median microseconds per launch of `launch(set)` back to back on the stream.
double stream_us(cudaStream_t st, int sets, const std::function<void(int)>& launch, bool quick) {
  Timer t(st);
  int next = 0;
  auto batch = [&](int n) { return t.ms([&] { for (int i = 0; i < n; ++i) launch(next++ % sets); }); };
  batch(3);
  const double probe = batch(10) / 10.0;
  const int n = static_cast<int>(std::clamp((quick ? 0.5 : 3.0) / std::max(probe, 1e-4), 20.0, 5000.0));
  std::vector<double> per;
  for (int r = 0; r < (quick ? 3 : 7); ++r) per.push_back(batch(n) * 1000.0 / n);
  return median(per);
}

/// Median microseconds per launch inside a CUDA graph of max(sets, 200) launches.
double graph_us(cudaStream_t st, int sets, const std::function<void(int)>& launch, bool quick) {
  const int calls = std::max(sets, 200);
  cudaGraph_t g = nullptr;
  CK(cudaStreamBeginCapture(st, cudaStreamCaptureModeThreadLocal));
  try {
    for (int i = 0; i < calls; ++i) launch(i % sets);
  } catch (...) {
    cudaStreamEndCapture(st, &g);
    if (g) cudaGraphDestroy(g);
    throw;
  }
  CK(cudaStreamEndCapture(st, &g));
  cudaGraphExec_t ge = nullptr;
  const cudaError_t e = cudaGraphInstantiate(&ge, g, 0);
  cudaGraphDestroy(g);
  CK(e);
  Timer t(st);
  std::vector<double> per;
  try {
    CK(cudaGraphLaunch(ge, st));  // warm up
    CK(cudaStreamSynchronize(st));
    const int replays = quick ? 2 : 5;
    for (int r = 0; r < (quick ? 3 : 5); ++r)
      per.push_back(t.ms([&] { for (int i = 0; i < replays; ++i) CK(cudaGraphLaunch(ge, st)); }) * 1000.0 /
                    (static_cast<double>(replays) * calls));
  } catch (...) {
    cudaGraphExecDestroy(ge);
    throw;
  }
  cudaGraphExecDestroy(ge);
  return median(per);
}

// ---- the run ----------------------------------------------------------------------------

struct Row {
  std::string shape, entry, mode;
  long long tokens;
  double ropegen_us = -1, flashinfer_us = -1, bytes = 0;
  std::string check;
};

std::string here_dir() {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return ".";
  const std::string exe(buf, static_cast<size_t>(n));
  return exe.substr(0, exe.rfind('/'));
}

/// The compat divider against / and % (host side; the device uses the same formula with
/// __umulhi). Returns the number of wrong results.
long long fastdiv_self_test() {
  std::vector<uint32_t> divisors;
  for (uint32_t d = 1; d <= 4096; ++d) divisors.push_back(d);
  for (int b = 12; b < 32; ++b)
    for (long long delta : {-3LL, -1LL, 0LL, 1LL, 3LL}) {
      const long long d = (1LL << b) + delta;
      if (d >= 1 && d <= 0xffffffffLL) divisors.push_back(static_cast<uint32_t>(d));
    }
  divisors.push_back(0xffffffffu);
  divisors.push_back(0xfffffffeu);
  divisors.push_back(0x80000001u);
  unsigned state = 7;
  auto rnd = [&] {
    state = state * 1664525u + 1013904223u;
    return state;
  };
  for (int i = 0; i < 2000; ++i) divisors.push_back(rnd() | 1u), divisors.push_back(rnd() >> (rnd() % 32) | 1u);
  long long wrong = 0, checked = 0;
  for (uint32_t d : divisors) {
    const flashinfer::uint_fastdiv fd(d);
    std::vector<uint32_t> ns = {0, 1, d - 1, d, d + 1, 2 * d - 1, 2 * d, 0x7fffffffu, 0x80000000u, 0xfffffffeu, 0xffffffffu};
    for (int i = 0; i < 2000; ++i) ns.push_back(rnd());
    for (int i = 0; i < 200; ++i) ns.push_back(rnd() % 100000);
    for (uint32_t n : ns) {
      uint32_t q, r;
      fd.divmod(n, q, r);
      ++checked;
      if (q != n / d || r != n % d || n / fd != n / d || n % fd != n % d || static_cast<unsigned>(fd) != d) {
        if (wrong < 5) std::fprintf(stderr, "fastdiv: %u / %u gave %u rem %u\n", n, d, q, r);
        ++wrong;
      }
    }
  }
  // Every n below 2^20 for the page sizes that matter.
  for (uint32_t d : {1u, 2u, 3u, 7u, 16u, 32u, 64u, 128u, 256u, 1000u}) {
    const flashinfer::uint_fastdiv fd(d);
    for (uint32_t n = 0; n < (1u << 20); ++n) {
      ++checked;
      if (n / fd != n / d || n % fd != n % d) ++wrong;
    }
  }
  std::printf("fastdiv compat: %lld of %lld divisions wrong (%zu divisors)\n", wrong, checked, divisors.size());
  return wrong;
}

/// The compat divider on the device against the host's / and %: the page lookups of both
/// FlashInfer kernels go through it. Returns the number of wrong results.
long long fastdiv_device_check(cudaStream_t st) {
  unsigned state = 11;
  auto rnd = [&] {
    state = state * 1664525u + 1013904223u;
    return state;
  };
  const int count = 1 << 16;
  std::vector<uint32_t> ns(count);
  for (int i = 0; i < count; ++i) ns[i] = i < count / 2 ? static_cast<uint32_t>(i) : rnd();
  ns[count - 1] = 0xffffffffu;
  Dev dn(count * 4), dout(count * 8);
  CK(cudaMemcpy(dn.p, ns.data(), count * 4, cudaMemcpyHostToDevice));
  long long wrong = 0;
  std::vector<uint32_t> out(2 * count);
  for (uint32_t d : {1u, 2u, 7u, 16u, 64u, 1000u, 65537u, 0x80000001u, 0xffffffffu, rnd() | 1u, rnd() >> 9 | 1u}) {
    fastdiv_kernel<<<count / 256, 256, 0, st>>>(dn.as<uint32_t>(), count, flashinfer::uint_fastdiv(d), dout.as<uint32_t>());
    CK(cudaGetLastError());
    CK(cudaStreamSynchronize(st));
    CK(cudaMemcpy(out.data(), dout.p, count * 8, cudaMemcpyDeviceToHost));
    for (int i = 0; i < count; ++i) wrong += out[2 * i] != ns[i] / d || out[2 * i + 1] != ns[i] % d;
  }
  std::printf("fastdiv compat on the device: %lld of %d divisions wrong\n", wrong, 11 * count);
  return wrong;
}

// ---- MLA (DeepSeek-V3 shape) ------------------------------------------------------------
//
// ropegen: op = mla_rope_append (q_pe rotated in place inside q [T, 128, 192] at offset 128,
// k_pe [T, 64] rotated and kv_c [T, 512] copied into one cache row kv_c || k_pe, paged by 16).
// FlashInfer, the same work as its DeepSeek path does it: BatchQKApplyRotaryPosIdsCosSinCache
// on q_pe (in place, head stride 192) and k_pe (to a separate buffer), then
// AppendPagedKVMlaCache with paged_kv_mla_t's ckv and kpe views set on the one cache
// (kpe = ckv + 512, both with a row stride of 576 and a page stride of 16 * 576).
// FlashInfer's fused RopeQuantizeAppendPagedMLACache is not compared: it also copies a q_nope
// of kv_lora_rank (absorbed) width, which ropegen's kernel leaves alone.

struct MlaWorkload {
  static constexpr int kHeads = 128, kHd = 192, kRot = 64, kOff = 128, kLora = 512, kRow = kLora + kRot;
  long long T = 0, pages = 0, table_rows = 0;
  int sets = 1;
  size_t q_elems = 0, pe_elems = 0, ckv_elems = 0, cache_elems = 0;
  Dev q, q_pristine, kpe, ckv, krot, cache;
  Dev positions, slots, batch_idx, fi_positions, indices, indptr, last_len, table;
  bf16* qp(int s) const { return q.as<bf16>(s * q_elems); }
  bf16* kpep(int s) const { return kpe.as<bf16>(s * pe_elems); }
  bf16* ckvp(int s) const { return ckv.as<bf16>(s * ckv_elems); }
  bf16* krotp(int s) const { return krot.as<bf16>(s * pe_elems); }
  bf16* cachep(int s) const { return cache.as<bf16>(s * cache_elems); }
  static double per_token_bytes() { return 2.0 * kHeads * kRot * 2 + (kRot + kLora) * 2 * 2 + 8 + 4.0 * kRot; }
  double bytes() const { return per_token_bytes() * T; }
};

MlaWorkload make_mla(long long T, unsigned seed) {
  using M = MlaWorkload;
  MlaWorkload w;
  w.T = T;
  w.sets = static_cast<int>(std::min(8192.0, std::max(1.0, std::ceil(4 * kL2Bytes / (M::per_token_bytes() * T)))));
  w.pages = (T + kPage - 1) / kPage;
  w.table_rows = T + 1024;
  w.q_elems = static_cast<size_t>(T) * M::kHeads * M::kHd;
  w.pe_elems = static_cast<size_t>(T) * M::kRot;
  w.ckv_elems = static_cast<size_t>(T) * M::kLora;
  w.cache_elems = static_cast<size_t>(w.pages) * kPage * M::kRow;
  w.q = Dev(w.q_elems * w.sets * 2);
  w.q_pristine = Dev(w.q_elems * 2);
  w.kpe = Dev(w.pe_elems * w.sets * 2);
  w.ckv = Dev(w.ckv_elems * w.sets * 2);
  w.krot = Dev(w.pe_elems * w.sets * 2);
  w.cache = Dev(w.cache_elems * w.sets * 2);
  unsigned state = seed;
  auto fill = [&](const Dev& pool, size_t elems) { fill_sets(pool, elems, w.sets, state); };
  fill(w.q, w.q_elems);
  fill(w.kpe, w.pe_elems);
  fill(w.ckv, w.ckv_elems);
  CK(cudaMemcpy(w.q_pristine.p, w.q.p, w.q_elems * 2, cudaMemcpyDeviceToDevice));
  CK(cudaMemset(w.krot.p, 0, w.krot.bytes));
  CK(cudaMemset(w.cache.p, 0, w.cache.bytes));
  upload_indices_and_table(w, T, M::kRot);
  // The fills ran on the legacy stream (device-to-device copies and memsets return before
  // they finish); the launches go to a non-blocking stream, which does not wait for them.
  CK(cudaDeviceSynchronize());
  return w;
}

ropegen_kernel_args mla_ropegen_args(const MlaWorkload& w, int set) {
  using M = MlaWorkload;
  ropegen_kernel_args a = ROPEGEN_KERNEL_ARGS_INIT;
  a.num_tokens = w.T;
  a.positions = w.positions.p;
  a.slot_mapping = w.slots.p;
  a.q = w.qp(set);
  a.q_stride = static_cast<long long>(M::kHeads) * M::kHd;
  a.k = w.kpep(set);  // k_pe
  a.k_stride = M::kRot;
  a.v = w.ckvp(set);  // kv_c
  a.v_stride = M::kLora;
  a.cos = w.table.as<float>();
  a.sin = w.table.as<float>(M::kRot / 2);
  a.cos_sin_stride = M::kRot;
  a.k_cache = w.cachep(set);  // one cache of rows; v_cache stays null
  a.max_seq = w.pages * kPage;
  a.cache_slots = w.pages * kPage;
  a.table_rows = w.table_rows;
  return a;
}

void fi_mla(const MlaWorkload& w, int set, cudaStream_t st) {
  using M = MlaWorkload;
  bf16* q_pe = w.qp(set) + M::kOff;
  fi_check(flashinfer::BatchQKApplyRotaryPosIdsCosSinCache<bf16, int32_t>(
               q_pe, w.kpep(set), /*q_rope=*/q_pe, w.krotp(set), w.table.as<float>(), w.positions.as<int32_t>(),
               static_cast<uint32_t>(w.T), M::kHeads, /*num_kv_heads=*/1, M::kRot, /*head_dim=*/M::kRot,
               static_cast<size_t>(M::kHeads) * M::kHd, M::kHd, M::kRot, M::kRot,
               static_cast<size_t>(M::kHeads) * M::kHd, M::kHd, M::kRot, M::kRot, /*interleave=*/true, st),
           "BatchQKApplyRotaryPosIdsCosSinCache (MLA q_pe, k_pe)");
  flashinfer::paged_kv_mla_t<bf16, int32_t> cache(kPage, M::kLora, M::kRot, 1, w.cachep(set), w.cachep(set) + M::kLora,
                                                  w.indices.as<int32_t>(), w.indptr.as<int32_t>(),
                                                  w.last_len.as<int32_t>());
  cache.stride_page_ckv = cache.stride_page_kpe = kPage * M::kRow;  // both views on ropegen's rows
  cache.stride_n_ckv = cache.stride_n_kpe = M::kRow;
  fi_check(flashinfer::AppendPagedKVMlaCache<bf16, int32_t>(cache, w.ckvp(set), w.krotp(set), w.batch_idx.as<int32_t>(),
                                                             w.fi_positions.as<int32_t>(), static_cast<uint32_t>(w.T),
                                                             M::kLora, M::kRot, st),
           "AppendPagedKVMlaCache");
}

/// The MLA rows: one cross-check, then stream and graph timings per token count.
void mla_rows(ropegen::Context& ctx, cudaStream_t st, const Options& o, double copy_gbs, std::vector<Row>& rows,
              int& failures) {
  const std::string spec =
      "op=mla_rope_append head_dim=192 rotary_dim=64 rotary_offset=128 style=gptj q_heads=128 kv_lora_rank=512 "
      "dtype=bf16 index=i32 cos_sin=table cache=paged(block=16,order=nhd)";
  std::shared_ptr<ropegen::Kernel> kernel;
  try {
    kernel = ctx.kernel(spec);
  } catch (const std::exception& e) {
    std::printf("mla: ropegen could not build '%s': %s\n", spec.c_str(), e.what());
    ++failures;
    return;
  }
  const char* name = "deepseek_v3_mla";
  for (long long T : o.tokens) {
    if (T > 8192) continue;
    try {
      MlaWorkload w = make_mla(T, 4321u + static_cast<unsigned>(T));
      auto rg = [&](int set) { kernel->launch(mla_ropegen_args(w, set), st); };
      auto fi = [&](int set) { fi_mla(w, set, st); };
      // q is rotated in place: set 0's q is restored before each side's launch.
      auto outputs = [&](const std::function<void()>& run) {
        CK(cudaMemcpyAsync(w.qp(0), w.q_pristine.p, w.q_elems * 2, cudaMemcpyDeviceToDevice, st));
        CK(cudaMemsetAsync(w.krotp(0), 0, w.pe_elems * 2, st));
        CK(cudaMemsetAsync(w.cachep(0), 0, w.cache_elems * 2, st));
        run();
        CK(cudaStreamSynchronize(st));
        CK(cudaGetLastError());
        return std::vector<std::vector<uint16_t>>{download(w.qp(0), w.q_elems), download(w.cachep(0), w.cache_elems)};
      };
      const auto mine = outputs([&] { rg(0); });
      std::string check_text;
      bool fi_ok = true;
      try {
        const auto theirs = outputs([&] { fi(0); });
        const Compare c = cross_check(mine, theirs);
        check_text = c.text();
        if (c.mismatches) ++failures;
      } catch (const std::exception& ex) {
        check_text = std::string("ERROR ") + ex.what();
        fi_ok = false;
        ++failures;
      }
      for (const char* mode : {"stream", "graph"}) {
        const bool graph = std::string(mode) == "graph";
        Row r{name, "rope+append_mla", mode, T, -1, -1, w.bytes(), check_text};
        r.ropegen_us = graph ? graph_us(st, w.sets, rg, o.quick) : stream_us(st, w.sets, rg, o.quick);
        if (fi_ok) {
          try {
            r.flashinfer_us = graph ? graph_us(st, w.sets, fi, o.quick) : stream_us(st, w.sets, fi, o.quick);
          } catch (const std::exception& ex) {
            r.check += std::string("; timing ERROR ") + ex.what();
            ++failures;
            cudaGetLastError();
          }
        }
        const double ratio = r.flashinfer_us > 0 ? r.flashinfer_us / r.ropegen_us : -1;
        const double pct = 100.0 * (r.bytes / (r.ropegen_us * 1e-6) / 1e9) / copy_gbs;
        std::printf("%-16s %7lld %-11s %-6s %11.2f %14.2f %8.2f %5.0f%%  %s\n", name, T, r.entry.c_str(), mode,
                    r.ropegen_us, r.flashinfer_us, ratio, pct, r.check.c_str());
        std::fflush(stdout);
        rows.push_back(r);
      }
    } catch (const std::exception& ex) {
      std::printf("%-16s %7lld ERROR %s\n", name, T, ex.what());
      ++failures;
      const cudaError_t sticky = cudaGetLastError();
      if (sticky == cudaErrorIllegalAddress || sticky == cudaErrorLaunchFailure) throw;
    }
  }
}

void usage(FILE* f, const char* argv0, const Options& o) {
  std::fprintf(f,
               "usage: %s [--csv FILE] [--quick] [--tokens LIST] [--cache-dir DIR] [--self-test]\n"
               "  ropegen's rope_kv_append kernels against FlashInfer's (RopeQuantizeAppendPagedKVCache with a bf16\n"
               "  cache; BatchQKApplyRotaryPosIdsCosSinCache + AppendPagedKVCache) on the same buffers: outputs\n"
               "  cross-checked byte for byte, then timed on a stream and in a CUDA graph (L2 flushed)\n"
               "  --csv FILE     where to write the rows (default %s)\n"
               "  --quick        fewer repetitions\n"
               "  --tokens LIST  comma-separated token counts (default 1,32,256,2048,8192,32768; 32768: Llama only)\n"
               "  --cache-dir    private cache for ropegen's kernels (default %s)\n"
               "  --self-test    check the FastDiv replacement header against / and %% (no GPU needed)\n",
               argv0, o.csv.c_str(), o.cache_dir.c_str());
}

int run(int argc, char** argv) {
  const auto started = std::chrono::steady_clock::now();
  Options o;
  const std::string here = here_dir();
  o.csv = here + "/peers.csv";
  o.cache_dir = here + "/peers-cache";
  bool self_test = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--csv" && i + 1 < argc) o.csv = argv[++i];
    else if (a == "--cache-dir" && i + 1 < argc) o.cache_dir = argv[++i];
    else if (a == "--quick") o.quick = true;
    else if (a == "--self-test") self_test = true;
    else if (a == "--tokens" && i + 1 < argc) {
      o.tokens.clear();
      std::string list = argv[++i];
      size_t at = 0;
      while (at <= list.size()) {
        const size_t comma = std::min(list.find(',', at), list.size());
        const long long t = std::atoll(list.substr(at, comma - at).c_str());
        if (t <= 0) {
          std::fprintf(stderr, "--tokens: '%s' is not a positive count\n", list.substr(at, comma - at).c_str());
          return 2;
        }
        o.tokens.push_back(t);
        at = comma + 1;
      }
    } else if (a == "--help" || a == "-h") {
      usage(stdout, argv[0], o);
      return 0;
    } else {
      usage(stderr, argv[0], o);
      return 2;
    }
  }
  if (self_test) {
    std::printf("flashinfer: %s\n", ROPEGEN_FLASHINFER_COMMIT);
    return fastdiv_self_test() == 0 ? 0 : 1;
  }

  int devices = 0;
  const cudaError_t de = cudaGetDeviceCount(&devices);
  if (de != cudaSuccess || devices == 0) {
    std::fprintf(stderr, "ropegen_peers_bench: no CUDA device (%s)\n",
                 de != cudaSuccess ? cudaGetErrorString(de) : "the driver reports 0 devices");
    return 2;
  }
  CK(cudaSetDevice(0));
  CK(cudaFree(nullptr));  // the primary context exists and is current: ropegen's runtime uses it
  cudaDeviceProp prop{};
  CK(cudaGetDeviceProperties(&prop, 0));
  std::printf("flashinfer: %s\n", ROPEGEN_FLASHINFER_COMMIT);
  std::printf("device: %s (sm_%d%d, %d SMs, L2 %d MiB)\n", prop.name, prop.major, prop.minor,
              prop.multiProcessorCount, prop.l2CacheSize >> 20);
  if (prop.major < 9)
    std::printf("note: built for sm_90; this device is sm_%d%d (FlashInfer's kernels may fail to launch)\n",
                prop.major, prop.minor);

  setenv("ROPEGEN_CACHE_DIR", o.cache_dir.c_str(), 1);
  std::unique_ptr<ropegen::Context> ctx;
  try {
    ctx = ropegen::Context::open("cuda");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ropegen_peers_bench: ropegen could not open the CUDA device: %s\n", e.what());
    return 2;
  }
  cudaStream_t st;
  CK(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));

  std::vector<Row> rows;
  std::vector<std::string> notes;
  int failures = 0;
  if (fastdiv_device_check(st)) ++failures;

  // The floor and the ceiling: an empty kernel, a device-to-device copy.
  double empty_stream = stream_us(st, 1, [&](int) { empty_kernel<<<1, 1, 0, st>>>(); }, o.quick);
  double empty_graph = graph_us(st, 1, [&](int) { empty_kernel<<<1, 1, 0, st>>>(); }, o.quick);
  std::printf("empty kernel: %.2f us (stream), %.2f us (graph)\n", empty_stream, empty_graph);
  rows.push_back({"empty_kernel", "-", "stream", 0, -1, -1, 0, ""});
  rows.back().ropegen_us = empty_stream;
  rows.push_back({"empty_kernel", "-", "graph", 0, -1, -1, 0, ""});
  rows.back().ropegen_us = empty_graph;
  double copy_gbs = 0;
  {
    const size_t bytes = 256u << 20;
    Dev x(bytes), y(bytes);
    CK(cudaMemset(x.p, 1, bytes));
    Timer t(st);
    std::vector<double> ms;
    for (int r = 0; r < 7; ++r) ms.push_back(t.ms([&] { CK(cudaMemcpyAsync(y.p, x.p, bytes, cudaMemcpyDeviceToDevice, st)); }));
    const double m = median(ms);
    copy_gbs = 2.0 * bytes / (m * 1e-3) / 1e9;
    std::printf("copy bandwidth: %.1f GB/s (device-to-device %zu MiB, read + write)\n", copy_gbs, bytes >> 20);
    rows.push_back({"d2d_copy_256MiB", "-", "stream", 0, m * 1000.0, -1, 2.0 * bytes, ""});
  }

  const std::vector<Shape> shapes = {
      {"llama3_8b_neox", 32, 8, 128, false, true},
      {"llama3_8b_gptj", 32, 8, 128, true, true},
      {"mqa_hd64_neox", 8, 1, 64, false, false},
      {"llama3_8b_neox_fp8", 32, 8, 128, false, false, true},
  };
  struct Entry {
    const char* name;
    void (*fn)(const Workload&, int, cudaStream_t);
  };
  const Entry entries[] = {{"fused", fi_fused}, {"rope+append", fi_rope_append}};

  std::printf("\n%-16s %7s %-11s %-6s %11s %14s %8s %6s  %s\n", "shape", "tokens", "flashinfer", "mode", "ropegen_us",
              "flashinfer_us", "fi/rg", "%copy", "check");
  for (const Shape& s : shapes) {
    std::shared_ptr<ropegen::Kernel> kernel;
    try {
      kernel = ctx->kernel(s.spec());
    } catch (const std::exception& e) {
      std::printf("%s: ropegen could not build '%s': %s\n", s.name.c_str(), s.spec().c_str(), e.what());
      ++failures;
      continue;
    }
    for (long long T : o.tokens) {
      if (T > 8192 && !s.llama) continue;
      const int sets = sets_for(s, T);
      size_t free_b = 0, total_b = 0;
      CK(cudaMemGetInfo(&free_b, &total_b));
      if (workload_bytes(s, T, sets) > free_b * 0.9) {
        notes.push_back(s.name + " at " + std::to_string(T) + " tokens skipped: needs " +
                        std::to_string(workload_bytes(s, T, sets) >> 20) + " MiB, " + std::to_string(free_b >> 20) +
                        " MiB free");
        continue;
      }
      try {
        Workload w = make_workload(s, T, sets, 1234u + static_cast<unsigned>(T));
        auto rg = [&](int set) { kernel->launch(ropegen_args(w, set), st); };
        const auto mine = outputs_of(w, st, [&] { rg(0); });
        const double rg_stream = stream_us(st, sets, rg, o.quick);
        const double rg_graph = graph_us(st, sets, rg, o.quick);
        for (const Entry& e : entries) {
          if (s.fp8 && std::string(e.name) != "fused") continue;  // FlashInfer's fp8 path is the fused kernel
          Row base{s.name, e.name, "", T, -1, -1, w.bytes(), ""};
          std::string check_text;
          try {
            const auto theirs = outputs_of(w, st, [&] { e.fn(w, 0, st); });
            const Compare c = cross_check(mine, theirs, s.fp8);
            check_text = c.text();
            if (c.mismatches) ++failures;
          } catch (const std::exception& ex) {
            check_text = std::string("ERROR ") + ex.what();
            ++failures;
          }
          for (const char* mode : {"stream", "graph"}) {
            Row r = base;
            r.mode = mode;
            r.check = check_text;
            r.ropegen_us = std::string(mode) == "stream" ? rg_stream : rg_graph;
            if (check_text.rfind("ERROR", 0) != 0) {
              try {
                auto fi = [&](int set) { e.fn(w, set, st); };
                r.flashinfer_us = std::string(mode) == "stream" ? stream_us(st, sets, fi, o.quick)
                                                                : graph_us(st, sets, fi, o.quick);
              } catch (const std::exception& ex) {
                r.check += std::string("; timing ERROR ") + ex.what();
                ++failures;
                cudaGetLastError();
              }
            }
            const double ratio = r.flashinfer_us > 0 ? r.flashinfer_us / r.ropegen_us : -1;
            const double pct = 100.0 * (r.bytes / (r.ropegen_us * 1e-6) / 1e9) / copy_gbs;
            std::printf("%-16s %7lld %-11s %-6s %11.2f %14.2f %8.2f %5.0f%%  %s\n", s.name.c_str(), T, e.name, mode,
                        r.ropegen_us, r.flashinfer_us, ratio, pct, r.check.c_str());
            std::fflush(stdout);
            rows.push_back(r);
          }
        }
      } catch (const std::exception& ex) {
        std::printf("%-16s %7lld ERROR %s\n", s.name.c_str(), T, ex.what());
        ++failures;
        const cudaError_t sticky = cudaGetLastError();
        if (sticky == cudaErrorIllegalAddress || sticky == cudaErrorLaunchFailure) {
          std::printf("the device is in an error state (%s): stopping\n", cudaGetErrorString(sticky));
          goto done;
        }
      }
    }
  }
  try {
    mla_rows(*ctx, st, o, copy_gbs, rows, failures);
  } catch (const std::exception& ex) {
    std::printf("the device is in an error state after the MLA rows (%s): stopping\n", ex.what());
  }
done:
  notes.push_back("fp8 rows (scales 1, so x / scale and x * (1 / scale) are the same): ropegen rounds the rotated q and k "
                  "to bf16 before fp8, FlashInfer's RopeQuantizeAppendPagedKVCache converts the fp32 rotation; codes one "
                  "step apart in q_out and the k cache are that double rounding and are counted, not failed; v must match");
  for (const auto& n : notes) std::printf("note: %s\n", n.c_str());

  if (FILE* f = std::fopen(o.csv.c_str(), "w")) {
    std::fprintf(f, "shape,tokens,flashinfer_entry,mode,ropegen_us,flashinfer_us,ratio_flashinfer_over_ropegen,"
                    "min_bytes,ropegen_pct_of_copy,check,device,flashinfer_commit\n");
    for (const Row& r : rows) {
      const double ratio = r.flashinfer_us > 0 && r.ropegen_us > 0 ? r.flashinfer_us / r.ropegen_us : -1;
      const double pct = r.bytes > 0 && r.tokens > 0 ? 100.0 * (r.bytes / (r.ropegen_us * 1e-6) / 1e9) / copy_gbs : -1;
      std::string check = r.check;
      std::replace(check.begin(), check.end(), ',', ';');
      std::fprintf(f, "%s,%lld,%s,%s,%.3f,%.3f,%.3f,%.0f,%.1f,%s,%s,%s\n", r.shape.c_str(), r.tokens, r.entry.c_str(),
                   r.mode.c_str(), r.ropegen_us, r.flashinfer_us, ratio, r.bytes, pct, check.c_str(), prop.name,
                   ROPEGEN_FLASHINFER_COMMIT);
    }
    std::fclose(f);
    std::printf("\nwrote %s", o.csv.c_str());
  } else {
    std::fprintf(stderr, "could not write %s\n", o.csv.c_str());
    ++failures;
  }
  std::printf(" (%.0f s in all; %d failure%s)\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(), failures,
              failures == 1 ? "" : "s");
  cudaStreamDestroy(st);
  return failures ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ropegen_peers_bench: %s\n", e.what());
    return 1;
  }
}
