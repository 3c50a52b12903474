// Kernel benchmark: the generated kernels against the device's own limits, measured in one
// run: device-to-device copy bandwidth and the time of an empty kernel launch. Each row is
// timed twice: launches back to back on a stream (what a host loop costs) and inside a CUDA
// graph (what an engine's decode step costs; the empty kernel's graph node is the floor). Also the
// unfused pair (rope, then kv_append) and a seed-style baseline (fp32, one 256-thread block
// per token and head, scalar loads). Not a test.
//
// Rows with a `group` are measured against a baseline row of the same run and report
// `ratio` = us / the baseline's us (`graph_ratio` likewise), the baseline named in
// `ratio_to`: scaling families computed in the kernel against the cos/sin table, angle =
// exact against fp32, multimodal positions against single, and the fused QK-RMSNorm and
// fp8-cache kernels against their unfused sequences (hand-written norm and fp8-append
// kernels beside ropegen's rope and kv_append), and one launch over L layers (layers = many)
// against L single-layer launches. A fused row whose spec key the build does
// not know is skipped with a printed note.
//
//   ropegen_kernel_bench [--runtime cuda|host] [--quick] [--sweep] [--csv FILE] [--cache-dir DIR] [--no-limits]
//
// Every launch passes the limits cache_slots and table_rows (as the Python and Rust bindings
// do; every index is in range); --no-limits leaves them 0 for kernels without checks = bounds
// (a C caller that sets none), so the compare's cost can be read off two runs.
//
// The CSV goes beside the executable (the build tree's bench/) unless --csv says where, never
// to the working directory; kernels are compiled into a private cache directory there too,
// never the user's.
//
// The working set never sits in L2 between iterations: each launch uses the next of enough
// buffer sets (offsets into one pool per tensor) to cover at least 4x the L2 size.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "compile/compile.hpp"
#include "jit/jit.hpp"
#include "reference/fp8.hpp"
#include "ropegen/ropegen.hpp"

using namespace ropegen;

namespace {

constexpr double kL2Bytes = 50.0 * 1024 * 1024;  // H100: 50 MiB
bool g_limits = true;  // pass cache_slots and table_rows (--no-limits: 0 unless checks = bounds)

}  // namespace

namespace ropegen::bench {
/// The baseline kernels (bench/kernels/*.hip), embedded by bench/CMakeLists.txt.
const std::vector<std::pair<std::string, std::string>>& files();
}  // namespace ropegen::bench

