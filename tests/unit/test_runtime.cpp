// src/runtime: a kernel's arguments are checked before it launches; each refusal names the
// argument and the rule (kernels built and loaded on the host target).
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "vendors/host/host.hpp"
#include "codegen/codegen.hpp"
#include "compile/compile.hpp"
#include "ropegen/error.hpp"
#include "ropegen/runtime.hpp"
#include "ropegen/spec.hpp"

#include "expect_error.hpp"

using namespace ropegen;
using namespace ropegen::test;

namespace {

// Host memory for launches of a 4-q-head, 2-kv-head, head_dim-64 kernel that must be
// refused (or pass) on their arguments alone.
alignas(64) unsigned char g_buf[1 << 16];
alignas(64) float g_table[1024];
int g_idx[4] = {0, 1, 2, 3};

/// A valid argument block for that kernel over the buffers above: 2 tokens, every pointer set.
ropegen_kernel_args host_args() {
  ropegen_kernel_args a = ROPEGEN_KERNEL_ARGS_INIT;
  a.q = g_buf;
  a.k = g_buf + 4096;
  a.v = g_buf + 8192;
  a.k_cache = g_buf + 16384;
  a.v_cache = g_buf + 32768;
  a.positions = g_idx;
  a.slot_mapping = g_idx;
  a.cos = g_table;
  a.sin = g_table + 32;
  a.cos_sin_stride = 64;
  a.num_tokens = 2;
  a.q_stride = 4 * 64;
  a.k_stride = a.v_stride = 2 * 64;
  return a;
}

}  // namespace