namespace {

/// A baseline kernel's text by file name.
const std::string& bench_kernel(const std::string& name) {
  for (const auto& f : ropegen::bench::files())
    if (f.first == name) return f.second;
  throw Error(ErrorKind::Internal, "no benchmark kernel named '" + name + "'");
}

struct Options {
  std::string runtime = "cuda";
  bool quick = false;
  std::string csv;        // default: <directory of the executable>/kernel_bench.csv
  std::string cache_dir;  // default: <directory of the executable>/bench-cache
  bool sweep = false;  // try launch plans for the Llama shape instead of the full table
  bool no_limits = false;  // leave cache_slots and table_rows 0 (checks = none kernels)
  std::string only;        // --only: the comma-separated groups to run (empty: all)
};

/// Whether --only lets group `name` run.
bool wanted(const Options& o, const std::string& name) {
  return o.only.empty() || ("," + o.only + ",").find("," + name + ",") != std::string::npos;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

/// Device memory freed on scope exit.
struct DevBuf {
  Runtime* rt = nullptr;
  void* p = nullptr;
  DevBuf() = default;
  DevBuf(Runtime& r, size_t bytes) : rt(&r), p(r.alloc(bytes)) {}
  DevBuf(DevBuf&& o) noexcept : rt(o.rt), p(o.p) { o.p = nullptr; }
  DevBuf& operator=(DevBuf&& o) noexcept {
    std::swap(rt, o.rt);
    std::swap(p, o.p);
    return *this;
  }
  ~DevBuf() {
    if (p) rt->free(p);
  }
  char* c() const { return static_cast<char*>(p); }
};

/// Inputs and outputs for `sets` independent launches of one shape.
struct Workload {
  KernelSpec spec;
  long long tokens = 0;
  int sets = 1;
  long long q_set = 0, kv_set = 0, cache_set = 0;  // elements per set
  long long cache_slots = 0;
  DevBuf q, k, v, kc, vc, pos, slots, table;
  DevBuf bounds;  // checks = bounds: the zeroed error buffer (in-range data: stays zero)
  DevBuf seq_lens;            // runtime-length scaling (choose = runtime) only
  DevBuf q_norm_w, k_norm_w;  // [head_dim] of the activation dtype each (QK-RMSNorm rows)
  DevBuf norm_sums;           // qk_norm sums = write | read: [T, 2] f32
  DevBuf scales;              // floats: k_scale, v_scale, q_scale (fp8 rows), all 1
  int eb = 2;
  int cache_eb = 2;  // bytes per cache element: the dtype's, or 1 for an fp8 cache
  // Quantized caches: bytes per set of the codes (4-bit: two per byte) and of the scales the
  // kernel writes (k_cache_scales, v_cache_scales); 0 for the other caches.
  long long quant_set_bytes = 0, scale_set_bytes = 0;
  DevBuf ksc, vsc;
  DevBuf bias;      // bias = qkv: q's (with gate: 2 * q_heads rows), k's and v's biases, one buffer
  DevBuf gate_out;  // gate = interleaved: [T, q_heads, head_dim] per set

  ropegen_kernel_args args(int set) const {
    ropegen_kernel_args a = ROPEGEN_KERNEL_ARGS_INIT;
    a.q = q.c() + static_cast<size_t>(set) * q_set * eb;
    a.k = k.c() + static_cast<size_t>(set) * kv_set * eb;
    a.v = v.c() + static_cast<size_t>(set) * kv_set * eb;
    a.k_cache = kc.c() + static_cast<size_t>(set) * cache_set * cache_eb;
    a.v_cache = vc.c() + static_cast<size_t>(set) * cache_set * cache_eb;
    a.positions = pos.p;
    a.slot_mapping = slots.p;
    a.cos = reinterpret_cast<const float*>(table.p);
    a.sin = reinterpret_cast<const float*>(table.p) + spec.rotary_dim / 2;
    a.cos_sin_stride = spec.rotary_dim;
    a.num_tokens = tokens;
    a.q_stride = static_cast<long long>(spec.q_heads) * spec.head_dim;
    a.k_stride = a.v_stride = static_cast<long long>(spec.kv_heads) * spec.head_dim;
    a.max_seq = cache_slots;
    const bool limits = g_limits || spec.checks == Checks::Bounds;
    a.cache_slots = limits ? cache_slots : 0;  // paged(block = 16) and contiguous alike: a multiple of 16
    a.table_rows = limits ? tokens : 0;        // the table holds positions 0 .. tokens - 1
    a.bounds_error = static_cast<unsigned long long*>(bounds.p);
    a.seq_lens = seq_lens.p;  // null unless the spec reads it
    if (quant_set_bytes) {
      a.k_cache = kc.c() + static_cast<size_t>(set) * quant_set_bytes;
      a.v_cache = vc.c() + static_cast<size_t>(set) * quant_set_bytes;
      a.k_cache_scales = ksc.c() + static_cast<size_t>(set) * scale_set_bytes;
      a.v_cache_scales = vsc.c() + static_cast<size_t>(set) * scale_set_bytes;
      if (spec.cache_dtype == StoreType::Nvfp4) {  // the global scales
        a.k_scale = static_cast<const float*>(scales.p);
        a.v_scale = static_cast<const float*>(scales.p) + 1;
      }
    }
    if (spec.qk_norm.on && spec.qk_norm.sums != NormSums::None) a.norm_sums = static_cast<float*>(norm_sums.p);
    const long long qe = static_cast<long long>(spec.q_heads) * spec.head_dim;
    const long long kve = static_cast<long long>(spec.kv_heads) * spec.head_dim;
    const bool gated = spec.gate == Gate::Interleaved;
    if (spec.bias == Bias::Qkv) {
      a.q_bias = bias.c();
      a.k_bias = bias.c() + (gated ? 2 : 1) * qe * eb;
      a.v_bias = bias.c() + ((gated ? 2 : 1) * qe + kve) * eb;
    }
    if (gated) {  // q rows [q_h | gate_h]: twice the stride; the gates to gate_out
      a.q_stride = 2 * qe;
      a.gate_out = gate_out.c() + static_cast<size_t>(set) * tokens * qe * eb;
      a.gate_out_stride = qe;
    }
    if (spec.positions.kind == PositionsKind::Grid) {  // ids as indices into frames of 16 x 32
      a.grid_h = 16;
      a.grid_w = 32;
    }
    if (spec.qk_norm.on && spec.qk_norm.weight != NormWeight::None &&
        spec.qk_norm.sums != NormSums::Write) {  // the weights the norm reads (all ones)
      a.q_norm_weight = q_norm_w.p;
      a.k_norm_weight = k_norm_w.p;
    }
    if (spec.op == Op::MlaRopeAppend) {  // k = k_pe [T, rot], v = kv_c [T, kv_lora]; one cache of rows
      a.k = k.c() + static_cast<size_t>(set) * tokens * spec.rotary_dim * eb;
      a.v = v.c() + static_cast<size_t>(set) * tokens * spec.kv_lora_rank * eb;
      a.k_stride = spec.rotary_dim;
      a.v_stride = spec.kv_lora_rank;
      a.v_cache = nullptr;
    }
    return a;
  }
  const float* k_scale() const { return static_cast<const float*>(scales.p); }
  const float* v_scale() const { return static_cast<const float*>(scales.p) + 1; }
  const float* q_scale() const { return static_cast<const float*>(scales.p) + 2; }
};

/// Bytes a launch must move at least: every input read once, every output written once,
/// the cache at its stored width (`cache_eb` bytes per element; 0: the dtype's). Rope ops
/// read one index per position row (multimodal: 3) and, with a run-time length, one
/// sequence length per token; a table's cos + sin row is counted once per token.
double ideal_bytes(const KernelSpec& s, long long T, int cache_eb = 0) {
  const double eb = dtype_bytes(s.dtype), ib = s.index == IndexType::I32 ? 4 : 8;
  double ceb = cache_eb > 0 ? cache_eb : eb;
  if (quantized_cache(s))  // the codes, and the scales they write per element
    ceb = cache_bits(s) / 8.0 + (s.scales == Scales::PerTokenHead ? 4.0 : 1.0) / cache_group(s);
  const double qe = static_cast<double>(s.q_heads) * s.head_dim, kve = static_cast<double>(s.kv_heads) * s.head_dim;
  const double table = s.cos_sin.source == CosSinSource::Table ? s.rotary_dim * 4.0 : 0;  // cos + sin row
  const double pos = ib * s.positions.input_rows() + (s.cos_sin.runtime_length() ? ib : 0);
  double per_token = 0;
  if (s.qk_norm.on && s.qk_norm.sums == NormSums::Write)  // q and k read, two sums written
    return ((qe + kve) * eb + pos + table + 8) * static_cast<double>(T);
  if (s.qk_norm.on && s.qk_norm.sums == NormSums::Read) per_token += 8;  // the token's two sums
  if (s.op == Op::Rope) per_token += (2 * qe + 2 * kve) * eb + pos + table;
  if (s.op == Op::KvAppend) per_token += 2 * kve * eb + 2 * kve * ceb + ib;
  if (s.op == Op::RopeKvAppend) per_token += (2 * qe + 2 * kve) * eb + 2 * kve * ceb + pos + ib + table;
  if (s.op != Op::Rope && s.v_source == VSource::K) per_token -= kve * eb;  // v is k: read once
  if (s.gate == Gate::Interleaved) per_token += 2 * qe * eb;                  // the gates read and written
  if (s.op == Op::MlaRopeAppend)  // q_pe read and written; k_pe and kv_c read; one cache row written
    per_token = 2.0 * s.q_heads * s.rotary_dim * eb + (s.rotary_dim + s.kv_lora_rank) * (eb + ceb) + pos + ib + table;
  if (s.op == Op::IndexerAppend)  // q read, q_out fp8 and its head weights; weights read; k read; its record
    per_token = qe * eb + s.head_dim * eb + s.q_heads * 4.0 + pos + ib + qe + s.q_heads * 4.0 + s.head_dim + 4;
  if (s.op == Op::MlaRopeAppend && s.cache_record.used())  // the record's bytes written instead of a row
    per_token = 2.0 * s.q_heads * s.rotary_dim * eb + (s.rotary_dim + s.kv_lora_rank) * eb + s.cache_record.size + pos +
                ib + table;
  return per_token * static_cast<double>(T);
}

/// `cache_eb`: bytes per cache element (0: the dtype's; 1: an fp8 cache). `min_sets`: at least
/// this many buffer sets (a launch over that many layers takes one set per layer).
Workload make_workload(Runtime& rt, const KernelSpec& s, long long T, int cache_eb = 0, int min_sets = 1) {
  Workload w;
  w.spec = s;
  w.tokens = T;
  w.eb = dtype_bytes(s.dtype);
  w.cache_eb = cache_eb > 0 ? cache_eb : w.eb;
  const double per_set = std::max(1.0, ideal_bytes(s, T, w.cache_eb));
  w.sets = static_cast<int>(std::min(8192.0, std::max(1.0, std::ceil(4 * kL2Bytes / per_set))));
  w.sets = std::max(w.sets, min_sets);
  const bool mla = s.op == Op::MlaRopeAppend;
  w.q_set = T * s.q_heads * s.head_dim * (s.gate == Gate::Interleaved ? 2 : 1);
  w.kv_set = mla ? T * s.kv_lora_rank : T * s.kv_heads * s.head_dim;  // mla: kv_c, the larger of k_pe and kv_c
  w.cache_slots = (T + 15) / 16 * 16;
  w.cache_set = w.cache_slots * (mla ? s.kv_lora_rank + s.rotary_dim : s.kv_heads * s.head_dim);
  auto pool = [&](long long elems, int elem_bytes) {
    size_t bytes = static_cast<size_t>(elems) * w.sets * elem_bytes;
    DevBuf b(rt, bytes);
    std::vector<char> init(std::min<size_t>(bytes, 64 << 20), 0x11);  // finite values in every dtype
    for (size_t off = 0; off < bytes; off += init.size())
      rt.copy_to_device(b.c() + off, init.data(), std::min(init.size(), bytes - off));
    return b;
  };
  w.q = pool(w.q_set, w.eb);
  if (s.bias == Bias::Qkv) {  // the sets share one bias (weights of the layer)
    w.bias = DevBuf(rt, static_cast<size_t>(2 * s.q_heads + 2 * s.kv_heads) * s.head_dim * w.eb);
    std::vector<char> init(static_cast<size_t>(2 * s.q_heads + 2 * s.kv_heads) * s.head_dim * w.eb, 0x11);
    rt.copy_to_device(w.bias.p, init.data(), init.size());
  }
  if (s.gate == Gate::Interleaved) w.gate_out = pool(T * s.q_heads * s.head_dim, w.eb);
  w.k = pool(w.kv_set, w.eb);
  w.v = pool(w.kv_set, w.eb);
  if (quantized_cache(s)) {
    w.quant_set_bytes = w.cache_set * cache_bits(s) / 8;
    w.scale_set_bytes = w.cache_set / cache_group(s) * (s.scales == Scales::PerTokenHead ? 4 : 1);
    w.kc = pool(w.quant_set_bytes, 1);
    w.vc = pool(w.quant_set_bytes, 1);
    w.ksc = pool(w.scale_set_bytes, 1);
    w.vsc = pool(w.scale_set_bytes, 1);
  } else {
    w.kc = pool(w.cache_set, w.cache_eb);
    w.vc = pool(w.cache_set, w.cache_eb);
  }
  const bool i64 = s.index == IndexType::I64;
  auto indices = [&](const std::vector<long long>& v) {  // to the device in the spec's index type
    const size_t ib = i64 ? 8 : 4;
    DevBuf b(rt, std::max<size_t>(1, v.size()) * ib);
    std::vector<int> v32(v.begin(), v.end());
    if (!v.empty()) rt.copy_to_device(b.p, i64 ? static_cast<const void*>(v.data()) : v32.data(), v.size() * ib);
    return b;
  };
  // Positions by id, slots in order (decode: one token per sequence).
  std::vector<long long> ids(static_cast<size_t>(T));
  for (long long t = 0; t < T; ++t) ids[t] = t;
  w.slots = indices(ids);
  if (s.positions.input_rows() == 1) {  // single; grid: each token's index in the grid
    w.pos = indices(ids);
  } else {
    // [3, T] rows (t, h, w), positions_stride 0 = T apart: the temporal row by id, height
    // and width as a 32-wide image grid; every value a row of the table.
    std::vector<long long> rows3(static_cast<size_t>(3 * T));
    for (long long t = 0; t < T; ++t) {
      rows3[t] = t;
      rows3[T + t] = t / 32;
      rows3[2 * T + t] = t % 32;
    }
    w.pos = indices(rows3);
  }
  if (s.cos_sin.runtime_length()) {
    // Two sequences: the first half of the tokens at original_max_position_embeddings = 4096
    // (short factors), the second half past it (long factors).
    std::vector<long long> lens(static_cast<size_t>(T));
    for (long long t = 0; t < T; ++t) lens[t] = t < T / 2 ? 4096 : 4096 + T;
    w.seq_lens = indices(lens);
  }
  {
    // Norm weights of 1.0 (0x3f80 in bf16, 0x3c00 in f16) and fp8 scales of 1.0f; enough
    // weights for qk_norm = rms(span = all_heads) (heads * head_dim).
    const unsigned short one = s.dtype == DType::F16 ? 0x3c00 : 0x3f80;
    const size_t nw = static_cast<size_t>(s.head_dim) * std::max(1, s.q_heads);
    std::vector<unsigned short> ones16(nw, one);
    std::vector<float> ones32(std::max<size_t>(nw, 4), 1.0f);
    const void* src = s.dtype == DType::F32 ? static_cast<const void*>(ones32.data()) : ones16.data();
    if (s.qk_norm.on && s.qk_norm.sums != NormSums::None) {  // sums of squares as if of unit values
      std::vector<float> sums(static_cast<size_t>(2 * T));
      for (long long t = 0; t < T; ++t) {
        sums[static_cast<size_t>(2 * t)] = static_cast<float>(s.qk_norm.ranks * s.q_heads * s.head_dim);
        sums[static_cast<size_t>(2 * t + 1)] = static_cast<float>(s.qk_norm.ranks * s.kv_heads * s.head_dim);
      }
      w.norm_sums = DevBuf(rt, sums.size() * 4);
      rt.copy_to_device(w.norm_sums.p, sums.data(), sums.size() * 4);
    }
    w.q_norm_w = DevBuf(rt, nw * w.eb);
    w.k_norm_w = DevBuf(rt, nw * w.eb);
    rt.copy_to_device(w.q_norm_w.p, src, nw * w.eb);
    rt.copy_to_device(w.k_norm_w.p, src, nw * w.eb);
    w.scales = DevBuf(rt, 4 * sizeof(float));
    rt.copy_to_device(w.scales.p, ones32.data(), 3 * sizeof(float));
  }
  std::vector<float> table(static_cast<size_t>(T) * s.rotary_dim);
  for (long long p = 0; p < T; ++p)
    for (int j = 0; j < s.rotary_dim / 2; ++j) {
      double a = p * std::pow(10000.0, -2.0 * j / s.rotary_dim);
      table[p * s.rotary_dim + j] = static_cast<float>(std::cos(a));
      table[p * s.rotary_dim + s.rotary_dim / 2 + j] = static_cast<float>(std::sin(a));
    }
  w.table = DevBuf(rt, table.size() * 4);
  rt.copy_to_device(w.table.p, table.data(), table.size() * 4);
  const unsigned long long zero[4] = {0, 0, 0, 0};
  w.bounds = DevBuf(rt, sizeof zero);
  rt.copy_to_device(w.bounds.p, zero, sizeof zero);
  return w;
}

/// Median microseconds per call of `launch(set)` launched back to back on `stream`.
template <typename Launch>
double time_per_call_us(Runtime& rt, void* stream, int sets, Launch&& launch, bool quick) {
  int next = 0;
  auto batch = [&](int n) {
    return rt.time_ms([&] {
      for (int i = 0; i < n; ++i) launch(next++ % sets);
    }, stream);
  };
  batch(3);  // warm up
  double probe = batch(10) / 10.0;
  const double target_ms = quick ? 0.5 : 3.0;
  int n = static_cast<int>(std::clamp(target_ms / std::max(probe, 1e-4), 20.0, 5000.0));
  std::vector<double> per;
  for (int r = 0; r < (quick ? 3 : 7); ++r) per.push_back(batch(n) * 1000.0 / n);
  return median(per);
}

/// Median microseconds per call inside a CUDA graph: `calls` calls (rotating buffer sets)
/// captured once, the graph replayed; -1 where the runtime has no graphs.
template <typename Launch>
double graph_per_call_us(Runtime& rt, void* stream, int sets, Launch&& launch, bool quick) {
  const int calls = std::max(sets, 200);
  std::vector<double> per;
  try {
    for (int r = 0; r < (quick ? 2 : 5); ++r)
      per.push_back(rt.graph_time_ms([&] { for (int i = 0; i < calls; ++i) launch(i % sets); }, stream,
                                     quick ? 2 : 5) * 1000.0 / calls);
  } catch (const Error&) {
    return -1;
  }
  return median(per);
}

struct Row {
  std::string name, variant, spec;
  long long tokens;
  double us, bytes;
  double graph_us;  ///< -1: no graphs on this runtime
  std::string group = "";               ///< rows compared with one baseline ("" for the plain rows)
  std::string ratio_to = "";            ///< the baseline row, "shape: variant" at the same tokens
  double ratio = -1, graph_ratio = -1;  ///< us / the baseline's us; -1: none
};

/// Constants of a hand-written baseline for a 16-bit activation dtype: the shape it was
/// written for, pasted before its body.
std::string baseline_constants(const KernelSpec& s) {
  if (dtype_bytes(s.dtype) != 2 || s.index != IndexType::I32 || s.head_dim % 8 != 0)
    throw Error(ErrorKind::Internal, "the hand-written baselines take bf16/f16, i32 indices, head_dim % 8 == 0");
  return "using E = " + std::string(s.dtype == DType::BF16 ? "rg_bf16" : "rg_f16") +
         ";\nusing V16 = rg_raw<16>::type;\nusing V8 = rg_raw<8>::type;\nconstexpr int kHd = " +
         std::to_string(s.head_dim) + ", kQh = " + std::to_string(s.q_heads) +
         ", kKvh = " + std::to_string(s.kv_heads) + ";\n";
}

/// Threads per block of the QK-RMSNorm baseline.
constexpr int kNormThreads = 256;

/// Passes of the norm baseline over a token's q and k heads (its tasks: grid y).
int norm_passes(const KernelSpec& s) {
  const int per_pass = kNormThreads / (s.head_dim / 8);
  return (s.q_heads + s.kv_heads + per_pass - 1) / per_pass;
}

/// The unfused QK-RMSNorm (Qwen3's q_norm / k_norm before RoPE) as a hand-written kernel
/// (kernels/qk_norm.hip) for the spec's shape: every q and k head of a token normalised in
/// place with the weights in q_norm_weight and k_norm_weight. One block of kNormThreads
/// threads per token, heads in passes (grid y takes passes when there are few tokens).
std::string norm_source(const KernelSpec& s) {
  return baseline_constants(s) + "constexpr int kThreads = " + std::to_string(kNormThreads) + ";\n" +
         bench_kernel("qk_norm.hip");
}

/// Threads per block (= per token) of the fp8-append baseline: 8 elements each of k and v.
int append_fp8_threads(const KernelSpec& s) { return 2 * s.kv_heads * s.head_dim / 8; }

/// The unfused fp8 append as a hand-written kernel (kernels/append_fp8.hip) for the spec's
/// shape: a token's (already rotated) k and v quantized to OCP e4m3 with the per-tensor
/// scales in k_scale and v_scale, into a paged NHD cache; one block per token. Pasted after
/// the target's fp8 encoders (templates/fp8.h with the vendor's hardware header, as emit()
/// pastes them).
std::string append_fp8_source(const KernelSpec& s, const Target& t) {
  std::string fp8;
  if (t.vendor == Vendor::Nvidia) fp8 += template_text("convert_fp8_nvidia.h");
  if (t.vendor == Vendor::Amd) fp8 += template_text("convert_fp8_amd.h");
  fp8 += template_text("fp8.h");
  return fp8 + baseline_constants(s) + "constexpr int kThreads = " + std::to_string(append_fp8_threads(s)) + ";\n" +
         bench_kernel("append_fp8.hip");
}

/// Runs the hand-written baselines once on a few tokens and compares them with the host
/// (norm: within 1 ulp of an fp64 RMSNorm; fp8: the reference encoder's
/// codes exactly): a wrong baseline would make every ratio against it meaningless.
/// `norm` is checked as a rope spec with qk_norm (q, k, positions, the weights), `append`
/// as kv_append with an fp8 cache (the scales).
void check_baselines(Runtime& rt, void* stream, const KernelSpec& s, const Kernel& norm, const Kernel& append) {
  const int T = 5, hd = s.head_dim, qh = s.q_heads, kvh = s.kv_heads, slots_n = 16;
  const long long qn = static_cast<long long>(T) * qh * hd, kn = static_cast<long long>(T) * kvh * hd;
  if (s.dtype != DType::BF16) return;  // the benchmark's dtype; the kernels take f16 the same way
  auto to16 = [](float f) {            // to bf16, round to nearest even
    unsigned u;
    std::memcpy(&u, &f, 4);
    return static_cast<unsigned short>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
  };
  auto from16 = [](unsigned short b) {
    const unsigned u = static_cast<unsigned>(b) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  };
  unsigned state = 12345;
  auto rnd = [&] {  // in [-4, 4)
    state = state * 1664525u + 1013904223u;
    return (static_cast<float>(state >> 8) / 16777216.0f - 0.5f) * 8.0f;
  };
  std::vector<unsigned short> q(qn), k(kn), v(kn), qw(hd), kw(hd);
  for (auto* vec : {&q, &k, &v, &qw, &kw})
    for (auto& e : *vec) e = to16(rnd());
  const float scales[2] = {0.5f, 0.25f};
  const std::vector<int> pos = {0, 1, 2, 3, 4}, slots = {3, 0, 7, -1, 12};
  std::vector<unsigned char> cache(static_cast<size_t>(slots_n) * kvh * hd, 0xee);
  DevBuf dq(rt, qn * 2), dk(rt, kn * 2), dv(rt, kn * 2), dqw(rt, hd * 2), dkw(rt, hd * 2), dpos(rt, T * 4),
      dslots(rt, T * 4), dsc(rt, sizeof scales), dkc(rt, cache.size()), dvc(rt, cache.size());
  rt.copy_to_device(dq.p, q.data(), qn * 2);
  rt.copy_to_device(dk.p, k.data(), kn * 2);
  rt.copy_to_device(dv.p, v.data(), kn * 2);
  rt.copy_to_device(dqw.p, qw.data(), hd * 2);
  rt.copy_to_device(dkw.p, kw.data(), hd * 2);
  rt.copy_to_device(dpos.p, pos.data(), T * 4);
  rt.copy_to_device(dslots.p, slots.data(), T * 4);
  rt.copy_to_device(dsc.p, scales, sizeof scales);
  rt.copy_to_device(dkc.p, cache.data(), cache.size());
  rt.copy_to_device(dvc.p, cache.data(), cache.size());
  ropegen_kernel_args a = ROPEGEN_KERNEL_ARGS_INIT;
  a.num_tokens = T;
  a.q = dq.p;
  a.k = dk.p;
  a.v = dv.p;
  a.q_stride = static_cast<long long>(qh) * hd;
  a.k_stride = a.v_stride = static_cast<long long>(kvh) * hd;
  a.positions = dpos.p;
  a.slot_mapping = dslots.p;
  a.k_cache = dkc.p;
  a.v_cache = dvc.p;
  a.max_seq = slots_n;
  a.cache_slots = g_limits ? slots_n : 0;
  ropegen_kernel_args n = a;
  n.q_norm_weight = dqw.p;
  n.k_norm_weight = dkw.p;
  norm.launch(n, stream, 1 << 30);
  ropegen_kernel_args f = a;
  f.k_scale = static_cast<const float*>(dsc.p);
  f.v_scale = static_cast<const float*>(dsc.p) + 1;
  append.launch(f, stream);
  rt.synchronize_stream(stream);
  std::vector<unsigned short> q_out(qn), k_out(kn);
  std::vector<unsigned char> kc(cache.size()), vc(cache.size());
  rt.copy_to_host(q_out.data(), dq.p, qn * 2);
  rt.copy_to_host(k_out.data(), dk.p, kn * 2);
  rt.copy_to_host(kc.data(), dkc.p, kc.size());
  rt.copy_to_host(vc.data(), dvc.p, vc.size());
  double worst = 0;  // in ulps of the result
  for (int t = 0; t < T; ++t)
    for (int h = 0; h < qh + kvh; ++h) {
      const bool isq = h < qh;
      const size_t row = isq ? (static_cast<size_t>(t) * qh + h) * hd : (static_cast<size_t>(t) * kvh + h - qh) * hd;
      const auto& in = isq ? q : k;
      const auto& out = isq ? q_out : k_out;
      const auto& w = isq ? qw : kw;
      double ss = 0;
      for (int i = 0; i < hd; ++i) ss += static_cast<double>(from16(in[row + i])) * from16(in[row + i]);
      const double r = 1.0 / std::sqrt(ss / hd + 1e-6);
      for (int i = 0; i < hd; ++i) {
        const double want = from16(in[row + i]) * r * from16(w[i]), got = from16(out[row + i]);
        const double ulp = std::ldexp(1.0, std::ilogb(std::max(std::fabs(want), 1e-30)) - 7);  // bf16's
        worst = std::max(worst, std::fabs(got - want) / ulp);
      }
    }
  if (!(worst <= 1.0))
    throw Error(ErrorKind::Internal,
                "the QK-RMSNorm baseline differs from the host by " + std::to_string(worst) + " ulps");
  long long wrong = 0, checked = 0;
  for (int t = 0; t < T; ++t)
    for (int e = 0; e < kvh * hd; ++e)
      for (int which = 0; which < 2; ++which) {
        const auto& src = which ? v : k_out;  // k as the norm left it
        const auto& got = which ? vc : kc;
        const float x = from16(src[static_cast<size_t>(t) * kvh * hd + e]) / scales[which];
        const size_t at = slots[t] >= 0 ? static_cast<size_t>(slots[t]) * kvh * hd + e : 0;
        if (slots[t] < 0) continue;
        ++checked;
        wrong += got[at] != reference::fp8_encode(reference::Fp8Format::E4M3, x);
      }
  long long touched = 0;  // bytes of slots that no token maps to must stay 0xee
  for (int sl = 0; sl < slots_n; ++sl)
    if (std::find(slots.begin(), slots.end(), sl) == slots.end())
      for (int e = 0; e < kvh * hd; ++e)
        touched +=
            (kc[static_cast<size_t>(sl) * kvh * hd + e] != 0xee) + (vc[static_cast<size_t>(sl) * kvh * hd + e] != 0xee);
  if (wrong || touched)
    throw Error(ErrorKind::Internal, "the fp8-append baseline wrote " + std::to_string(wrong) + " of " +
                                         std::to_string(checked) + " codes wrong and " + std::to_string(touched) +
                                         " bytes outside its slots");
  std::printf("baselines checked on the device: QK-RMSNorm within %.2f ulps of fp64, fp8 append %lld codes exact\n",
              worst, checked);
}

/// What every measured group shares: the options, the device, the rows measured so far and
/// the row helpers.
struct Bench {
  Options o;
  Context* ctx = nullptr;
  Runtime* rt = nullptr;
  void* stream = nullptr;
  Target target;
  double copy_gbs = 0;
  double empty_us = 0, empty_graph_us = -1;
  std::vector<Row> rows;
  std::vector<std::string> notes;  // fused rows skipped: printed after the table
  const KernelSpec llama_f32 = parse_spec_line("head_dim=128 q_heads=32 kv_heads=8 dtype=f32").spec;
  const std::string llama = "head_dim=128 q_heads=32 kv_heads=8 dtype=bf16 cache=paged(block=16,order=nhd)";
  long long prefill = 8192;
  static constexpr int kAllHeads = 1 << 30;  // parallelism hint: grid y covers every head

  /// A hand-written kernel from its source text. `spec`: what the launch checks the
  /// arguments against (the fields the kernel reads).
  std::shared_ptr<Kernel> helper(const std::string& body, const std::string& entry, int tasks, int threads,
                                 const KernelSpec& spec, int tokens_per_block = 1) const {
    LaunchPlan plan;
    plan.wave = target.default_wave;
    plan.tokens_per_block = tokens_per_block;
    plan.head_groups = 1;
    plan.num_tasks = tasks;
    plan.block_threads = threads;
    GeneratedSource g = wrap_kernel_body(body, entry, target, plan, spec);
    g.align = generate(spec, target).align;
    return rt->load(select_compiler(target).compile(g, {}));
  }

  /// Appends a row timed in stream and graph mode; returns its index.
  template <typename Launch>
  size_t time_row(Row r, int sets, Launch&& launch) {
    r.us = time_per_call_us(*rt, stream, sets, launch, o.quick);
    r.graph_us = graph_per_call_us(*rt, stream, sets, launch, o.quick);
    rows.push_back(r);
    return rows.size() - 1;
  }

  /// The fused kernel of a spec at T tokens; returns the row's index.
  size_t run_spec(const std::string& name, const std::string& text, long long T) {
    KernelSpec s = parse_spec_line(text, "<bench>").spec;
    auto k = ctx->kernel(s);
    Workload w = make_workload(*rt, s, T);
    auto launch = [&](int set) { k->launch(w.args(set), stream); };
    double us = time_per_call_us(*rt, stream, w.sets, launch, o.quick);
    double graph_us = graph_per_call_us(*rt, stream, w.sets, launch, o.quick);
    if (s.checks == Checks::Bounds && read_bounds_error(*rt, w.bounds.p).violated)
      throw Error(ErrorKind::Internal, "checks = bounds recorded a violation on in-range data: " + s.canonical());
    const LaunchPlan& p = k->plan();  // what was built (ROPEGEN_PLAN included)
    rows.push_back({name, "fused, plan " + std::to_string(p.tokens_per_block) + "x" + std::to_string(p.head_groups),
                    s.canonical(), T, us, ideal_bytes(s, T), graph_us});
    return rows.size() - 1;
  }

  /// ropegen's rope, then its kv_append, for the fused spec's shape.
  void run_unfused(const std::string& name, const std::string& text, long long T) {
    KernelSpec fused = parse_spec_line(text, "<bench>").spec;
    KernelSpec rope = fused, append = fused;
    rope.op = Op::Rope;
    append.op = Op::KvAppend;
    auto kr = ctx->kernel(rope);
    auto ka = ctx->kernel(append);
    Workload w = make_workload(*rt, fused, T);
    auto launch = [&](int set) {
      ropegen_kernel_args a = w.args(set);
      kr->launch(a, stream);
      ka->launch(a, stream);
    };
    double us = time_per_call_us(*rt, stream, w.sets, launch, o.quick);
    double graph_us = graph_per_call_us(*rt, stream, w.sets, launch, o.quick);
    rows.push_back({name, "unfused rope + kv_append", fused.canonical(), T, us,
                    ideal_bytes(rope, T) + ideal_bytes(append, T), graph_us});
  }

  /// ratio = us / the baseline's us, in stream and in graph mode.
  void relate(size_t i, size_t base, const std::string& group) {
    Row& r = rows[i];
    const Row& b = rows[base];
    r.group = group;
    r.ratio_to = b.name + ": " + b.variant;
    r.ratio = r.us / b.us;
    r.graph_ratio = r.graph_us > 0 && b.graph_us > 0 ? r.graph_us / b.graph_us : -1;
  }

  /// The fused row of a spec at T: the one already measured in this run, else measured now.
  size_t fused_row(const std::string& name, const std::string& text, long long T) {
    const std::string canon = parse_spec_line(text, "<bench>").spec.canonical();
    for (size_t i = 0; i < rows.size(); ++i)
      if (rows[i].spec == canon && rows[i].tokens == T && rows[i].variant.rfind("fused", 0) == 0) return i;
    return run_spec(name, text, T);
  }

  /// A spec whose keys this build may not know (the fused rows of a branch behind the
  /// spec): parsed, or a note and nothing.
  std::unique_ptr<KernelSpec> parse_new(const std::string& row, const std::string& text) {
    try {
      return std::make_unique<KernelSpec>(parse_spec_line(text, "<bench>").spec);
    } catch (const Error& e) {
      notes.push_back("skipped " + row + ": this build does not take '" + text + "': " + e.what());
      std::printf("note: %s\n", notes.back().c_str());
      return nullptr;
    }
  }
};

/// Copy bandwidth: bytes read + written per second for a large device-to-device copy.
void measure_copy_bandwidth(Bench& b) {
  Runtime& rt = *b.rt;
  const size_t copy_bytes = b.o.quick ? (64u << 20) : (1024u << 20);
  DevBuf x(rt, copy_bytes), y(rt, copy_bytes);
  std::vector<double> ms;
  rt.copy_on_device(y.p, x.p, copy_bytes, b.stream);
  for (int r = 0; r < 7; ++r)
    ms.push_back(rt.time_ms([&] { rt.copy_on_device(y.p, x.p, copy_bytes, b.stream); }, b.stream));
  b.copy_gbs = 2.0 * copy_bytes / (median(ms) * 1e-3) / 1e9;
  std::printf("copy bandwidth: %.1f GB/s (device-to-device %zu MiB, read + write)\n", b.copy_gbs, copy_bytes >> 20);
}

/// The time of an empty kernel launch, back to back and as a graph node.
void measure_empty_launch(Bench& b) {
  auto empty = b.helper(bench_kernel("empty.hip"), "rg_empty", 1, 32, b.llama_f32);
  Workload w = make_workload(*b.rt, b.llama_f32, 1);
  ropegen_kernel_args a = w.args(0);
  b.empty_us = time_per_call_us(*b.rt, b.stream, 1, [&](int) { empty->launch(a, b.stream, 1); }, b.o.quick);
  b.empty_graph_us = graph_per_call_us(*b.rt, b.stream, 1, [&](int) { empty->launch(a, b.stream, 1); }, b.o.quick);
  std::printf("empty kernel launch: %.2f us per launch (back to back, no host synchronisation)\n", b.empty_us);
  if (b.empty_graph_us >= 0)
    std::printf("empty kernel in a CUDA graph: %.2f us per node (the floor of graph mode)\n", b.empty_graph_us);
  else
    std::printf("graph mode: not available on this runtime\n");
}

/// Host-side cost of Kernel::launch (argument checks, grid, driver call): wall time of the
/// enqueueing loop alone, for the decode kernel.
void measure_host_side(Bench& b) {
  KernelSpec s = parse_spec_line("head_dim=128 q_heads=32 kv_heads=8 dtype=bf16").spec;
  auto k = b.ctx->kernel(s);
  Workload w = make_workload(*b.rt, s, 1);
  const int n = 1000;
  std::vector<double> per;
  for (int r = 0; r < 5; ++r) {
    b.rt->synchronize_stream(b.stream);
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < n; ++i) k->launch(w.args(i % w.sets), b.stream);
    per.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() / n);
    b.rt->synchronize_stream(b.stream);
  }
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 100000; ++i) b.ctx->kernel(s);
  const double get_us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() / 100000;
  std::printf("host side: %.2f us per Kernel::launch (checks + driver enqueue), %.3f us per warm Context::kernel()\n\n",
              median(per), get_us);
}