TEST_CASE("errors: launch arguments are checked before launching" * doctest::test_suite("errors")) {
  auto rt = make_host_runtime();
  GeneratedSource g = generate(parse_spec_line("q_heads=4 kv_heads=2 head_dim=64").spec, parse_target("host"));
  auto kernel = rt->load(select_compiler(g.target).compile(g, {}));
  auto good = host_args;
  CHECK_NOTHROW(kernel->launch(good()));
  struct Case {
    const char* needle;
    std::function<void(ropegen_kernel_args&)> mutate;
  };
  const Case cases[] = {
      {"argument 'num_tokens' = -1 is negative", [](auto& a) { a.num_tokens = -1; }},
      {"argument block has size 0 and ABI version 0, but this kernel takes size 424 and ABI version 8",
       [](auto& a) { a = ropegen_kernel_args{}; }},
      {"argument block has size 424 and ABI version 7, but this kernel takes size 424 and ABI version 8",
       [](auto& a) { a.abi_version = 7; }},
      {"argument block has size 416 and ABI version 8", [](auto& a) { a.size -= 8; }},
      // layers = one: the layer fields stay zero (num_layers 1 is the one layer).
      {"argument 'num_layers' is set but the spec has layers = one", [](auto& a) { a.num_layers = 2; }},
      {"argument 'layers' is set but the spec has layers = one",
       [](auto& a) { a.layers = reinterpret_cast<const ropegen_layer_args*>(g_buf); }},
      {"argument 'k_layer_stride' is set but the spec has layers = one", [](auto& a) { a.k_layer_stride = 8; }},
      {"argument 'grid_h' = 3 is set but the spec has no positions = grid(...) (leave it 0)", [](auto& a) { a.grid_h = 3; }},
      {"argument 'norm_sums' is set but the spec has no qk_norm = rms(span = all_heads, sums = write | read)",
       [](auto& a) { a.norm_sums = reinterpret_cast<float*>(g_buf); }},
      {"argument 'q_head_stride' = 72 needs heads = strided in the spec", [](auto& a) { a.q_head_stride = 72; }},
      {"argument 'q_out' is set but the spec has outputs = in_place (set outputs = separate)",
       [](auto& a) { a.q_out = g_buf; }},
      {"argument 'q' is null but op = rope_kv_append rotates q", [](auto& a) { a.q = nullptr; }},
      {"argument 'q' is null",
       [](auto& a) {  // an empty block: the activations are named first
         a = ROPEGEN_KERNEL_ARGS_INIT;
         a.num_tokens = 2;
       }},
      {"argument 'k' is null", [](auto& a) { a.k = nullptr; }},
      {"argument 'v' is null", [](auto& a) { a.v = nullptr; }},
      {"argument 'k_cache' is null", [](auto& a) { a.k_cache = nullptr; }},
      {"argument 'slot_mapping' is null but a paged cache needs a slot per token",
       [](auto& a) { a.slot_mapping = nullptr; }},
      {"argument 'positions' is null but RoPE needs a position per token", [](auto& a) { a.positions = nullptr; }},
      {"argument 'cos' is null but the spec says cos_sin = table", [](auto& a) { a.cos = nullptr; }},
      {"argument 'q_stride' = 100 is smaller than one token's row of 256 elements", [](auto& a) { a.q_stride = 100; }},
      {"argument 'k_stride' = 132 must be a multiple of 8 elements", [](auto& a) { a.k_stride = 132; }},
      {"argument 'q' must be aligned to 16 bytes", [](auto& a) { a.q = g_buf + 2; }},
      // Index pointers are checked like the others: aligned to their element size.
      {"argument 'positions' must be aligned to 4 bytes (the size of its i32 elements)",
       [](auto& a) { a.positions = reinterpret_cast<unsigned char*>(g_idx) + 2; }},
      {"argument 'slot_mapping' must be aligned to 4 bytes (the size of its i32 elements)",
       [](auto& a) { a.slot_mapping = reinterpret_cast<unsigned char*>(g_idx) + 1; }},
      {"argument 'cos_sin_stride' = 16 is smaller than rotary_dim / 2 = 32", [](auto& a) { a.cos_sin_stride = 16; }},
      // The limits apply in every checks mode: 0 is none, a negative one or one past 2^56 is refused.
      {"argument 'cache_slots' = -1 is negative (0 means no limit)", [](auto& a) { a.cache_slots = -1; }},
      {"argument 'table_rows' = -5 is negative (0 means no limit)", [](auto& a) { a.table_rows = -5; }},
      {"argument 'table_rows' = 72057594037927936 must be below 2^56", [](auto& a) { a.table_rows = 1LL << 56; }},
  };
  for (const auto& c : cases) {
    ropegen_kernel_args a = good();
    c.mutate(a);
    expect_error([&] { kernel->launch(a); }, ErrorKind::Launch, c.needle);
  }
  // heads = strided and outputs = separate: head strides and out-of-place rows are checked.
  GeneratedSource st = generate(parse_spec_line("q_heads=4 kv_heads=2 head_dim=64 heads=strided outputs=separate").spec,
                                parse_target("host"));
  auto sk = rt->load(select_compiler(st.target).compile(st, {}));
  CHECK_NOTHROW(sk->launch(good()));
  const Case strided_cases[] = {
      {"argument 'q_head_stride' = 32 is smaller than head_dim = 64", [](auto& a) { a.q_head_stride = 32; }},
      {"argument 'k_head_stride' = 68 must be a multiple of 8 elements", [](auto& a) { a.k_head_stride = 68; }},
      {"argument 'v_stride' = 128 is smaller than one token's 2 heads 72 apart (136 elements)",
       [](auto& a) { a.v_head_stride = 72; }},
      {"argument 'q_out_stride' = 0 is smaller than one token's row of 256 elements", [](auto& a) { a.q_out = g_buf + 40960; }},
      {"argument 'k_out' must be aligned to 16 bytes", [](auto& a) {
         a.k_out = g_buf + 40962;
         a.k_out_stride = 128;
       }},
  };
  for (const auto& c : strided_cases) {
    ropegen_kernel_args a = good();
    c.mutate(a);
    expect_error([&] { sk->launch(a); }, ErrorKind::Launch, c.needle);
  }
  // layers = many: num_layers in 1 .. 65535, the record array given, the layer strides whole
  // vectors (q's nonzero: it is rotated in place), the per-layer pointers only in the records.
  GeneratedSource ls = generate(parse_spec_line("q_heads=4 kv_heads=2 head_dim=64 layers=many").spec, parse_target("host"));
  auto lk = rt->load(select_compiler(ls.target).compile(ls, {}));
  alignas(64) static ropegen_layer_args records[2] = {};
  records[0].k_cache = records[1].k_cache = g_buf + 16384;  // one cache: writes the same slots twice
  records[0].v_cache = records[1].v_cache = g_buf + 32768;
  auto layered = [&] {
    ropegen_kernel_args a = good();
    a.k_cache = a.v_cache = nullptr;
    a.num_layers = 2;
    a.layers = records;
    a.q_layer_stride = 512;
    return a;
  };
  CHECK_NOTHROW(lk->launch(layered()));
  const Case layer_cases[] = {
      {"argument 'num_layers' = 0 must be in 1 .. 65535 with layers = many", [](auto& a) { a.num_layers = 0; }},
      {"argument 'num_layers' = 65536 must be in 1 .. 65535", [](auto& a) { a.num_layers = 65536; }},
      {"argument 'layers' is null but the spec says layers = many", [](auto& a) { a.layers = nullptr; }},
      {"argument 'k_cache' is set, but with layers = many each layer's k_cache comes from its record (layers[l].k_cache)",
       [](auto& a) { a.k_cache = g_buf + 16384; }},
      {"argument 'q_layer_stride' = 0: every layer would write the same q", [](auto& a) { a.q_layer_stride = 0; }},
      {"argument 'v_layer_stride' = 12 must be a multiple of 8 elements", [](auto& a) { a.v_layer_stride = 12; }},
  };
  for (const auto& c : layer_cases) {
    ropegen_kernel_args a = layered();
    c.mutate(a);
    expect_error([&] { lk->launch(a); }, ErrorKind::Launch, c.needle);
  }
  // cache = paged(order = strided): the cache strides are whole vectors, not negative; with
  // checks = bounds the rows of k_cache and v_cache may not overlap. Other layouts take none.
  {
    ropegen_kernel_args a = good();
    a.cache_block_stride = 4096;
    expect_error([&] { kernel->launch(a); }, ErrorKind::Launch,
                 "argument 'cache_block_stride' = 4096 needs cache = paged(order = strided) in the spec");
  }
  GeneratedSource cs = generate(
      parse_spec_line("q_heads=4 kv_heads=2 head_dim=64 checks=bounds cache=paged(block=16,order=strided)").spec,
      parse_target("host"));
  auto csk = rt->load(select_compiler(cs.target).compile(cs, {}));
  alignas(8) static unsigned long long cs_err[4] = {};
  auto strided_args = [&] {
    ropegen_kernel_args a = good();
    a.bounds_error = cs_err;
    a.cache_slots = 64;  // 4 pages of 16 tokens
    a.table_rows = 16;
    return a;
  };
  CHECK_NOTHROW(csk->launch(strided_args()));  // strides 0: the nhd layout's, separate K and V
  {
    ropegen_kernel_args a = strided_args();  // [N, 2, B, H, D]: v_cache one K page after k_cache
    a.cache_block_stride = 2 * 16 * 2 * 64;
    a.v_cache = static_cast<unsigned char*>(a.k_cache) + 16 * 2 * 64 * 2;
    CHECK_NOTHROW(csk->launch(a));
  }
  const Case cache_stride_cases[] = {
      {"argument 'cache_head_stride' = 68 must be a multiple of 8 elements (vector width)",
       [](auto& a) { a.cache_head_stride = 68; }},
      {"argument 'cache_token_stride' = -128 is negative (0 means the nhd layout's 128)",
       [](auto& a) { a.cache_token_stride = -128; }},
      {"argument 'cache_token_stride' = 96 is smaller than the 128 elements the cache's inner dimensions span",
       [](auto& a) { a.cache_token_stride = 96; }},
      {"argument 'cache_block_stride' = 1024 is smaller than the 2048 elements",
       [](auto& a) { a.cache_block_stride = 1024; }},
      {"argument 'v_cache' lies 32 elements from k_cache: K and V rows would overlap",
       [](auto& a) { a.v_cache = static_cast<unsigned char*>(a.k_cache) + 64; }},
      {"argument 'v_cache' lies 0 bytes from k_cache, inside k_cache's rows",
       [](auto& a) { a.v_cache = a.k_cache; }},
  };
  for (const auto& c : cache_stride_cases) {
    ropegen_kernel_args a = strided_args();
    c.mutate(a);
    expect_error([&] { csk->launch(a); }, ErrorKind::Launch, c.needle);
  }
  // scales_at = page: cache_block_stride is the bytes between pages (0: one page of 16 * 2 *
  // (32 + 4) = 1152 bytes), a multiple of the page's alignment and at least one page; K and V
  // pages in one allocation are 2 pages apart. The other strides stay refused.
  GeneratedSource ps = generate(parse_spec_line("q_heads=4 kv_heads=2 head_dim=64 cache_dtype=nvfp4(scales_at=page)").spec,
                                parse_target("host"));
  auto pk = rt->load(select_compiler(ps.target).compile(ps, {}));
  auto page_args = [&] {
    ropegen_kernel_args a = good();  // k_cache_scales, v_cache_scales: null (unused)
    a.k_scale = a.v_scale = g_table;
    return a;
  };
  CHECK_NOTHROW(pk->launch(page_args()));
  {
    ropegen_kernel_args a = page_args();  // [N, 2, page]
    a.cache_block_stride = 2 * 1152;
    a.v_cache = static_cast<unsigned char*>(a.k_cache) + 1152;
    CHECK_NOTHROW(pk->launch(a));
  }
  const Case page_stride_cases[] = {
      {"argument 'cache_block_stride' = 1000 must be 0 (pages 1152 bytes apart) or a multiple of 16 bytes of at least "
       "one page (1152 bytes",
       [](auto& a) { a.cache_block_stride = 1000; }},
      {"argument 'cache_block_stride' = 1024 must be 0", [](auto& a) { a.cache_block_stride = 1024; }},
      {"argument 'cache_block_stride' = -2304 must be 0", [](auto& a) { a.cache_block_stride = -2304; }},
      {"argument 'cache_token_stride' = 64 needs cache = paged(order = strided) in the spec",
       [](auto& a) { a.cache_token_stride = 64; }},
  };
  for (const auto& c : page_stride_cases) {
    ropegen_kernel_args a = page_args();
    c.mutate(a);
    expect_error([&] { pk->launch(a); }, ErrorKind::Launch, c.needle);
  }
  // window = ring(...): ring_base instead of slot_mapping.
  GeneratedSource rs =
      generate(parse_spec_line("q_heads=4 kv_heads=2 head_dim=64 window=ring(size=32,sinks=4)").spec, parse_target("host"));
  auto rk = rt->load(select_compiler(rs.target).compile(rs, {}));
  auto ring_args = [&] {
    ropegen_kernel_args a = good();
    a.slot_mapping = nullptr;
    a.ring_base = g_idx;
    return a;
  };
  CHECK_NOTHROW(rk->launch(ring_args()));
  const Case ring_cases[] = {
      {"argument 'slot_mapping' is set but the spec has window = ring(...)", [](auto& a) { a.slot_mapping = g_idx; }},
      {"argument 'ring_base' is null but window = ring(...): the first slot of each token's sequence's pages",
       [](auto& a) { a.ring_base = nullptr; }},
  };
  for (const auto& c : ring_cases) {
    ropegen_kernel_args a = ring_args();
    c.mutate(a);
    expect_error([&] { rk->launch(a); }, ErrorKind::Launch, c.needle);
  }
  {
    ropegen_kernel_args a = good();
    a.ring_base = g_idx;
    expect_error([&] { kernel->launch(a); }, ErrorKind::Launch,
                 "argument 'ring_base' is set but the spec has no window = ring(...)");
  }
  // max_seq matters only for contiguous(order = hnd).
  GeneratedSource h = generate(parse_spec_line("q_heads=4 kv_heads=2 head_dim=64 cache=contiguous").spec, parse_target("host"));
  auto hk = rt->load(select_compiler(h.target).compile(h, {}));
  expect_error([&] { hk->launch(good()); }, ErrorKind::Launch,
               "argument 'max_seq' = 0 must be positive for a contiguous(order = hnd) cache");
  // checks = bounds: the error buffer is a required pointer; cache_slots and table_rows
  // must be given (the caches and the table a token is checked against).
  GeneratedSource cb =
      generate(parse_spec_line("q_heads=4 kv_heads=2 head_dim=64 checks=bounds").spec, parse_target("host"));
  auto ck = rt->load(select_compiler(cb.target).compile(cb, {}));
  alignas(8) static unsigned long long err[4] = {};
  auto checked = [&] {
    ropegen_kernel_args a = good();
    a.bounds_error = err;
    a.cache_slots = 64;
    a.table_rows = 16;
    return a;
  };
  CHECK_NOTHROW(ck->launch(checked()));
  CHECK(err[0] == 0);
  const Case checked_cases[] = {
      {"argument 'bounds_error' is null but the spec says checks = bounds", [](auto& a) { a.bounds_error = nullptr; }},
      {"argument 'bounds_error' must be aligned to 8 bytes (the size of its u64 elements)",
       [](auto& a) { a.bounds_error = reinterpret_cast<unsigned long long*>(reinterpret_cast<char*>(err) + 4); }},
      {"argument 'cache_slots' = 0 must be positive with checks = bounds", [](auto& a) { a.cache_slots = 0; }},
      {"argument 'table_rows' = 0 must be positive with checks = bounds and cos_sin = table",
       [](auto& a) { a.table_rows = 0; }},
      {"argument 'cache_slots' = 72057594037927936 must be below 2^56", [](auto& a) { a.cache_slots = 1LL << 56; }},
  };
  for (const auto& c : checked_cases) {
    ropegen_kernel_args a = checked();
    c.mutate(a);
    expect_error([&] { ck->launch(a); }, ErrorKind::Launch, c.needle);
  }
  // Without checks the limits are optional (0: none) and bounds_error is not read.
  CHECK_NOTHROW(kernel->launch(good()));
  {
    ropegen_kernel_args a = good();
    a.cache_slots = 64;
    a.table_rows = 16;
    CHECK_NOTHROW(kernel->launch(a));
  }
  // A launch so large that rounding it up to whole blocks would overflow is refused.
  expect_error(
      [&] {
        ropegen_kernel_args a = good();
        a.num_tokens = std::numeric_limits<long long>::max();
        kernel->launch(a);
      },
      ErrorKind::Launch, "is too large for one launch");
  // Sizes whose rounding would wrap are refused, not served with a tiny buffer.
  expect_error([&] { rt->alloc(SIZE_MAX - 100); }, ErrorKind::Launch, "bytes is too large");
  // Loading a code object for another runtime is refused, not crashed on.
  CodeObject foreign;
  foreign.format = "cubin";
  foreign.target_id = "sm_90";
  expect_error([&] { rt->load(foreign); }, ErrorKind::Load, "the host runtime loads host-cxx shared objects");
}