/// --sweep: launch plans (tokens per block x head groups) for the Llama-3-8B bf16 shape.
void sweep_plans(Bench& b) {
  const KernelSpec s = parse_spec_line("head_dim=128 q_heads=32 kv_heads=8 dtype=bf16").spec;
  std::printf("%-8s %7s %10s %8s %10s %8s\n", "plan", "tokens", "us/call", "%copy", "graph us", "%copy");
  for (long long T : {1LL, 32LL, 256LL, 2048LL, 8192LL}) {
    Workload w = make_workload(*b.rt, s, T);
    for (auto [tpb, hg] : std::vector<std::pair<int, int>>{{1, 8}, {1, 16}, {1, 32}, {2, 8}, {2, 16}, {4, 8},
                                                            {8, 4}, {4, 4}, {16, 2}, {8, 8}, {2, 32}, {1, 64}}) {
      JitOptions jo = JitOptions::from_env();
      jo.plan = {tpb, hg};
      Context c(open_runtime(b.o.runtime), jo);
      auto k = c.kernel(s);
      auto launch = [&](int set) { k->launch(w.args(set), b.stream); };
      double us = time_per_call_us(*b.rt, b.stream, w.sets, launch, b.o.quick);
      double graph_us = graph_per_call_us(*b.rt, b.stream, w.sets, launch, b.o.quick);
      double gbs = ideal_bytes(s, T) / (us * 1e-6) / 1e9;
      double graph_gbs = graph_us > 0 ? ideal_bytes(s, T) / (graph_us * 1e-6) / 1e9 : 0;
      std::printf("%2dx%-5d %7lld %10.2f %7.1f%% %10.2f %7.1f%%\n", tpb, hg, T, us, 100 * gbs / b.copy_gbs, graph_us,
                  100 * graph_gbs / b.copy_gbs);
    }
  }
}