TEST_CASE("errors: fp8 scales and norm weights are checked at launch" * doctest::test_suite("errors")) {
  auto rt = make_host_runtime();
  auto args = host_args;
  auto load = [&](const char* text) {
    GeneratedSource g = generate(parse_spec_line(text).spec, parse_target("host"));
    return rt->load(select_compiler(g.target).compile(g, {}));
  };
  auto f8 = load("q_heads=4 kv_heads=2 head_dim=64 cache_dtype=fp8_e4m3 scales=per_head");
  expect_error([&] { f8->launch(args()); }, ErrorKind::Launch,
               "argument 'k_scale' is null but the fp8 cache stores x / scale (scales = per_head)");
  auto norm = load("q_heads=4 kv_heads=2 head_dim=64 qk_norm=rms(eps=1e-6)");
  expect_error([&] { norm->launch(args()); }, ErrorKind::Launch,
               "argument 'q_norm_weight' is null but the spec says qk_norm = rms(...)");
  auto mla = load("op=mla_rope_append head_dim=64 rotary_dim=32 rotary_offset=32 q_heads=4 kv_lora_rank=64");
  ropegen_kernel_args m = args();
  m.k_stride = 16;  // k_pe rows are rotary_dim = 32 wide
  expect_error([&] { mla->launch(m); }, ErrorKind::Launch, "argument 'k_stride' = 16 is smaller than one token's row of 32 elements");
}

// layers = many: one launch over three layers writes, for each layer, the bytes that the
// layers = one kernel writes for that layer alone (q rotated in place, caches, their scales,
// k_out), on a plain bf16 cache and on an nvfp4 cache with per-layer QK-RMSNorm weights.
TEST_CASE("runtime: a layers = many launch writes each layer's bytes as the single-layer kernel does") {
  auto rt = make_host_runtime();
  auto load = [&](const std::string& text) {
    GeneratedSource g = generate(parse_spec_line(text).spec, parse_target("host"));
    return rt->load(select_compiler(g.target).compile(g, {}));
  };
  constexpr int L = 3, T = 7, QH = 4, KVH = 2, D = 64, SLOTS = 32, POS = 64;
  unsigned state = 7;
  auto bf16 = [&] {  // a random bf16 in about [-4, 4)
    state = state * 1664525u + 1013904223u;
    const float f = (static_cast<float>(state >> 8) / 16777216.0f - 0.5f) * 8.0f;
    unsigned u;
    std::memcpy(&u, &f, 4);
    return static_cast<unsigned short>(u >> 16);
  };
  std::vector<float> table(POS * D);  // cos | sin rows of rot = D
  for (int p = 0; p < POS; ++p)
    for (int j = 0; j < D / 2; ++j) {
      const double a = p * std::pow(10000.0, -2.0 * j / D);
      table[p * D + j] = static_cast<float>(std::cos(a));
      table[p * D + D / 2 + j] = static_cast<float>(std::sin(a));
    }
  int pos[T] = {3, 9, 0, 63, 17, 5, 40}, slots[T] = {0, 5, -1, 31, 16, 2, 17};
  for (const char* extra : {"", " cache_dtype=nvfp4 qk_norm=rms(eps=1e-6) outputs=separate"}) {
    CAPTURE(extra);
    const std::string one = std::string("q_heads=4 kv_heads=2 head_dim=64 dtype=bf16") + extra;
    auto k1 = load(one);
    auto km = load(one + " layers=many");
    const bool nvfp4 = std::strstr(extra, "nvfp4") != nullptr;
    const size_t qn = static_cast<size_t>(T) * QH * D, kn = static_cast<size_t>(T) * KVH * D;
    const size_t cache_bytes = static_cast<size_t>(SLOTS) * KVH * D * (nvfp4 ? 1 : 4) / 2;  // nvfp4: 2 codes a byte
    const size_t scale_bytes = nvfp4 ? static_cast<size_t>(SLOTS) * KVH * D / 16 : 0;
    // Every layer's inputs and outputs, twice: [0] for the one launch, [1] for the L launches.
    std::vector<unsigned short> q[2], k(L * kn), v(L * kn), w(L * 2 * D);
    std::vector<unsigned char> caches[2], scales[2];
    std::vector<unsigned short> k_out[2];
    q[0].resize(L * qn);
    for (auto& e : q[0]) e = bf16();
    for (auto& e : k) e = bf16();
    for (auto& e : v) e = bf16();
    for (auto& e : w) e = bf16();
    q[1] = q[0];
    for (int c = 0; c < 2; ++c) {
      caches[c].assign(L * 2 * cache_bytes, 0xee);
      scales[c].assign(L * 2 * scale_bytes + 1, 0xdd);
      k_out[c].assign(L * kn, 0x7777);
    }
    const float gs[2] = {0.75f, 1.5f};  // nvfp4's global scales, k then v
    auto base = [&](int c, int l) {
      ropegen_kernel_args a = ROPEGEN_KERNEL_ARGS_INIT;
      a.num_tokens = T;
      a.q = q[c].data() + l * qn;
      a.k = k.data() + l * kn;
      a.v = v.data() + l * kn;
      a.q_stride = QH * D;
      a.k_stride = a.v_stride = KVH * D;
      a.positions = pos;
      a.slot_mapping = slots;
      a.cos = table.data();
      a.sin = table.data() + D / 2;
      a.cos_sin_stride = D;
      a.cache_slots = SLOTS;
      a.table_rows = POS;
      return a;
    };
    auto own = [&](int c, int l) {  // layer l's own pointers
      ropegen_layer_args r{};
      r.k_cache = caches[c].data() + (2 * l) * cache_bytes;
      r.v_cache = caches[c].data() + (2 * l + 1) * cache_bytes;
      if (nvfp4) {
        r.k_cache_scales = scales[c].data() + (2 * l) * scale_bytes;
        r.v_cache_scales = scales[c].data() + (2 * l + 1) * scale_bytes;
        r.k_scale = &gs[0];
        r.v_scale = &gs[1];
        r.q_norm_weight = w.data() + l * 2 * D;
        r.k_norm_weight = w.data() + l * 2 * D + D;
        r.k_out = k_out[c].data() + l * kn;
      }
      return r;
    };
    for (int l = 0; l < L; ++l) {  // the single-layer kernel, layer by layer
      ropegen_kernel_args a = base(1, l);
      const ropegen_layer_args r = own(1, l);
      a.k_cache = r.k_cache;
      a.v_cache = r.v_cache;
      a.k_cache_scales = r.k_cache_scales;
      a.v_cache_scales = r.v_cache_scales;
      a.k_scale = r.k_scale;
      a.v_scale = r.v_scale;
      a.q_norm_weight = r.q_norm_weight;
      a.k_norm_weight = r.k_norm_weight;
      a.k_out = r.k_out;
      a.k_out_stride = r.k_out ? KVH * D : 0;
      k1->launch(a);
    }
    std::vector<ropegen_layer_args> records;
    for (int l = 0; l < L; ++l) records.push_back(own(0, l));
    ropegen_kernel_args a = base(0, 0);
    a.k_out_stride = nvfp4 ? KVH * D : 0;
    a.num_layers = L;
    a.layers = records.data();
    a.q_layer_stride = static_cast<long long>(qn);
    a.k_layer_stride = a.v_layer_stride = static_cast<long long>(kn);
    km->launch(a);
    CHECK(q[0] == q[1]);
    CHECK(caches[0] == caches[1]);
    CHECK(scales[0] == scales[1]);
    CHECK(k_out[0] == k_out[1]);
    CHECK(caches[0] != std::vector<unsigned char>(caches[0].size(), 0xee));  // something was written
  }
}