/// The floor of a decode size: a plain copy of as many bytes as the fused Llama-3-8B bf16
/// kernel moves at that size (half read, half written), 16 bytes per thread, in a graph.
/// Where the fused kernel is close to it, the remaining time is the memory system's, not
/// the kernel's.
void same_bytes_copy(Bench& b) {
  Runtime& rt = *b.rt;
  auto copy_k = b.helper(bench_kernel("copy_bytes.hip"), "rg_copy_bytes", 1, 256, b.llama_f32, 256);
  const KernelSpec bf16 = parse_spec_line("head_dim=128 q_heads=32 kv_heads=8 dtype=bf16").spec;
  Workload w = make_workload(rt, b.llama_f32, 1);
  for (long long T : {1LL, 32LL, 256LL, 2048LL}) {
    const double bytes = ideal_bytes(bf16, T);
    const long long vecs = static_cast<long long>(std::ceil(bytes / 2 / 16));
    const int sets = static_cast<int>(std::min(8192.0, std::max(1.0, std::ceil(4 * kL2Bytes / bytes))));
    DevBuf src(rt, static_cast<size_t>(vecs) * 16 * sets), dst(rt, static_cast<size_t>(vecs) * 16 * sets);
    auto launch = [&](int set) {
      ropegen_kernel_args a = w.args(0);
      a.q = src.c() + static_cast<size_t>(set) * vecs * 16;
      a.k_cache = dst.c() + static_cast<size_t>(set) * vecs * 16;
      a.num_tokens = vecs;
      copy_k->launch(a, b.stream, 1);
    };
    b.time_row({"same-bytes copy", "copy of the fused bf16 kernel's bytes", "", T, 0, 2.0 * vecs * 16, 0}, sets,
               launch);
  }
}

/// The plain table: the Llama-3-8B bf16 kernel fused and unfused, computed cos/sin, the
/// checked mode, other shapes and dtypes, and f32 beside the seed-style baseline (fp32,
/// two kernels, one 256-thread block per token and head, scalar loads).
void main_table(Bench& b) {
  const std::string& llama = b.llama;
  const std::vector<long long> token_counts = b.o.quick ? std::vector<long long>{1, 32, 256}
                                                        : std::vector<long long>{1, 32, 256, 2048, 8192, 32768};
  const long long prefill = b.prefill;
  for (long long T : token_counts) {
    b.run_spec("llama3-8b bf16", llama, T);
    b.run_unfused("llama3-8b bf16", llama, T);
  }
  // Computed cos/sin at decode too: no cos/sin row load after the position's (models/
  // llama-3.1-8b.rg computes them, with llama3 scaling).
  for (long long T : {1LL, 32LL, prefill, b.o.quick ? 256LL : 32768LL}) {
    b.run_spec("cos_sin=compute", llama + " cos_sin=compute(theta=500000)", T);
  }
  for (long long T : {1LL, 32LL})
    b.run_spec("llama3 scaling (model file)",
               llama + " cos_sin=compute(theta=500000,scaling=llama3(factor=8,low_freq_factor=1,high_freq_factor=4,"
                       "original_max_position_embeddings=8192))",
               T);
  // The opt-in checked mode: the cost of the position and slot checks beside the plain rows.
  for (long long T : {1LL, 256LL, prefill}) b.run_spec("checks=bounds", llama + " checks=bounds", T);
  for (long long T : {1LL, prefill}) {
    b.run_spec("head_dim 64", "head_dim=64 q_heads=32 kv_heads=8 dtype=bf16", T);
    b.run_spec("head_dim 256", "head_dim=256 q_heads=32 kv_heads=8 dtype=bf16", T);
    b.run_spec("gptj", llama + " style=gptj", T);
    b.run_spec("f16", "head_dim=128 q_heads=32 kv_heads=8 dtype=f16", T);
    b.run_spec("contiguous hnd", "head_dim=128 q_heads=32 kv_heads=8 dtype=bf16 cache=contiguous(order=hnd)", T);
  }
  const std::string& seed = bench_kernel("seed.hip");
  auto seed_rope = b.helper(seed, "rg_seed_rope", 40, 256, b.llama_f32);
  auto seed_append = b.helper(seed, "rg_seed_append", 8, 256, b.llama_f32);
  KernelSpec rope = b.llama_f32, append = b.llama_f32;
  rope.op = Op::Rope;
  append.op = Op::KvAppend;
  for (long long T : std::vector<long long>{1, 256, prefill, b.o.quick ? 256 : 32768}) {
    b.run_spec("llama3-8b f32", "head_dim=128 q_heads=32 kv_heads=8 dtype=f32", T);
    Workload w = make_workload(*b.rt, b.llama_f32, T);
    auto launch = [&](int set) {
      ropegen_kernel_args a = w.args(set);
      seed_rope->launch(a, b.stream, Bench::kAllHeads);
      seed_append->launch(a, b.stream, Bench::kAllHeads);
    };
    b.time_row({"seed-style f32", "baseline: 2 kernels, 256 thr/head, scalar", b.llama_f32.canonical(), T, 0,
                ideal_bytes(rope, T) + ideal_bytes(append, T), 0},
               w.sets, launch);
  }
}

/// Programmatic dependent launch: a producer that writes q, k and v (as the end of a QKV
/// projection would), then the fused kernel, without and with pdl = on. The producer lets
/// its dependent launch early; with PDL the fused kernel loads its indices and cos/sin rows
/// while the producer finishes, and waits for it before reading q, k, v.
void producer_pdl(Bench& b) {
  auto producer = b.helper(bench_kernel("producer.hip"), "rg_producer", 1, 256, b.llama_f32);
  for (long long T : std::vector<long long>{1, 32, 256, 2048}) {
    for (const char* mode : {"off", "on"}) {
      KernelSpec s = parse_spec_line(b.llama + " pdl=" + mode, "<bench>").spec;
      if (!target_can_run(s, b.target)) continue;
      auto k = b.ctx->kernel(s);
      Workload w = make_workload(*b.rt, s, T);
      auto launch = [&](int set) {
        ropegen_kernel_args a = w.args(set);
        producer->launch(a, b.stream, 1);
        k->launch(a, b.stream);
      };
      b.time_row({"producer+fused", std::string("pdl=") + mode, s.canonical(), T, 0,
                  ideal_bytes(s, T) + 2.0 * static_cast<double>(T) * (32 + 16) * 128, 0},
                 w.sets, launch);
    }
  }
}

// ---- Rows against a baseline measured in the same run (issues 9 and 10) ----

/// 1. Scaling families computed in the kernel against the cos/sin table, and 2. angle =
/// exact against the fp32 angle (Llama-3-8B shape, rope_kv_append).
void scaling_and_angle(Bench& b) {
  const std::vector<long long> long_counts =
      b.o.quick ? std::vector<long long>{256} : std::vector<long long>{8192, 32768};
  std::string short_factor, long_factor;  // rotary_dim / 2 = 64 values each, rising with j
  for (int j = 0; j < 64; ++j) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%s%.4g", j ? "," : "", 1.0 + 0.25 * j / 63.0);
    short_factor += buf;
    std::snprintf(buf, sizeof buf, "%s%.4g", j ? "," : "", 1.0 + 63.0 * (j / 63.0) * (j / 63.0));
    long_factor += buf;
  }
  const std::string longrope = "cos_sin=compute(theta=10000,scaling=longrope(short_factor=[" + short_factor +
                               "],long_factor=[" + long_factor +
                               "],original_max_position_embeddings=4096,max_position_embeddings=131072";
  const std::vector<std::pair<std::string, std::string>> families = {
      {"scaling=llama3",
       "cos_sin=compute(theta=500000,scaling=llama3(factor=8,low_freq_factor=1,high_freq_factor=4,"
       "original_max_position_embeddings=8192))"},
      {"scaling=yarn", "cos_sin=compute(theta=1000000,scaling=yarn(factor=4,original_max_position_embeddings=32768))"},
      // choose = runtime reads seq_lens: half the tokens at 4096 (short), half above (long).
      {"longrope runtime", longrope + "))"},
      {"longrope static", longrope + ",choose=static,max_model_len=131072))"},
  };
  const std::string compute5 = b.llama + " cos_sin=compute(theta=500000)";
  for (long long T : long_counts) {
    const size_t table = b.fused_row("llama3-8b bf16", b.llama, T);
    const size_t fp32 = b.fused_row("cos_sin=compute", compute5, T);
    b.relate(fp32, table, "scaling");
    for (const auto& [name, cs] : families) b.relate(b.run_spec(name, b.llama + " " + cs, T), table, "scaling");
    b.relate(b.run_spec("angle=exact", compute5 + " angle=exact", T), fp32, "angle");
  }
}

/// 3. Multimodal positions ([3, tokens] rows) against single positions, with the table and
/// computed (theta 1000000).
void multimodal_positions(Bench& b) {
  const std::string compute6 = b.llama + " cos_sin=compute(theta=1000000)";
  for (long long T : {b.prefill}) {
    const size_t table = b.fused_row("llama3-8b bf16", b.llama, T);
    const size_t single = b.fused_row("single compute", compute6, T);
    if (b.rows[single].group.empty()) b.rows[single].group = "positions";
    for (const auto& [kind, positions] : std::vector<std::pair<std::string, std::string>>{
             {"mrope", "positions=mrope(sections=[16,24,24])"}, {"imrope", "positions=imrope(sections=[24,20,20])"}}) {
      b.relate(b.run_spec(kind + " table", b.llama + " " + positions, T), table, "positions");
      b.relate(b.run_spec(kind + " compute", compute6 + " " + positions, T), single, "positions");
    }
  }
}

/// The pieces of the unfused sequences of 4 and 5: ropegen's rope and kv_append of the
/// Llama shape and the hand-written norm and fp8-append kernels, checked against the host
/// once before they are timed.
struct Unfused {
  KernelSpec spec, rope_spec, append_spec;
  std::shared_ptr<Kernel> rope, append, norm, append_fp8;
  std::vector<long long> counts;  // decode sizes and one prefill size
};

Unfused make_unfused(Bench& b) {
  Unfused u;
  u.spec = parse_spec_line(b.llama, "<bench>").spec;
  u.rope_spec = u.append_spec = u.spec;
  u.rope_spec.op = Op::Rope;
  u.append_spec.op = Op::KvAppend;
  u.rope = b.ctx->kernel(u.rope_spec);
  u.append = b.ctx->kernel(u.append_spec);
  // What the launches check: the norm reads q, k and the qk_norm weights (no table), the
  // append writes an fp8 cache with per-tensor scales.
  KernelSpec norm_checks = u.rope_spec, fp8_checks = u.append_spec;
  norm_checks.cos_sin.source = CosSinSource::Compute;
  norm_checks.qk_norm.on = true;
  fp8_checks.cache_dtype = StoreType::Fp8E4m3;
  u.norm = b.helper(norm_source(u.spec), "rg_bench_qk_norm", norm_passes(u.spec), kNormThreads, norm_checks);
  u.append_fp8 = b.helper(append_fp8_source(u.spec, b.target), "rg_bench_append_fp8", 1, append_fp8_threads(u.spec),
                          fp8_checks);
  check_baselines(*b.rt, b.stream, u.spec, *u.norm, *u.append_fp8);
  u.counts = b.o.quick ? std::vector<long long>{1, 32, 256} : std::vector<long long>{1, 32, 256, b.prefill, 32768};
  return u;
}

/// "fused, plan TxG" of a built kernel.
std::string fused_variant(const Kernel& k) {
  const LaunchPlan& p = k.plan();
  return "fused, plan " + std::to_string(p.tokens_per_block) + "x" + std::to_string(p.head_groups);
}