// scales_at = page | row: a reader that knows only the layout formula (docs/dsl.md) finds in
// the inline cache the codes and scales the scales_at = tensor kernel writes to the cache and
// its scale tensors, byte for byte: the same data, moved. The scale tensors stay null.
TEST_CASE("runtime: inline cache scales hold the separate tensors' codes and scales at the layout's bytes") {
  auto rt = make_host_runtime();
  auto load = [&](const std::string& text) {
    GeneratedSource g = generate(parse_spec_line(text).spec, parse_target("host"));
    return rt->load(select_compiler(g.target).compile(g, {}));
  };
  constexpr int T = 9, QH = 4, H = 2, D = 64, B = 8, PAGES = 4, SLOTS = B * PAGES, POS = 64;
  unsigned state = 11;
  auto bf16 = [&] {
    state = state * 1664525u + 1013904223u;
    const float f = (static_cast<float>(state >> 8) / 16777216.0f - 0.5f) * 8.0f;
    unsigned u;
    std::memcpy(&u, &f, 4);
    return static_cast<unsigned short>(u >> 16);
  };
  std::vector<float> table(POS * D);
  for (int p = 0; p < POS; ++p)
    for (int j = 0; j < D / 2; ++j) {
      const double a = p * std::pow(10000.0, -2.0 * j / D);
      table[p * D + j] = static_cast<float>(std::cos(a));
      table[p * D + D / 2 + j] = static_cast<float>(std::sin(a));
    }
  int pos[T] = {3, 9, 0, 63, 17, 5, 40, 22, 8}, slots[T] = {0, 5, -1, 31, 16, 2, 17, 9, 10};
  struct Case {
    const char* separate;  // cache_dtype with its scales in tensors
    const char* inline_;   // the same with scales_at
    const char* extra;     // the rest of the spec
  };
  const Case cases[] = {
      {"nvfp4", "nvfp4(scales_at=page)", " cache=paged(block=8,order=nhd)"},
      {"nvfp4(v_scales=swizzled)", "nvfp4(v_scales=swizzled,scales_at=page)", " cache=paged(block=8,order=hnd)"},
      {"mxfp4", "mxfp4(scales_at=page)", " cache=paged(block=8,order=hnd)"},
      {"int8", "int8(scales_at=page)", " scales=per_token_head cache=paged(block=8,order=nhd)"},
      {"int8", "int8(scales_at=row)", " scales=per_token_head cache=paged(block=8,order=nhd)"},
      {"int4", "int4(scales_at=row)", " scales=per_token_head cache=paged(block=8,order=hnd)"},
      {"fp8_e4m3", "fp8_e4m3(scales_at=row)", " scales=per_token_head cache=paged(block=8,order=nhd)"},
      {"fp8_e5m2", "fp8_e5m2(scales_at=page)", " scales=per_token_head cache=paged(block=8,order=hnd)"},
  };
  for (const Case& c : cases) {
    const std::string common = "q_heads=4 kv_heads=2 head_dim=64 dtype=bf16 cache_dtype=";
    const std::string sep = common + c.separate + c.extra, inl = common + c.inline_ + c.extra;
    CAPTURE(sep);
    CAPTURE(inl);
    const KernelSpec spec = parse_spec_line(inl).spec;
    const bool hnd = spec.cache.order == CacheOrder::Hnd;
    const bool f32 = spec.scales == Scales::PerTokenHead;
    const int bits = cache_bits(spec), group = cache_group(spec);
    const int CB = D * bits / 8, S = D / group * (f32 ? 4 : 1);
    const bool swizzled = spec.codec.v_swizzled;
    auto separate = load(sep), inline_k = load(inl);
    std::vector<unsigned short> q(T * QH * D), k(T * H * D), v(T * H * D);
    for (auto& e : q) e = bf16();
    for (auto& e : k) e = bf16();
    for (auto& e : v) e = bf16();
    std::vector<unsigned short> q2 = q;
    const float gs[2] = {0.75f, 1.5f};
    auto args = [&](std::vector<unsigned short>& qq) {
      ropegen_kernel_args a = ROPEGEN_KERNEL_ARGS_INIT;
      a.num_tokens = T;
      a.q = qq.data();
      a.k = k.data();
      a.v = v.data();
      a.q_stride = QH * D;
      a.k_stride = a.v_stride = H * D;
      a.positions = pos;
      a.slot_mapping = slots;
      a.cos = table.data();
      a.sin = table.data() + D / 2;
      a.cos_sin_stride = D;
      if (spec.cache_dtype == StoreType::Nvfp4) {
        a.k_scale = &gs[0];
        a.v_scale = &gs[1];
      }
      return a;
    };
    // scales_at = tensor: caches [SLOTS * H rows of CB] and scales [SLOTS * H rows of S].
    std::vector<unsigned char> kc(SLOTS * H * CB, 0xee), vc(kc), ks(SLOTS * H * S, 0xee), vs(ks);  // as the inline caches start
    ropegen_kernel_args a = args(q);
    a.k_cache = kc.data();
    a.v_cache = vc.data();
    a.k_cache_scales = ks.data();
    a.v_cache_scales = vs.data();
    separate->launch(a);
    // Inline: the same bytes and no scale tensors.
    std::vector<unsigned char> ki(SLOTS * H * (CB + S), 0xee), vi(ki);
    ropegen_kernel_args b = args(q2);
    b.k_cache = ki.data();
    b.v_cache = vi.data();
    inline_k->launch(b);
    CHECK(q == q2);
    // The reader: only the layout formula of docs/dsl.md.
    long long written = 0;
    for (int side = 0; side < 2; ++side) {
      const std::vector<unsigned char>& codes = side ? vc : kc;
      const std::vector<unsigned char>& scales = side ? vs : ks;
      const std::vector<unsigned char>& got = side ? vi : ki;
      const bool swz = side == 1 && swizzled;
      for (int n = 0; n < PAGES; ++n)
        for (int t = 0; t < B; ++t)
          for (int h = 0; h < H; ++h) {
            const long long row = hnd ? (static_cast<long long>(n) * H + h) * B + t : (static_cast<long long>(n) * B + t) * H + h;
            const long long in_page = hnd ? h * B + t : t * H + h;
            long long code_at, scale_at;
            if (spec.codec.scales_at == ScalesAt::Row) {
              code_at = row * (CB + S);
              scale_at = code_at + CB;
            } else {
              const long long page = static_cast<long long>(n) * B * H * (CB + S);
              code_at = page + in_page * CB;
              scale_at = page + static_cast<long long>(B) * H * CB + in_page * S;
              if (swz) scale_at = page + static_cast<long long>(B) * H * CB + h * B * S + (t / 4) * 4 * S + t % 4;
            }
            for (int i = 0; i < CB; ++i) CHECK(got[code_at + i] == codes[row * CB + i]);
            for (int g = 0; g < S; ++g) {
              // The tensor's scale byte g of this row (swizzled: scale g of the (page, head) tile).
              const long long want = swz ? (static_cast<long long>(n) * H + h) * B * S + (t / 4) * 4 * S + 4 * g + t % 4
                                         : row * S + g;
              const long long at = swz ? scale_at + 4 * g : scale_at + g;
              CHECK(got[at] == scales[want]);
            }
            written += codes[row * CB] != 0xee;
          }
    }
    CHECK(written > 0);
  }
}