/// 4. QK-RMSNorm: the hand-written norm, then ropegen's rope, then its kv_append, against the
/// fused qk_norm = rms(...) kernel (weights in q_norm_weight and k_norm_weight); at decode
/// sizes (in a graph the unfused sequence is several nodes, the fused kernel one) and one
/// prefill size.
void qk_norm_group(Bench& b, const Unfused& u) {
  const double eb = dtype_bytes(u.spec.dtype), hd = u.spec.head_dim;
  const double qkv_row = (static_cast<double>(u.spec.q_heads) + u.spec.kv_heads) * hd * eb;  // q + k of a token
  const std::string norm_text = b.llama + " qk_norm=rms(eps=1e-6)";
  const std::unique_ptr<KernelSpec> norm_fused = b.parse_new("qk_norm fused", norm_text);
  for (long long T : u.counts) {
    Workload w = make_workload(*b.rt, u.spec, T);
    const double norm_bytes = 2 * qkv_row * static_cast<double>(T) + 2 * hd * eb;  // q, k read and written; weights
    auto launch = [&](int set) {
      const ropegen_kernel_args a = w.args(set);
      ropegen_kernel_args n = a;
      n.q_norm_weight = w.q_norm_w.p;
      n.k_norm_weight = w.k_norm_w.p;
      u.norm->launch(n, b.stream, Bench::kAllHeads);
      u.rope->launch(a, b.stream);
      u.append->launch(a, b.stream);
    };
    const Row r{"qk_norm",
                "unfused: norm + rope + kv_append",
                u.spec.canonical(),
                T,
                0,
                norm_bytes + ideal_bytes(u.rope_spec, T) + ideal_bytes(u.append_spec, T),
                0,
                "qk_norm"};
    const size_t base = b.time_row(r, w.sets, launch);
    if (!norm_fused) continue;
    auto k = b.ctx->kernel(*norm_fused);
    Workload wf = make_workload(*b.rt, *norm_fused, T);
    auto launch_fused = [&](int set) {
      k->launch(wf.args(set), b.stream);
    };
    const Row rf{"qk_norm", fused_variant(*k), norm_fused->canonical(), T, 0, ideal_bytes(*norm_fused, T) + 2 * hd * eb,
                 0};
    b.relate(b.time_row(rf, wf.sets, launch_fused), base, "qk_norm");
  }
}

/// 5. fp8 e4m3 cache with per-tensor scales: ropegen's rope, then the hand-written append
/// that quantizes, against the fused cache_dtype = fp8_e4m3 kernel (k_scale, v_scale).
/// Bytes at the stored widths: the cache 1 byte per element.
void fp8_cache_group(Bench& b, const Unfused& u) {
  const std::unique_ptr<KernelSpec> fp8_fused =
      b.parse_new("fp8 cache fused", b.llama + " cache_dtype=fp8_e4m3 scales=per_tensor");
  for (long long T : u.counts) {
    Workload w = make_workload(*b.rt, u.spec, T, 1);
    auto launch = [&](int set) {
      const ropegen_kernel_args a = w.args(set);
      ropegen_kernel_args f = a;
      f.k_scale = w.k_scale();
      f.v_scale = w.v_scale();
      u.rope->launch(a, b.stream);
      u.append_fp8->launch(f, b.stream);
    };
    const Row r{"fp8 cache",
                "unfused: rope + append-quantize",
                u.spec.canonical(),  // bf16 rope; the cache is the append kernel's fp8
                T,
                0,
                ideal_bytes(u.rope_spec, T) + ideal_bytes(u.append_spec, T, 1) + 8,
                0,
                "fp8 cache"};
    const size_t base = b.time_row(r, w.sets, launch);
    if (!fp8_fused) continue;
    auto k = b.ctx->kernel(*fp8_fused);
    Workload wf = make_workload(*b.rt, *fp8_fused, T, 1);
    auto launch_fused = [&](int set) {
      ropegen_kernel_args a = wf.args(set);
      a.k_scale = wf.k_scale();
      a.v_scale = wf.v_scale();
      k->launch(a, b.stream);
    };
    const Row rf{"fp8 cache", fused_variant(*k), fp8_fused->canonical(), T, 0, ideal_bytes(*fp8_fused, T, 1) + 8, 0};
    b.relate(b.time_row(rf, wf.sets, launch_fused), base, "fp8 cache");
  }
}

/// 7. Quantized caches (templates/quant.h) on the Llama shape: each format fused with RoPE
/// against the bf16 kernel of the same shape (decode: no format should be slower), and
/// against ropegen's rope followed by its kv_append of the same format (the separate
/// quantize-append kernel). Bytes at the stored widths: codes and the scales written.
/// The 2026 norms and RoPE variants (issue: the 2026 model families): each at decode and
/// prefill sizes, against the copy floor (every row's bytes), and the all-heads QK norm
/// against the per-head one of the same shape (MiniMax-M2: 48/8 heads, rotary_dim 64).
void norms_2026_group(Bench& b) {
  struct Variant {
    const char* name;
    std::string text;
    const char* relate_to;  // the name of the row it is compared with ("" : none)
  };
  const std::string minimax = "head_dim=128 rotary_dim=64 q_heads=48 kv_heads=8 dtype=bf16 "
                              "cos_sin=compute(theta=5000000) cache=paged(block=16,order=nhd)";
  const Variant variants[] = {
      {"minimax per-head norm", minimax + " qk_norm=rms(eps=1e-6)", ""},
      {"minimax all_heads norm", minimax + " qk_norm=rms(eps=1e-6,span=all_heads)", "minimax per-head norm"},
      {"llama4 post norm", b.llama + " style=gptj qk_norm=rms(eps=1e-5,weight=none,order=post)", ""},
      {"llama4 q_temperature", b.llama + " q_temperature=llama4(attn_scale=0.1,floor_scale=8192)", ""},
      {"gemma4 sliding v_norm", "head_dim=256 q_heads=32 kv_heads=16 dtype=bf16 cos_sin=compute(theta=10000) "
                                "qk_norm=rms(eps=1e-6) v_norm=rms(eps=1e-6)", ""},
      {"minimax TP2 sums=write", "op=rope head_dim=128 rotary_dim=64 q_heads=24 kv_heads=4 dtype=bf16 "
                                 "cos_sin=compute(theta=5000000) qk_norm=rms(eps=1e-6,span=all_heads,sums=write)", ""},
      {"minimax TP2 sums=read", "head_dim=128 rotary_dim=64 q_heads=24 kv_heads=4 dtype=bf16 cos_sin=compute(theta=5000000) "
                                "cache=paged(block=16,order=nhd) qk_norm=rms(eps=1e-6,span=all_heads,sums=read,ranks=2)", ""},
      {"qwen3-next gate+bias", b.llama + " gate=interleaved bias=qkv qk_norm=rms(eps=1e-6,weight=one_plus_w)", ""},
      {"llama4 NoPE", b.llama + " rotary_dim=0 q_temperature=llama4(attn_scale=0.1,floor_scale=8192)", ""},
      {"wan 3-D grid", "op=rope head_dim=128 q_heads=40 kv_heads=40 dtype=bf16 style=gptj cos_sin=compute(theta=10000) "
                       "positions=grid(sections=[22,21,21]) qk_norm=rms(eps=1e-6,span=all_heads)", ""},
      {"gemma4 global k=v", "head_dim=512 q_heads=32 kv_heads=4 dtype=bf16 qk_norm=rms(eps=1e-6) v_norm=rms(eps=1e-6) "
                            "v_source=k cos_sin=compute(theta=1000000,scaling=proportional(partial_rotary_factor=0.25))", ""},
  };
  const std::vector<long long> counts = b.o.quick ? std::vector<long long>{1, 32, 256}
                                                  : std::vector<long long>{1, 32, b.prefill};
  std::map<std::string, std::map<long long, size_t>> at;  // name -> T -> row
  for (const Variant& v : variants) {
    const std::unique_ptr<KernelSpec> spec = b.parse_new(v.name, v.text);
    if (!spec) continue;
    auto k = b.ctx->kernel(*spec);
    for (long long T : counts) {
      Workload w = make_workload(*b.rt, *spec, T);
      auto launch = [&](int set) {
        k->launch(w.args(set), b.stream);
      };
      const Row r{v.name, fused_variant(*k), spec->canonical(), T, 0, ideal_bytes(*spec, T), 0};
      const size_t i = b.time_row(r, w.sets, launch);
      at[v.name][T] = i;
      if (*v.relate_to && at.count(v.relate_to) && at[v.relate_to].count(T))
        b.relate(i, at[v.relate_to][T], "all_heads/per_head");
    }
  }
}

void quant_cache_group(Bench& b, const Unfused& u) {
  const char* formats[] = {"fp8_e4m3", "fp8_e4m3 scales=per_token_head", "int8 scales=per_token_head",
                           "int4 scales=per_token_head", "nvfp4", "mxfp4"};
  for (const char* f : formats) {
    const std::string text = b.llama + " cache_dtype=" + f;
    const std::unique_ptr<KernelSpec> fused = b.parse_new(std::string("quantized ") + f, text);
    if (!fused) continue;
    KernelSpec append = *fused;
    append.op = Op::KvAppend;
    auto k = b.ctx->kernel(*fused);
    auto ka = b.ctx->kernel(append);
    const std::string name = std::string("cache ") + f;
    for (long long T : u.counts) {
      Workload w = make_workload(*b.rt, *fused, T, is_fp8(fused->cache_dtype) ? 1 : 0);
      auto args = [&](int set) {
        ropegen_kernel_args a = w.args(set);
        if (is_fp8(fused->cache_dtype) && fused->scales != Scales::PerTokenHead) {
          a.k_scale = w.k_scale();
          a.v_scale = w.v_scale();
        }
        return a;
      };
      const size_t bf16 = b.fused_row("fused", b.llama, T);
      const Row ru{name, "unfused: rope + kv_append (same format)", fused->canonical(), T, 0,
                   ideal_bytes(u.rope_spec, T) + ideal_bytes(append, T), 0};
      const size_t unfused = b.time_row(ru, w.sets, [&](int set) {
        const ropegen_kernel_args a = args(set);
        u.rope->launch(a, b.stream);
        ka->launch(a, b.stream);
      });
      const Row rf{name, fused_variant(*k), fused->canonical(), T, 0, ideal_bytes(*fused, T), 0};
      const size_t i = b.time_row(rf, w.sets, [&](int set) { k->launch(args(set), b.stream); });
      b.relate(i, bf16, "vs bf16");
      // The unfused row's ratio to the fused one: fused is faster where it is > 1.
      b.relate(unfused, i, "unfused/fused");
    }
  }
}

/// 8. Cache addressing (issue 22): cache = paged(order = strided) on the Llama shape, the
/// strides read from the argument block at run time, against the packed nhd kernel (constant
/// addressing) on the same bytes: the nhd layout through strides (the cost of the strides
/// alone; the target is within 3% at the prefill size) and the hnd layout through strides.
void strided_cache_group(Bench& b, const Unfused& u) {
  std::string text = b.llama;
  text.replace(text.find("order=nhd"), 9, "order=strided");
  const std::unique_ptr<KernelSpec> strided = b.parse_new("strided cache", text);
  if (!strided) return;
  auto k = b.ctx->kernel(*strided);
  const long long D = strided->head_dim, H = strided->kv_heads, B = strided->cache.block;
  struct Layout {
    const char* name;
    long long block, token, head;
  };
  const Layout layouts[] = {{"strided nhd [N, B, H, D]", B * H * D, H * D, D}, {"strided hnd [N, H, B, D]", B * H * D, D, B * D}};
  for (long long T : u.counts) {
    Workload w = make_workload(*b.rt, *strided, T);
    const size_t packed = b.fused_row("fused", b.llama, T);
    for (const Layout& l : layouts) {
      const Row r{"strided cache", l.name, strided->canonical(), T, 0, ideal_bytes(*strided, T), 0};
      const size_t i = b.time_row(r, w.sets, [&](int set) {
        ropegen_kernel_args a = w.args(set);
        a.cache_block_stride = l.block;
        a.cache_token_stride = l.token;
        a.cache_head_stride = l.head;
        k->launch(a, b.stream);
      });
      b.relate(i, packed, "strided vs packed");
    }
  }
}

/// 9. One launch over many layers (issue 22): layers = many on the Llama shape, L layers in
/// one launch (grid z; each layer its own q, k, v one buffer set apart, its own caches from
/// its record) against L launches of the packed single-layer kernel on the same buffer sets.
/// ratio = multi-layer / L single-layer launches: the per-layer cost of the multi-layer kernel
/// against the packed kernel's (the target is within 3% at the prefill size, graph mode);
/// below 1 at decode sizes, where L launches cost more than their bytes.
void layers_group(Bench& b, const Unfused& u) {
  const std::unique_ptr<KernelSpec> many = b.parse_new("layers", b.llama + " layers=many");
  if (!many) return;
  KernelSpec one = *many;
  one.layers = Layers::One;
  auto km = b.ctx->kernel(*many);
  auto k1 = b.ctx->kernel(one);
  for (long long T : u.counts)
    for (int L : {4, 32}) {
      if (L == 32 && T > 256) continue;  // 32 layers: the decode sizes, where launches dominate
      Workload w = make_workload(*b.rt, one, T, 0, L);
      const int groups = w.sets / L;  // each call: L consecutive buffer sets, one per layer
      std::vector<ropegen_layer_args> records(static_cast<size_t>(groups * L));
      for (int i = 0; i < groups * L; ++i) {
        const ropegen_kernel_args a = w.args(i);
        records[static_cast<size_t>(i)].k_cache = a.k_cache;
        records[static_cast<size_t>(i)].v_cache = a.v_cache;
      }
      DevBuf rec(*b.rt, records.size() * sizeof(ropegen_layer_args));
      b.rt->copy_to_device(rec.p, records.data(), records.size() * sizeof(ropegen_layer_args));
      const std::string name = "layers x" + std::to_string(L);
      const Row r1{name, std::to_string(L) + " single-layer launches (packed kernel)", one.canonical(), T, 0,
                   L * ideal_bytes(one, T), 0};
      const size_t singles = b.time_row(r1, groups, [&](int g) {
        for (int l = 0; l < L; ++l) k1->launch(w.args(g * L + l), b.stream);
      });
      const Row rm{name, "one launch, layers = many (grid z)", many->canonical(), T, 0, L * ideal_bytes(*many, T), 0};
      const size_t i = b.time_row(rm, groups, [&](int g) {
        ropegen_kernel_args a = w.args(g * L);
        a.k_cache = a.v_cache = nullptr;  // from the records
        a.num_layers = L;
        a.layers = static_cast<const ropegen_layer_args*>(rec.p) + static_cast<size_t>(g) * L;
        a.q_layer_stride = w.q_set;
        a.k_layer_stride = a.v_layer_stride = w.kv_set;
        km->launch(a, b.stream);
      });
      b.relate(i, singles, "layers vs single-layer");
    }
}

/// 6. DeepSeek MLA (V3 shape: 128 heads of 128 + 64, kv_lora_rank 512, GPT-J pairs): the
/// unfused sequence is ropegen's rope on q_pe, its rope on k_pe, and a hand-written
/// concat_and_cache kernel (kv_c || k_pe into the cache row), against op = mla_rope_append.
void mla_group(Bench& b, const Unfused& u) {
  const std::string mla_text =
      "op=mla_rope_append head_dim=192 rotary_dim=64 rotary_offset=128 style=gptj q_heads=128 dtype=bf16";
  const KernelSpec mla_spec = parse_spec_line(mla_text, "<bench>").spec;
  const double eb = dtype_bytes(u.spec.dtype);
  auto mla_k = b.ctx->kernel(mla_spec);
  const KernelSpec rec_spec = parse_spec_line(mla_text + " cache_record=fp8_ds_mla", "<bench>").spec;
  auto rec_k = b.ctx->kernel(rec_spec);
  auto q_rope_k = b.ctx->kernel(parse_spec_line("op=rope head_dim=192 rotary_dim=64 rotary_offset=128 style=gptj "
                                                "q_heads=128 kv_heads=1 dtype=bf16", "<bench>").spec);
  auto pe_rope_k =
      b.ctx->kernel(parse_spec_line("op=rope head_dim=64 style=gptj q_heads=1 kv_heads=1 dtype=bf16", "<bench>").spec);
  // uint4 is the NVIDIA raw vector; elsewhere the concat baseline is left out.
  std::shared_ptr<Kernel> concat_k;
  if (b.target.vendor == Vendor::Nvidia)
    concat_k = b.helper(bench_kernel("concat_mla.hip"), "rg_bench_concat_mla", 1, 128, mla_spec);
  std::vector<long long> mla_counts = u.counts;
  if (!b.o.quick && mla_counts.back() != 32768) mla_counts.push_back(32768);
  for (long long T : mla_counts) {
    Workload w = make_workload(*b.rt, mla_spec, T);
    size_t base = b.rows.size();
    if (concat_k) {
      auto launch = [&](int set) {
        const ropegen_kernel_args a = w.args(set);
        ropegen_kernel_args q = a;
        q.k = nullptr;  // q_pe only
        q_rope_k->launch(q, b.stream);
        ropegen_kernel_args pe = a;  // k_pe as the q of a one-head rope
        pe.q = const_cast<void*>(static_cast<const void*>(a.k));
        pe.q_stride = mla_spec.rotary_dim;
        pe.k = nullptr;
        pe_rope_k->launch(pe, b.stream);
        concat_k->launch(a, b.stream);
      };
      const double bytes = ideal_bytes(mla_spec, T) + 2.0 * mla_spec.rotary_dim * eb * T;  // k_pe written once more
      const Row r{"mla", "unfused: rope q_pe + rope k_pe + concat", mla_spec.canonical(), T, 0, bytes, 0, "mla"};
      base = b.time_row(r, w.sets, launch);
    }
    const Row rf{"mla", fused_variant(*mla_k), mla_spec.canonical(), T, 0, ideal_bytes(mla_spec, T), 0};
    const size_t fused = b.time_row(rf, w.sets, [&](int set) { mla_k->launch(w.args(set), b.stream); });
    if (concat_k) b.relate(fused, base, "mla");
    // DeepSeek-V3.2's fp8_ds_mla record (656 bytes per token: kv_c quantized per tile of 128,
    // its scales, the rotated k_pe), on the same buffers (the cache pool holds 1152 bytes a slot).
    const Row rr{"mla fp8_ds_mla record", fused_variant(*rec_k), rec_spec.canonical(), T, 0, ideal_bytes(rec_spec, T), 0};
    const size_t rec = b.time_row(rr, w.sets, [&](int set) { rec_k->launch(w.args(set), b.stream); });
    b.relate(rec, fused, "mla");
  }
}

/// The sparse-attention indexer (op = indexer_append, DeepSeek-V3.2's shape): per token q
/// [64, 128] read and written as fp8 with a scale per head, the head weights read and
/// written, k [128] through LayerNorm, RoPE and fp8 into its block record (128 + 4 bytes).
void indexer_group(Bench& b, const Unfused& u) {
  const std::string text = "op=indexer_append head_dim=128 rotary_dim=64 style=neox q_heads=64 dtype=bf16 "
                           "cache=paged(block=64) cache_dtype=fp8_e4m3 k_norm=layernorm(eps=1e-6) scale_fmt=ue8m0 "
                           "k_quant=divide weights_scale=0.011048543456039806 cos_sin=compute(theta=10000)";
  const std::unique_ptr<KernelSpec> spec = b.parse_new("indexer", text);
  if (!spec) return;
  auto k = b.ctx->kernel(*spec);
  const long long D = spec->head_dim, H = spec->q_heads;
  std::vector<float> ln(static_cast<size_t>(2 * D), 1.0f);
  for (long long i = D; i < 2 * D; ++i) ln[static_cast<size_t>(i)] = 0.0f;  // weight 1, bias 0
  DevBuf lnw(*b.rt, ln.size() * 4);
  b.rt->copy_to_device(lnw.p, ln.data(), ln.size() * 4);
  for (long long T : u.counts) {
    Workload w = make_workload(*b.rt, *spec, T);
    const size_t qo = static_cast<size_t>(T * H * D), qs = static_cast<size_t>(T * H * 4);
    const long long records = (T + spec->cache.block - 1) / spec->cache.block * spec->cache.block;
    DevBuf qout(*b.rt, qo * w.sets), qsc(*b.rt, qs * w.sets), wts(*b.rt, qs * w.sets);
    DevBuf cache(*b.rt, static_cast<size_t>(records * (D + 4)) * w.sets);
    auto launch = [&](int set) {
      ropegen_kernel_args a = w.args(set);
      a.k_stride = D;
      a.v = wts.c() + set * qs;  // the head weights (fp32, [T, H])
      a.v_stride = H;
      a.k_cache = cache.c() + set * static_cast<size_t>(records * (D + 4));
      a.v_cache = nullptr;
      a.q_out = qout.c() + set * qo;
      a.q_out_stride = H * D;
      a.q_out_scales = reinterpret_cast<float*>(qsc.c() + set * qs);
      a.k_norm_weight = lnw.p;
      a.q_norm_weight = static_cast<const float*>(lnw.p) + D;
      a.cache_slots = g_limits ? records : 0;
      k->launch(a, b.stream);
    };
    const Row r{"indexer", fused_variant(*k), spec->canonical(), T, 0, ideal_bytes(*spec, T), 0};
    b.time_row(r, w.sets, launch);
  }
}

/// The summary of each measured line (shape and variant), one CSV row each, beside the full
/// CSV (`<name>_summary.csv`) and on stdout: us at the fewest tokens, % of the copy bandwidth
/// at the most, and the ratios to the line's baseline (smallest and largest) with the baseline
/// named; inside a CUDA graph where the runtime has graphs (mode "graph"), else back to back
/// on the stream (mode "stream", the host). Returns the file's path.
std::string write_summary(const Bench& b) {
  struct Line {
    std::string name, variant, ratio_to;
    const Row* fewest = nullptr;
    const Row* most = nullptr;
    double ratio_min = -1, ratio_max = -1;
    int rows = 0;
  };
  const bool graphs = b.empty_graph_us > 0;
  const auto us = [&](const Row& r) { return graphs ? r.graph_us : r.us; };
  std::vector<Line> lines;
  for (const Row& r : b.rows) {
    auto it = std::find_if(lines.begin(), lines.end(),
                           [&](const Line& l) { return l.name == r.name && l.variant == r.variant; });
    if (it == lines.end()) it = lines.insert(lines.end(), Line{r.name, r.variant, r.ratio_to});
    Line& l = *it;
    ++l.rows;
    if (!l.fewest || r.tokens < l.fewest->tokens) l.fewest = &r;
    if (!l.most || r.tokens > l.most->tokens) l.most = &r;
    const double ratio = graphs ? r.graph_ratio : r.ratio;
    if (ratio > 0) {
      l.ratio_min = l.ratio_min < 0 ? ratio : std::min(l.ratio_min, ratio);
      l.ratio_max = std::max(l.ratio_max, ratio);
      if (l.ratio_to.empty()) l.ratio_to = r.ratio_to;
    }
  }
  const size_t ext = b.o.csv.rfind(".csv");
  const std::string path = b.o.csv.substr(0, ext == std::string::npos ? b.o.csv.size() : ext) + "_summary.csv";
  std::ofstream out(path);
  if (!out) throw Error(ErrorKind::Io, "cannot write the summary CSV to '" + path + "'");
  const char* mode = graphs ? "graph" : "stream";
  out << "device,mode,copy_GBps,empty_us,shape,variant,rows,tokens_fewest,us_fewest,tokens_most,pct_copy_most,"
         "ratio_min,ratio_max,ratio_to\n";
  std::printf("\nsummary (%s): shape, variant, us at the fewest tokens, %%copy at the most, ratio to the baseline\n",
              mode);
  for (const Line& l : lines) {
    const auto pct = [&](const Row& r) { return us(r) > 0 ? 100.0 * (r.bytes / (us(r) * 1e-6) / 1e9) / b.copy_gbs : -1.0; };
    out << '"' << b.rt->device_name() << "\"," << mode << ',' << b.copy_gbs << ','
        << (graphs ? b.empty_graph_us : b.empty_us) << ",\"" << l.name << "\",\"" << l.variant << "\"," << l.rows << ','
        << l.fewest->tokens << ',' << us(*l.fewest) << ',' << l.most->tokens << ',' << pct(*l.most) << ','
        << l.ratio_min << ',' << l.ratio_max << ",\"" << l.ratio_to << "\"\n";
    std::printf("  %-22s %-40s %7lld: %7.2f us  %7lld: %5.1f%%", l.name.c_str(), l.variant.c_str(), l.fewest->tokens,
                us(*l.fewest), l.most->tokens, pct(*l.most));
    if (l.ratio_min > 0) std::printf("  ratio %.3f..%.3f vs %s", l.ratio_min, l.ratio_max, l.ratio_to.c_str());
    std::printf("\n");
  }
  return path;
}

/// The table on stdout, the CSV, the ratios with their baselines and the notes.
void report(const Bench& b, std::chrono::steady_clock::time_point started) {
  const double copy_gbs = b.copy_gbs;
  std::printf("%-16s %-42s %7s %10s %12s %9s %7s %10s %7s %7s %7s\n", "shape", "variant", "tokens", "us/call",
              "ideal bytes", "GB/s", "%copy", "graph us", "%copy", "ratio", "g.ratio");
  std::ofstream csv(b.o.csv);
  if (!csv) throw Error(ErrorKind::Io, "cannot write the CSV to '" + b.o.csv + "'");
  csv << "device,copy_GBps,empty_launch_us,empty_graph_us,shape,variant,tokens,us_per_call,ideal_bytes,GBps,pct_copy,"
         "graph_us_per_call,graph_pct_copy,spec,group,ratio_to,ratio,graph_ratio\n";
  for (const Row& r : b.rows) {
    const double gbs = r.bytes / (r.us * 1e-6) / 1e9;
    const double graph_gbs = r.graph_us > 0 ? r.bytes / (r.graph_us * 1e-6) / 1e9 : 0;
    std::printf("%-16s %-42s %7lld %10.2f %12.0f %9.1f %6.1f%%", r.name.c_str(), r.variant.c_str(), r.tokens, r.us,
                r.bytes, gbs, 100.0 * gbs / copy_gbs);
    if (r.graph_us > 0)
      std::printf(" %10.2f %6.1f%%", r.graph_us, 100.0 * graph_gbs / copy_gbs);
    else
      std::printf(" %10s %7s", "-", "-");
    if (r.ratio > 0)
      std::printf(" %7.3f", r.ratio);
    else
      std::printf(" %7s", "");
    if (r.graph_ratio > 0) std::printf(" %7.3f", r.graph_ratio);
    std::printf("\n");
    csv << '"' << b.rt->device_name() << "\"," << copy_gbs << ',' << b.empty_us << ',' << b.empty_graph_us << ",\""
        << r.name << "\",\"" << r.variant << "\"," << r.tokens << ',' << r.us << ',' << r.bytes << ',' << gbs << ','
        << 100.0 * gbs / copy_gbs << ',' << r.graph_us << ',' << (r.graph_us > 0 ? 100.0 * graph_gbs / copy_gbs : -1)
        << ",\"" << r.spec << "\",\"" << r.group << "\",\"" << r.ratio_to << "\"," << r.ratio << ',' << r.graph_ratio
        << '\n';
  }
  // Ratios with their baselines spelled out (the table's ratio columns, readable alone).
  std::printf("\nratios to a baseline of this run (stream; graph):\n");
  for (const Row& r : b.rows)
    if (r.ratio > 0)
      std::printf("  %-10s %-16s %7lld tokens: %.3f; %s  vs %s\n", r.group.c_str(), r.name.c_str(), r.tokens, r.ratio,
                  r.graph_ratio > 0 ? std::to_string(r.graph_ratio).substr(0, 5).c_str() : "-", r.ratio_to.c_str());
  for (const std::string& n : b.notes) std::printf("note: %s\n", n.c_str());
  const std::string summary = write_summary(b);
  std::printf("\nwrote %s and %s (%.0f s in all)\n", b.o.csv.c_str(), summary.c_str(),
              std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
}

/// Options from the command line; the CSV and the cache beside the executable unless given.
/// Returns false (after the usage on stderr) on a wrong command line.
bool parse_options(int argc, char** argv, Options& o) {
  // Beside the executable: the build tree when run from it, the staging folder when copied.
  std::string here = ".";
  {
    char buf[4096];
    const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n > 0) {
      const std::string exe(buf, static_cast<size_t>(n));
      here = exe.substr(0, exe.rfind('/'));
    }
  }
  o.csv = here + "/kernel_bench.csv";
  o.cache_dir = here + "/bench-cache";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--runtime" && i + 1 < argc) o.runtime = argv[++i];
    else if (a == "--quick") o.quick = true;
    else if (a == "--csv" && i + 1 < argc) o.csv = argv[++i];
    else if (a == "--sweep") o.sweep = true;
    else if (a == "--cache-dir" && i + 1 < argc) o.cache_dir = argv[++i];
    else if (a == "--no-limits") o.no_limits = true;
    else if (a == "--only" && i + 1 < argc) o.only = argv[++i];
    else {
      std::fprintf(stderr,
                   "usage: %s [--runtime cuda|host] [--quick] [--sweep] [--csv FILE] [--cache-dir DIR] [--no-limits]\n"
                   "       [--only main,pdl,scaling,multimodal,qk_norm,fp8,quant,strided,norms,mla,indexer,layers]\n"
                   "  --sweep      try launch plans for the Llama shape instead of the full table\n"
                   "  --csv        where to write the results (default %s)\n"
                   "  --cache-dir  private cache for the benchmark's kernels (default %s)\n"
                   "  --no-limits  pass cache_slots = table_rows = 0 (no limit) to kernels without checks = bounds\n",
                   argv[0], o.csv.c_str(), o.cache_dir.c_str());
      return false;
    }
  }
  return true;
}

}  // namespace

int run(int argc, char** argv) {
  const auto started = std::chrono::steady_clock::now();
  Bench b;
  if (!parse_options(argc, argv, b.o)) return 2;
  g_limits = !b.o.no_limits;
  b.prefill = b.o.quick ? 256 : 8192;
  // Every Jit of this process (the Context's and the sweep's) reads its options from the
  // environment: point them at the private cache.
  setenv("ROPEGEN_CACHE_DIR", b.o.cache_dir.c_str(), 1);
  std::unique_ptr<Context> ctx;
  try {
    ctx = Context::open(b.o.runtime);
  } catch (const Error& e) {
    std::fprintf(stderr, "kernel benchmark needs a device: %s\n", e.what());
    return 2;
  }
  b.ctx = ctx.get();
  b.rt = &ctx->runtime();
  b.stream = b.rt->create_stream();
  b.target = ctx->target();
  std::printf("device: %s\n", b.rt->device_name().c_str());

  measure_copy_bandwidth(b);
  measure_empty_launch(b);
  measure_host_side(b);
  if (b.o.sweep) {
    sweep_plans(b);
  } else {
    same_bytes_copy(b);
    if (wanted(b.o, "main")) main_table(b);
    if (wanted(b.o, "pdl")) producer_pdl(b);
    if (wanted(b.o, "scaling")) scaling_and_angle(b);
    if (wanted(b.o, "multimodal")) multimodal_positions(b);
    const Unfused u = make_unfused(b);
    if (wanted(b.o, "qk_norm")) qk_norm_group(b, u);
    if (wanted(b.o, "fp8")) fp8_cache_group(b, u);
    if (wanted(b.o, "quant")) quant_cache_group(b, u);
    if (wanted(b.o, "strided")) strided_cache_group(b, u);
    if (wanted(b.o, "indexer")) indexer_group(b, u);
    if (wanted(b.o, "norms")) norms_2026_group(b);
    if (wanted(b.o, "mla")) mla_group(b, u);
    if (wanted(b.o, "layers")) layers_group(b, u);
    report(b, started);
  }
  b.rt->destroy_stream(b.stream);
  return 0;
}

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}
