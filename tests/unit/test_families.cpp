// The family contract: every family in the registry is complete (template, ops, parts), its
// names resolve, and no stage outside src/families/ names an op. Then the indexer family.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "codegen/codegen.hpp"
#include "families/family.hpp"
#include "families/indexer/indexer.hpp"
#include "jit/jit.hpp"
#include "ropegen/ropegen.hpp"
#include "ropegen/runtime.hpp"
#include "verify/verify.hpp"

using namespace ropegen;

TEST_CASE("families: every registered family is complete") {
  std::set<std::string> names, ops;
  for (const Family* f : families()) {
    CAPTURE(f->name);
    CHECK(names.insert(f->name).second);
    CHECK_FALSE(template_text(f->template_file).empty());
    CHECK_FALSE(f->ops.empty());
    CHECK(static_cast<bool>(f->validate));
    CHECK(static_cast<bool>(f->shape));
    CHECK(static_cast<bool>(f->bind));
    CHECK(static_cast<bool>(f->requirements));
    CHECK((f->expect_token || f->verify));  // the shared runner's model, or its own runner
    CHECK(static_cast<bool>(f->matrix));
    for (const OpRow& r : f->ops) {
      CHECK(ops.insert(r.name).second);
      CHECK(&family_of(r.op) == f);
      CHECK(std::string(to_string(r.op)) == r.name);  // the DSL's names come from the registry
    }
    // A family-facing name renames a field of the argument block.
    for (const auto& n : f->arg_names) {
      bool found = false;
      for (const ArgField& a : kernel_args_fields()) found = found || std::strcmp(a.name, n.first) == 0;
      CHECK_MESSAGE(found, n.first);
    }
    // Its cases are in the matrix and name only its ops.
    std::vector<MatrixCase> cases;
    f->matrix(cases);
    CHECK_FALSE(cases.empty());
    for (const MatrixCase& c : cases) CHECK(&family_of(parse_spec_line(c.spec).spec.op) == f);
  }
}

TEST_CASE("families: MLA's arguments carry its names and their fields") {
  const KernelSpec s = parse_spec_line("op=mla_rope_append head_dim=192 rotary_dim=64 rotary_offset=128 q_heads=4").spec;
  std::set<std::string> seen;
  for (const ArgRequirement& r : argument_requirements(s, ArgAlignment{})) {
    seen.insert(r.name);
    if (std::string(r.name) == "k_pe") CHECK(std::string(r.field) == "k");
    if (std::string(r.name) == "kv_c") CHECK(std::string(r.field) == "v");
  }
  CHECK(seen.count("k_pe") == 1);
  CHECK(seen.count("kv_c") == 1);
  CHECK(seen.count("k") == 0);
}

TEST_CASE("families: the indexer's arguments carry its names and their fields") {
  const KernelSpec s = parse_spec_line("op=indexer_append rotary_dim=64 cache_dtype=fp8_e4m3 cache=paged(block=64) "
                                       "k_norm=layernorm").spec;
  std::set<std::string> seen;
  for (const ArgRequirement& r : argument_requirements(s, ArgAlignment{})) {
    seen.insert(r.name);
    if (std::string(r.name) == "weights") CHECK(std::string(r.field) == "v");
    if (std::string(r.name) == "head_weights") CHECK(std::string(r.field) == "q_out_scales");
    if (std::string(r.name) == "k_norm_bias") CHECK(std::string(r.field) == "q_norm_weight");
  }
  for (const char* n : {"q", "k", "weights", "positions", "slot_mapping", "cos", "sin", "k_norm_weight", "k_norm_bias",
                        "k_cache", "q_out", "head_weights"})
    CHECK_MESSAGE(seen.count(n) == 1, n);
}

TEST_CASE("families: no stage outside src/families/ names an op") {
  namespace fs = std::filesystem;
  const fs::path src = fs::path(ROPEGEN_SOURCE_DIR) / "src";
  std::vector<std::string> offenders;
  for (const auto& e : fs::recursive_directory_iterator(src)) {
    if (!e.is_regular_file()) continue;
    const std::string rel = fs::relative(e.path(), src).generic_string();
    if (rel.rfind("families/", 0) == 0) continue;
    std::ifstream in(e.path());
    std::stringstream text;
    text << in.rdbuf();
    const std::string t = text.str();
    for (const OpRow& r : op_rows()) {
      // The enum value (Op::MlaRopeAppend) or the quoted DSL name ("mla_rope_append").
      std::string camel;
      bool up = true;
      for (const char* p = r.name; *p; ++p) {
        if (*p == '_') {
          up = true;
          continue;
        }
        camel += up ? static_cast<char>(std::toupper(static_cast<unsigned char>(*p))) : *p;
        up = false;
      }
      for (const std::string& needle : {"Op::" + camel, "\"" + std::string(r.name) + "\""})
        if (t.find(needle) != std::string::npos) offenders.push_back(rel + ": " + needle);
    }
  }
  CHECK_MESSAGE(offenders.empty(), [&] {
    std::string all;
    for (const auto& o : offenders) all += o + "\n";
    return all;
  }());
}

// The indexer family (op = indexer_append): the kernel run on the host target against values
// computed outside the project, its reference against the same values, a round trip through
// a reader written from cache-layouts.md alone, and its spec errors.
//
// Pinned values: fp32 results by Python's IEEE single rounding (struct.pack('f', x)), e4m3
// codes by hand from the format (bias 7, 3 mantissa bits: in [2^k, 2^(k+1)) the step is
// 2^(k-3); code = sign << 7 | (k + 7) << 3 | mantissa), ties to even.

namespace {

const char* const kBase = "op=indexer_append rotary_dim=64 cache_dtype=fp8_e4m3 cache=paged(block=64) q_heads=1 ";

std::uint16_t bf16(float f) {  // exact for the values used here
  std::uint32_t u;
  std::memcpy(&u, &f, 4);
  REQUIRE((u & 0xffffu) == 0);
  return static_cast<std::uint16_t>(u >> 16);
}

float as_float(std::uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

std::uint32_t bits(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

Context& host() {
  static std::unique_ptr<Context> ctx = Context::open("host", -1, JitOptions::from_env());
  return *ctx;
}

/// One launch on the host: bf16 q [T, H, 128] and k [T, 128] rows, f32 weights [T, H];
/// positions all 0 with a one-row table (cos, sin per frequency), or computed cos/sin.
struct Launch {
  KernelSpec spec;
  long long tokens = 1;
  std::vector<std::uint16_t> q, k;
  std::vector<float> weights, ln_w, ln_b, table;  // table: [rows, rot] = [cos | sin]
  std::vector<long long> positions, slots;
  std::vector<unsigned char> cache, q_out;
  std::vector<float> head_w;

  explicit Launch(const std::string& spec_text, long long t = 1) : spec(parse_spec_line(kBase + spec_text).spec), tokens(t) {
    const long long H = spec.q_heads, D = spec.head_dim;
    q.assign(static_cast<size_t>(t * H * D), 0);
    k.assign(static_cast<size_t>(t * D), 0);
    weights.assign(static_cast<size_t>(t * H), 1.0f);
    positions.assign(static_cast<size_t>(t), 0);
    slots.resize(static_cast<size_t>(t));
    for (long long i = 0; i < t; ++i) slots[static_cast<size_t>(i)] = i;
    // Position 0 of a table: cos 1, sin 0 (no rotation).
    table.assign(static_cast<size_t>(spec.rotary_dim), 0.0f);
    for (int j = 0; j < spec.rotary_dim / 2; ++j) table[static_cast<size_t>(j)] = 1.0f;
    cache.assign(static_cast<size_t>(2 * indexer::block_bytes(spec)), 0xAB);
    q_out.assign(static_cast<size_t>(t * H * D), 0xAB);
    head_w.assign(static_cast<size_t>(t * H), -1.0f);
  }

  void run() {
    Context& ctx = host();
    auto kernel = ctx.kernel(spec);
    Runtime& rt = ctx.runtime();
    std::vector<void*> ptrs;
    auto up = [&](const void* data, size_t n) {
      void* p = rt.alloc(n ? n : 1);
      if (n) rt.copy_to_device(p, data, n);
      ptrs.push_back(p);
      return p;
    };
    ropegen_kernel_args a = ROPEGEN_KERNEL_ARGS_INIT;
    const long long H = spec.q_heads, D = spec.head_dim;
    a.num_tokens = tokens;
    a.q = up(q.data(), q.size() * 2);
    a.q_stride = H * D;
    a.k = up(k.data(), k.size() * 2);
    a.k_stride = D;
    a.v = up(weights.data(), weights.size() * 4);
    a.v_stride = H;
    std::vector<std::int32_t> p32(positions.begin(), positions.end()), s32(slots.begin(), slots.end());
    a.positions = up(p32.data(), p32.size() * 4);
    a.slot_mapping = up(s32.data(), s32.size() * 4);
    if (spec.cos_sin.source == CosSinSource::Table) {
      auto* t = static_cast<float*>(up(table.data(), table.size() * 4));
      a.cos = t;
      a.sin = t + spec.rotary_dim / 2;
      a.cos_sin_stride = spec.rotary_dim;
    }
    if (spec.indexer.layernorm) {
      a.k_norm_weight = up(ln_w.data(), ln_w.size() * 4);
      a.q_norm_weight = up(ln_b.data(), ln_b.size() * 4);
    }
    a.k_cache = up(cache.data(), cache.size());
    a.q_out = up(q_out.data(), q_out.size());
    a.q_out_stride = H * D;
    a.q_out_scales = static_cast<float*>(up(head_w.data(), head_w.size() * 4));
    kernel->launch(a);
    rt.synchronize();
    rt.copy_to_host(cache.data(), a.k_cache, cache.size());
    rt.copy_to_host(q_out.data(), a.q_out, q_out.size());
    rt.copy_to_host(head_w.data(), a.q_out_scales, head_w.size() * 4);
    for (void* p : ptrs) rt.free(p);
  }

  // The record of `slot` as cache-layouts.md describes it (linear values).
  unsigned char value(long long slot, int c) const {
    const long long B = spec.cache.block, D = spec.head_dim;
    return cache[static_cast<size_t>(slot / B * B * (D + 4) + slot % B * D + c)];
  }
  std::uint32_t scale(long long slot) const {
    const long long B = spec.cache.block, D = spec.head_dim;
    std::uint32_t u;
    std::memcpy(&u, &cache[static_cast<size_t>(slot / B * B * (D + 4) + B * D + 4 * (slot % B))], 4);
    return u;
  }
};

/// k = [1, -0.5, 2^-10, 3, 0, ...]: amax 3.
void k_pattern(Launch& l, long long t = 0) {
  const float v[] = {1.0f, -0.5f, 0.0009765625f, 3.0f};
  for (int i = 0; i < 4; ++i) l.k[static_cast<size_t>(t * 128 + i)] = bf16(v[i]);
}

/// e4m3 decoding from the format's definition (OCP e4m3fn: bias 7, S.1111.111 NaN).
double e4m3(unsigned char c) {
  const int e = (c >> 3) & 0xf, m = c & 7;
  const double mag = e == 0 ? std::ldexp(m, -9) : std::ldexp(8 + m, e - 10);
  return c & 0x80 ? -mag : mag;
}

}  // namespace

/// A pinned rotation on the host: one f32 head of q[t][e] = ((131 t + 17 e) % 97) / 48.5 - 1
/// (and k the same rows) rotated by `spec` at the given positions (and grid), each pin
/// (token, element) checked against the model's value; k must match q.
using Pins = std::vector<std::pair<std::pair<long long, long long>, double>>;
void check_pinned_rotation(const KernelSpec& spec, long long T, const std::vector<std::int32_t>& pos, const Pins& pins,
                           long long grid_h = 0, long long grid_w = 0) {
  const long long D = spec.head_dim;
  std::vector<float> q(static_cast<size_t>(T * D));
  for (long long t = 0; t < T; ++t)
    for (long long e = 0; e < D; ++e) q[static_cast<size_t>(t * D + e)] = static_cast<float>((t * 131 + e * 17) % 97) / 48.5f - 1.0f;
  std::vector<float> k = q;
  Context& ctx = host();
  auto kernel = ctx.kernel(spec);
  Runtime& rt = ctx.runtime();
  void* dq = rt.alloc(q.size() * 4);
  void* dk = rt.alloc(k.size() * 4);
  void* dp = rt.alloc(pos.size() * 4);
  rt.copy_to_device(dq, q.data(), q.size() * 4);
  rt.copy_to_device(dk, k.data(), k.size() * 4);
  rt.copy_to_device(dp, pos.data(), pos.size() * 4);
  ropegen_kernel_args a = ROPEGEN_KERNEL_ARGS_INIT;
  a.num_tokens = T;
  a.q = dq;
  a.q_stride = D;
  a.k = dk;
  a.k_stride = D;
  a.positions = dp;
  a.grid_h = grid_h;
  a.grid_w = grid_w;
  kernel->launch(a);
  rt.synchronize();
  rt.copy_to_host(q.data(), dq, q.size() * 4);
  rt.copy_to_host(k.data(), dk, k.size() * 4);
  if (spec.positions.kind == PositionsKind::Grid) {  // the grid's height and width are the caller's
    a.grid_h = 0;
    CHECK_THROWS_WITH(kernel->launch(a), doctest::Contains("argument 'grid_h' = 0 must be in 1 .. 2^31 - 1"));
  }
  for (void* p : {dq, dk, dp}) rt.free(p);
  for (const auto& [te, want] : pins) {
    CAPTURE(te.first);
    CAPTURE(te.second);
    const size_t i = static_cast<size_t>(te.first * D + te.second);
    CHECK(q[i] == doctest::Approx(want).epsilon(2e-5));
    CHECK(k[i] == q[i]);  // k was the same row: the same rotation
  }
}

/// The two vision pins: ropegen's positions = vision(sections = [20, 20]) kernel (head_dim 80,
/// theta 10000) at four patches' (row, column) positions, passed as [2, tokens]: the row ids,
/// then the column ids.
void check_pinned_vision(const Pins& pins) {
  const std::vector<std::pair<std::int32_t, std::int32_t>> hw = {{0, 0}, {3, 5}, {17, 2}, {40, 63}};
  const long long T = static_cast<long long>(hw.size());
  const KernelSpec spec =
      parse_spec_line("op=rope head_dim=80 q_heads=1 kv_heads=1 dtype=f32 positions=vision(sections=[20,20]) "
                      "cos_sin=compute(theta=10000)")
          .spec;
  std::vector<std::int32_t> pos(static_cast<size_t>(2 * T));
  for (size_t t = 0; t < hw.size(); ++t) {
    pos[t] = hw[t].first;
    pos[hw.size() + t] = hw[t].second;
  }
  check_pinned_rotation(spec, T, pos, pins);
}

TEST_CASE("pinned: Qwen2-VL vision tower 2-D RoPE (head_dim 80, theta 10000)") {
  // transformers 5.17 (torch 2.11) on the H100 machine, scripts/hf_2026_pins.py "qwen2_vl_vision":
  // Qwen2VLVisionRotaryEmbedding (rope_type axial: inv_freq 10000^(-i/20), i even < 40) and
  // apply_rotary_pos_emb_vision in fp32: a patch's 40 angles are its row's 20 then its
  // column's 20, on q[t][e] = ((131 t + 17 e) % 97) / 48.5 - 1 at the (row, column) positions
  // below. ropegen's positions = vision(sections = [20, 20]) kernel
  // on the host target must give the same values (fp32 sin/cos: a few ulps of the angle apart).
  const Pins pins = {
      {{0, 0}, -1.0},
      {{0, 1}, -0.6494845151901245},
      {{0, 19}, -0.34020617604255676},
      {{0, 20}, 0.010309278033673763},
      {{0, 21}, 0.36082473397254944},
      {{0, 39}, 0.6701030731201172},
      {{0, 40}, -0.9793814420700073},
      {{0, 41}, -0.6288659572601318},
      {{0, 59}, -0.3195876181125641},
      {{0, 60}, 0.030927835032343864},
      {{0, 79}, 0.6907216310501099},
      {{1, 0}, 0.33525794744491577},
      {{1, 1}, -0.08477054536342621},
      {{1, 19}, 0.36064332723617554},
      {{1, 20}, 0.9036733508110046},
      {{1, 21}, 0.9259572625160217},
      {{1, 39}, -0.6283837556838989},
      {{1, 40}, 0.23337438702583313},
      {{1, 41}, 0.02605309709906578},
      {{1, 59}, 0.3816148042678833},
      {{1, 60}, -0.4744923710823059},
      {{1, 79}, -0.6087455749511719},
      {{2, 0}, 0.29573118686676025},
      {{2, 1}, 0.5450997948646545},
      {{2, 19}, -0.9356688261032104},
      {{2, 20}, 0.7601208686828613},
      {{2, 21}, 0.1341681182384491},
      {{2, 39}, 0.07213553041219711},
      {{2, 40}, -0.50284743309021},
      {{2, 41}, -0.9311662912368774},
      {{2, 59}, -0.9200500845909119},
      {{2, 60}, -0.298369824886322},
      {{2, 79}, 0.0928063690662384},
      {{3, 0}, 1.2511157989501953},
      {{3, 1}, -0.4879576861858368},
      {{3, 19}, -0.2357361614704132},
      {{3, 20}, 0.08937358856201172},
      {{3, 21}, -0.6440836787223816},
      {{3, 39}, 0.7652313709259033},
      {{3, 40}, -0.08386707305908203},
      {{3, 41}, -0.5804124474525452},
      {{3, 59}, -0.21799367666244507},
      {{3, 60}, 0.15110893547534943},
      {{3, 79}, 0.8014949560165405}};
  check_pinned_vision(pins);
}

TEST_CASE("pinned: llama.cpp VISION rotation (GGML_ROPE_TYPE_VISION, head_dim 80, sections 20 x 4)") {
  // scripts/llamacpp_vision_pins.py (numpy 1.24, this machine): ggml's CPU rope in VISION mode
  // as clip.cpp calls it for a Qwen2-VL tower (n_dims = 40 = head_dim / 2, sections [20, 20,
  // 20, 20], positions [row, column, row, column]): angles by repeated float32 multiplication
  // with theta_scale = 10000^(-2/40), restarted at each section, pairs (j, j + 40), on the q
  // and (row, column) positions of the Qwen2-VL pin above. Sections 2 and 3 are past the 40
  // pairs, so the mode is ropegen's positions = vision(sections = [20, 20]); the same kernel on
  // the host target must give these values too (fp32 products against repeated ones: within
  // the tolerance).
  const Pins pins = {
      {{0, 0}, -1.0},
      {{0, 1}, -0.6494845151901245},
      {{0, 19}, -0.34020617604255676},
      {{0, 20}, 0.010309278033673763},
      {{0, 21}, 0.36082473397254944},
      {{0, 39}, 0.6701030731201172},
      {{0, 40}, -0.9793814420700073},
      {{0, 41}, -0.6288659572601318},
      {{0, 59}, -0.3195876181125641},
      {{0, 60}, 0.030927835032343864},
      {{0, 79}, 0.6907216310501099},
      {{1, 0}, 0.33525794744491577},
      {{1, 1}, -0.0847705528140068},
      {{1, 19}, 0.36064332723617554},
      {{1, 20}, 0.9036733508110046},
      {{1, 21}, 0.9259570240974426},
      {{1, 39}, -0.6283837556838989},
      {{1, 40}, 0.23337438702583313},
      {{1, 41}, 0.02605307288467884},
      {{1, 59}, 0.3816148042678833},
      {{1, 60}, -0.4744923710823059},
      {{1, 79}, -0.6087455749511719},
      {{2, 0}, 0.29573118686676025},
      {{2, 1}, 0.5451006889343262},
      {{2, 19}, -0.9356688261032104},
      {{2, 20}, 0.7601208686828613},
      {{2, 21}, 0.13416814804077148},
      {{2, 39}, 0.07213553041219711},
      {{2, 40}, -0.50284743309021},
      {{2, 41}, -0.9311657547950745},
      {{2, 59}, -0.9200500845909119},
      {{2, 60}, -0.298369824886322},
      {{2, 79}, 0.0928063690662384},
      {{3, 0}, 1.2511157989501953},
      {{3, 1}, -0.48795661330223083},
      {{3, 19}, -0.2357361614704132},
      {{3, 20}, 0.08937358856201172},
      {{3, 21}, -0.6440843939781189},
      {{3, 39}, 0.7652313709259033},
      {{3, 40}, -0.08386707305908203},
      {{3, 41}, -0.5804134011268616},
      {{3, 59}, -0.21799367666244507},
      {{3, 60}, 0.15110893547534943},
      {{3, 79}, 0.8014949560165405}};
  check_pinned_vision(pins);
}

TEST_CASE("pinned: Wan 2.1 3-D grid RoPE (head_dim 128, sections 22 / 21 / 21, grid 2 x 3 x 5)") {
  // scripts/wan_grid_pins.py (torch 1.13, this machine): Wan 2.1's rope_params / rope_apply
  // (wan/modules/model.py) evaluated in float64 on q[t][e] = ((131 t + 17 e) % 97) / 48.5 - 1
  // for the 30 tokens of a 2-frame 3 x 5 grid: frame angles theta^(-2i/44), row and column
  // angles theta^(-2i/42), adjacent channel pairs. ropegen's positions = grid(sections = [22,
  // 21, 21]) kernel (style = gptj), given each token's index and grid_h = 3, grid_w = 5, on the
  // host target must give the same values (its fp32 angle and sin/cos: a few ulps apart).
  const Pins pins = {
      {{0, 0}, -1.0},
      {{0, 1}, -0.6494845151901245},
      {{0, 42}, -0.27835050225257874},
      {{0, 43}, 0.07216494530439377},
      {{0, 44}, 0.42268040776252747},
      {{0, 45}, 0.7731958627700806},
      {{0, 86}, -0.8556700944900513},
      {{0, 87}, -0.5051546096801758},
      {{0, 126}, -0.8350515365600586},
      {{0, 127}, -0.4845360815525055},
      {{7, 0}, -0.09278350323438644},
      {{7, 1}, 0.25773194432258606},
      {{7, 42}, 0.6288659572601318},
      {{7, 43}, 0.9793814420700073},
      {{7, 44}, -0.09313452783053672},
      {{7, 45}, -0.7365462198543078},
      {{7, 86}, -0.3870446730690559},
      {{7, 87}, -0.12044576611500198},
      {{7, 126}, 0.07203386730824847},
      {{7, 127}, 0.42270276601614554},
      {{16, 0}, -0.3601500385498326},
      {{16, 1}, 0.4885310926610077},
      {{16, 42}, 0.9382524327571284},
      {{16, 43}, -0.7111975911683295},
      {{16, 44}, -0.36082473397254944},
      {{16, 45}, -0.010309278033673763},
      {{16, 86}, -0.4036176935748955},
      {{16, 87}, 0.6879622886015562},
      {{16, 126}, 0.38132979595913225},
      {{16, 127}, 0.7320178814956717},
      {{29, 0}, -0.09313452783053672},
      {{29, 1}, -0.7365462198543078},
      {{29, 42}, 0.05148528067837314},
      {{29, 43}, 0.4020696797815414},
      {{29, 44}, 0.5023727538063117},
      {{29, 45}, 1.0575617050419888},
      {{29, 86}, 0.21103279153278626},
      {{29, 87}, 0.5124625408032258},
      {{29, 126}, -0.5050586043419429},
      {{29, 127}, -0.15495243988969298}};
  const long long T = 30;
  const KernelSpec spec = parse_spec_line("op=rope head_dim=128 q_heads=1 kv_heads=1 dtype=f32 style=gptj "
                                          "positions=grid(sections=[22,21,21]) cos_sin=compute(theta=10000)")
                              .spec;
  std::vector<std::int32_t> pos(static_cast<size_t>(T));
  for (long long t = 0; t < T; ++t) pos[static_cast<size_t>(t)] = static_cast<std::int32_t>(t);
  check_pinned_rotation(spec, T, pos, pins, 3, 5);
}

TEST_CASE("indexer: K record bytes pinned (divide, multiply, ue8m0, the 1e-4 floor)") {
  // s = fp32(3 / 448) = 0.0066964286 (0x3bdb6db7). x / s: 1 -> 149.333 -> 144 = 2^7 * 1.125:
  // 0x71; -0.5 -> -74.667 -> -72 = -(2^6 * 1.125): 0xe9; 2^-10 -> 0.145833 -> 0.140625 =
  // 2^-3 * 1.125: 0x21; 3 -> 448.0: 0x7e; 0 -> 0x00. Multiplying by fp32(1 / s) gives the same
  // products here (Python: 149.33333, -74.666664, 0.14583333, 448.0).
  for (const char* quant : {"k_quant=divide", "k_quant=multiply"}) {
    CAPTURE(quant);
    Launch l(quant);
    k_pattern(l);
    l.run();
    CHECK(l.scale(0) == 0x3bdb6db7u);
    const unsigned char want[] = {0x71, 0xe9, 0x21, 0x7e, 0x00};
    for (int c = 0; c < 5; ++c) CHECK(l.value(0, c) == want[c]);
    for (int c = 5; c < 128; ++c) CHECK(l.value(0, c) == 0x00);
    // The reference gives the same bytes.
    std::vector<double> row(128, 0.0);
    row[0] = 1, row[1] = -0.5, row[2] = 0.0009765625, row[3] = 3;
    const indexer::QuantizedRow r = indexer::quantize_k(l.spec, indexer::Encoding::E4m3, row);
    CHECK(r.scale_bits == 0x3bdb6db7u);
    for (int c = 0; c < 5; ++c) CHECK(r.codes[static_cast<size_t>(c)] == want[c]);
    // The other slots of the block keep their bytes.
    CHECK(l.value(1, 0) == 0xAB);
    CHECK(l.scale(1) == 0xABABABABu);
  }
  SUBCASE("ue8m0: s = 2^ceil(log2(0.0066964)) = 2^-7") {
    // x / 2^-7: 128 -> 0x70, -64 -> 0xe8, 0.125 -> 0x20, 384 = 2^8 * 1.5 -> 0x7c.
    Launch l("scale_fmt=ue8m0");
    k_pattern(l);
    l.run();
    CHECK(l.scale(0) == 0x3c000000u);
    const unsigned char want[] = {0x70, 0xe8, 0x20, 0x7c};
    for (int c = 0; c < 4; ++c) CHECK(l.value(0, c) == want[c]);
  }
  SUBCASE("a row below the floor: s = fp32(fp32(1e-4) / 448) = 2.2321429e-07 (0x346facad)") {
    Launch l("");
    l.k[0] = bf16(0.0000152587890625f);  // 2^-16, / s = 68.36 -> 72 = 2^6 * 1.125: 0x69
    l.run();
    CHECK(l.scale(0) == 0x346facadu);
    CHECK(l.value(0, 0) == 0x69);
  }
}

TEST_CASE("indexer: ue8m0 keeps a scale one ulp above a power of two (log2f rounds to the integer)") {
  // fp8_max = 447.99993896484375 (a float), amax 14: s = fp32(14 / fp8_max) = 0.031250004
  // (0x3d000001, 2^-5 one ulp up); log2 = -4.99999983, which fp32 rounds to -5.0 (its ulp
  // at 4..8 is 2^-21): the scale is 2^-5 (0x3d000000), not 2^-4; 14 / 2^-5 = 448: 0x7e.
  Launch l("scale_fmt=ue8m0 fp8_max=447.99993896484375");
  l.k[5] = bf16(14.0f);
  l.run();
  CHECK(l.scale(0) == 0x3d000000u);
  CHECK(l.value(0, 5) == 0x7e);
  CHECK(bits(indexer::ue8m0(as_float(0x3d000001u))) == 0x3d000000u);
}

TEST_CASE("indexer: Q codes and head weights pinned") {
  // q = [1, -0.5, 2, 0.75, 0 ...]: q_s = fp32(2 * fp32(1 / 448)) = 0.0044642859 (0x3b924925),
  // 1 / q_s = 223.99998; q * that: 223.99998 -> 224 = 2^7 * 1.75: 0x76; -111.99999 -> -112:
  // 0xee; 447.99997 -> 448: 0x7e; 167.99998 -> 160 = 2^7 * 1.25 (below the midpoint 168): 0x72.
  // head weight: 0.5 * q_s * fp32(8192^-0.5) = 2.4661927e-05 (0x37cee116).
  Launch l("weights_scale=0.011048543456039806");
  const float v[] = {1.0f, -0.5f, 2.0f, 0.75f};
  for (int i = 0; i < 4; ++i) l.q[static_cast<size_t>(i)] = bf16(v[i]);
  l.weights[0] = 0.5f;
  l.slots[0] = -1;  // padding: no record, but q is still written
  l.run();
  const unsigned char want[] = {0x76, 0xee, 0x7e, 0x72, 0x00};
  for (int c = 0; c < 5; ++c) CHECK(l.q_out[static_cast<size_t>(c)] == want[c]);
  CHECK(bits(l.head_w[0]) == 0x37cee116u);
  for (size_t i = 0; i < l.cache.size(); ++i) REQUIRE(l.cache[i] == 0xAB);
}

TEST_CASE("indexer: RoPE pairs and tiled16 placement") {
  // cos 0, sin 1 at every frequency: (x0, x1) -> (-x1, x0). neox pairs (j, j + 32): k[0] = 3
  // moves to element 32; gptj pairs (2j, 2j + 1): to element 1.
  for (const char* style : {"style=neox", "style=gptj"}) {
    CAPTURE(style);
    Launch l(style);
    for (int j = 0; j < 32; ++j) {
      l.table[static_cast<size_t>(j)] = 0.0f;
      l.table[static_cast<size_t>(32 + j)] = 1.0f;
    }
    l.k[0] = bf16(3.0f);
    l.run();
    const int to = std::string(style) == "style=neox" ? 32 : 1;
    CHECK(l.value(0, to) == 0x7e);  // 3 / fp32(3 / 448) = 448
    CHECK(l.value(0, 0) == 0x00);
  }
  // tiled16: token 17 of a block of 64, byte 37 at (17/16)*16*128 + (37/16)*256 + (17%16)*16 + 37%16.
  Launch l("k_cache_layout=tiled16", 18);
  k_pattern(l, 17);
  l.k[static_cast<size_t>(17 * 128 + 37)] = bf16(-3.0f);
  l.run();
  const long long at = 1 * 16 * 128 + 2 * 256 + 1 * 16 + 5;
  CHECK(l.cache[static_cast<size_t>(at)] == 0xfe);  // -448
  CHECK(l.cache[static_cast<size_t>(1 * 16 * 128 + 0 * 256 + 1 * 16 + 3)] == 0x7e);
  std::uint32_t s17;
  std::memcpy(&s17, &l.cache[static_cast<size_t>(64 * 128 + 4 * 17)], 4);
  CHECK(s17 == 0x3bdb6db7u);
}

TEST_CASE("indexer: round trip through a reader written from the layout description") {
  // Random bf16 rows, LayerNorm, computed cos/sin at random positions, random slots in two
  // blocks: the reader dequantizes each record (code * scale) and must land within half an
  // e4m3 step (plus the dtype's rounding) of the double-precision LayerNorm + RoPE.
  Launch l("k_norm=layernorm cos_sin=compute(theta=10000) style=neox", 40);
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> u(-2, 2);
  for (auto& x : l.k) {
    float f = static_cast<float>(u(rng));
    std::uint32_t b;
    std::memcpy(&b, &f, 4);
    x = static_cast<std::uint16_t>(b >> 16);  // truncated to bf16: exact
  }
  l.ln_w.resize(128);
  l.ln_b.resize(128);
  for (int i = 0; i < 128; ++i) {
    l.ln_w[static_cast<size_t>(i)] = static_cast<float>(0.5 + u(rng) / 4);
    l.ln_b[static_cast<size_t>(i)] = static_cast<float>(u(rng) / 8);
  }
  std::vector<long long> pool(128);
  for (int i = 0; i < 128; ++i) pool[static_cast<size_t>(i)] = i;
  std::shuffle(pool.begin(), pool.end(), rng);
  for (long long t = 0; t < 40; ++t) {
    l.slots[static_cast<size_t>(t)] = pool[static_cast<size_t>(t)];
    l.positions[static_cast<size_t>(t)] = static_cast<long long>(rng() % 4096);
  }
  l.run();
  for (long long t = 0; t < 40; ++t) {
    CAPTURE(t);
    std::vector<double> x(128);
    double mean = 0, var = 0;
    for (int i = 0; i < 128; ++i) {
      float f;
      const std::uint32_t b = static_cast<std::uint32_t>(l.k[static_cast<size_t>(t * 128 + i)]) << 16;
      std::memcpy(&f, &b, 4);
      x[static_cast<size_t>(i)] = f;
      mean += f / 128.0;
    }
    for (double v : x) var += (v - mean) * (v - mean) / 128.0;
    for (int i = 0; i < 128; ++i)
      x[static_cast<size_t>(i)] = (x[static_cast<size_t>(i)] - mean) / std::sqrt(var + 1e-6) * l.ln_w[static_cast<size_t>(i)] +
                                  l.ln_b[static_cast<size_t>(i)];
    for (int j = 0; j < 32; ++j) {  // neox, theta 10000, d 64: the angle in fp32 as the models do
      const float inv = static_cast<float>(std::pow(10000.0, -2.0 * j / 64));
      const double a = static_cast<float>(l.positions[static_cast<size_t>(t)]) * inv;
      const double x0 = x[static_cast<size_t>(j)], x1 = x[static_cast<size_t>(j + 32)];
      x[static_cast<size_t>(j)] = x0 * std::cos(a) - x1 * std::sin(a);
      x[static_cast<size_t>(j + 32)] = x1 * std::cos(a) + x0 * std::sin(a);
    }
    std::vector<double> mag(128);  // what the dtype roundings are relative to: the pair's size
    for (int c = 0; c < 128; ++c) mag[static_cast<size_t>(c)] = std::fabs(x[static_cast<size_t>(c)]);
    for (int j = 0; j < 32; ++j)
      mag[static_cast<size_t>(j)] = mag[static_cast<size_t>(j + 32)] =
          std::hypot(x[static_cast<size_t>(j)], x[static_cast<size_t>(j + 32)]);
    const long long slot = l.slots[static_cast<size_t>(t)];
    float s;
    const std::uint32_t sb = l.scale(slot);
    std::memcpy(&s, &sb, 4);
    for (int c = 0; c < 128; ++c) {
      const double got = e4m3(l.value(slot, c)) * s, want = x[static_cast<size_t>(c)];
      // Half an e4m3 step at |want| / s (relative 2^-4), plus two bf16 roundings (2^-8 each).
      const double tol = std::fabs(want) / 16 + mag[static_cast<size_t>(c)] * 2.0 / 256 + s * std::ldexp(1, -10);
      CHECK(std::fabs(got - want) <= tol);
    }
  }
}

TEST_CASE("indexer: spec errors name the key" * doctest::test_suite("errors")) {
  auto error = [](const std::string& text) {
    try {
      parse_spec_line(text);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const std::string ok = "op=indexer_append rotary_dim=64 cache=paged(block=64) ";
  CHECK(error(ok + "cache_dtype=fp8_e4m3 head_dim=64") .find("head_dim = 64") != std::string::npos);
  CHECK(error(ok + "cache_dtype=fp8_e5m2").find("cache_dtype = fp8_e5m2") != std::string::npos);
  CHECK(error(ok + "cache_dtype=fp8_e4m3fnuz").find("fp8_max = 224") != std::string::npos);
  CHECK(error(ok + "cache_dtype=fp8_e4m3 dtype=f32").find("dtype = f32") != std::string::npos);
  CHECK(error("op=indexer_append rotary_dim=64 cache_dtype=fp8_e4m3 cache=contiguous(order=nhd)").find("cache = paged") !=
        std::string::npos);
  CHECK(error(ok + "cache_dtype=fp8_e4m3 checks=bounds").find("checks = bounds") != std::string::npos);
  CHECK(error("op=indexer_append rotary_dim=64 cache_dtype=fp8_e4m3 cache=paged(block=24) k_cache_layout=tiled16")
            .find("B % 16") != std::string::npos);
  CHECK(error(ok + "cache_dtype=fp8_e4m3 k_norm=rms").find("k_norm") != std::string::npos);
  CHECK(error(ok + "cache_dtype=fp8_e4m3 scale_fmt=e8m0").find("scale_fmt") != std::string::npos);
  CHECK(error(ok + "cache_dtype=fp8_e4m3 fp8_max=0").find("fp8_max") != std::string::npos);
  CHECK(error(ok + "cache_dtype=fp8_e4m3 weights_scale=-1").find("weights_scale") != std::string::npos);
  CHECK(error("op=rope_kv_append k_norm=layernorm").find("has no effect") != std::string::npos);
  // An OCP request on an FNUZ-only target: refused when the source is generated.
  try {
    generate(parse_spec_line(ok + "cache_dtype=fp8_e4m3").spec, parse_target("gfx942"));
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("fp8_max") != std::string::npos);
  }
}

/// The record an mla_rope_append kernel (q_heads 1, bf16, gptj, cos 1 and sin 0: k_pe is
/// stored unturned) writes for one token at slot 3, from kv_c's 512 and k_pe's 64 bf16 bits;
/// `k_scale`: k_scale[0] (0: none passed). The cache starts as 0x5a bytes.
static std::vector<unsigned char> mla_record_of(const std::string& record, const std::uint16_t* kvc_bits,
                                         const std::uint16_t* kpe_bits, float k_scale = 0) {
  const KernelSpec spec = parse_spec_line("op=mla_rope_append head_dim=192 rotary_dim=64 rotary_offset=128 q_heads=1 "
                                          "dtype=bf16 style=gptj cache=paged(block=16) cache_record=" + record)
                              .spec;
  Context& ctx = host();
  auto kernel = ctx.kernel(spec);
  Runtime& rt = ctx.runtime();
  std::vector<std::uint16_t> q(192, 0x3f80);
  std::vector<float> table(2 * 64, 0.0f);
  for (int j = 0; j < 32; ++j) table[static_cast<size_t>(j)] = 1.0f;  // cos 1, sin 0: no turn
  const std::int32_t pos = 0, slot = 3;
  std::vector<unsigned char> cache(16 * static_cast<size_t>(spec.cache_record.size), 0x5a);
  void* dq = rt.alloc(q.size() * 2);
  void* dk = rt.alloc(64 * 2);
  void* dv = rt.alloc(512 * 2);
  void* dt = rt.alloc(table.size() * 4);
  void* dp = rt.alloc(4);
  void* ds = rt.alloc(4);
  void* dc = rt.alloc(cache.size());
  void* dscale = rt.alloc(4);
  rt.copy_to_device(dq, q.data(), q.size() * 2);
  rt.copy_to_device(dk, kpe_bits, 64 * 2);
  rt.copy_to_device(dv, kvc_bits, 512 * 2);
  rt.copy_to_device(dt, table.data(), table.size() * 4);
  rt.copy_to_device(dp, &pos, 4);
  rt.copy_to_device(ds, &slot, 4);
  rt.copy_to_device(dc, cache.data(), cache.size());
  rt.copy_to_device(dscale, &k_scale, 4);
  ropegen_kernel_args a = ROPEGEN_KERNEL_ARGS_INIT;
  a.num_tokens = 1;
  a.q = dq;
  a.q_stride = 192;
  a.k = dk;
  a.k_stride = 64;
  a.v = dv;
  a.v_stride = 512;
  a.cos = static_cast<const float*>(dt);
  a.sin = static_cast<const float*>(dt) + 32;
  a.cos_sin_stride = 64;
  a.positions = dp;
  a.slot_mapping = ds;
  a.k_cache = dc;
  if (k_scale != 0) a.k_scale = static_cast<const float*>(dscale);
  kernel->launch(a);
  rt.synchronize();
  rt.copy_to_host(cache.data(), dc, cache.size());
  for (void* p : {dq, dk, dv, dt, dp, ds, dc, dscale}) rt.free(p);
  return std::vector<unsigned char>(cache.begin() + 3 * spec.cache_record.size,
                                    cache.begin() + 4 * spec.cache_record.size);
}

/// DeepSeek-V3.2's fp8_ds_mla record, pinned from vLLM's formula evaluated with PyTorch's own
/// float8_e4m3fn conversion (scripts/ds_mla_pins.py on the H100 machine, PyTorch 2.11.0+cu130):
/// per tile of 128 kv_c values s = max(amax / 448, FLT_MIN), codes e4m3(x / s), then the 4
/// fp32 scales. Tile 0 holds amax 13 and 30 values whose x / s and x * (1 / s) round to
/// different codes; tile 2 zeros and -0.0 (scale FLT_MIN); tile 3 amax 1000 with values that
/// underflow. The same row quantized with quantize = multiply must differ at those 30 codes.
TEST_CASE("pinned: DeepSeek-V3.2 fp8_ds_mla record (vLLM's concat_and_cache_ds_mla, PyTorch float8)") {
  static const std::uint16_t kvc_bits[512] = {
    0x4150, 0x3a1c, 0x3a9c, 0x3b1c, 0x3b9c, 0x3c1c, 0x3c9c, 0x3d1c, 0x3d9c, 0x3e1c, 0x3e9c, 0x3f1c,
    0x3f9c, 0x401c, 0x409c, 0x411c, 0xbb79, 0xba1c, 0xba9c, 0xbb1c, 0xbb9c, 0xbc1c, 0xbc9c, 0xbd1c,
    0xbd9c, 0xbe1c, 0xbe9c, 0xbf1c, 0xbf9c, 0xc01c, 0xc09c, 0xc11c, 0x3c78, 0xbc73, 0x403a, 0x3af2,
    0xbddf, 0xbd5f, 0x39ae, 0xb9b7, 0x3b08, 0xbf59, 0xbfd1, 0x3cee, 0xb839, 0x3f10, 0xbdcb, 0x3f48,
    0xc095, 0xbfb5, 0x3dcc, 0xbf89, 0xbf29, 0xba11, 0xbaff, 0x3d06, 0x40b6, 0x3a62, 0x392e, 0xbbdf,
    0x383c, 0xb9f9, 0xbf35, 0xbefd, 0xbf4b, 0x4094, 0x3b28, 0x3bca, 0xbc09, 0x3b7c, 0x3b44, 0xbeb3,
    0x3c02, 0x3a5e, 0x3996, 0xb85f, 0xbab3, 0x3dea, 0xba6d, 0x40ac, 0x3dd4, 0xba2d, 0xbf81, 0x3d6e,
    0xc069, 0xbeaf, 0x38e0, 0x3be6, 0xba87, 0x394c, 0x3d9c, 0x3d04, 0xbbe7, 0x38d2, 0x3a36, 0xc05d,
    0x3a2c, 0x3a60, 0xb8c9, 0x3aea, 0x38f4, 0xb879, 0x3af6, 0x3986, 0x3fa0, 0xb8eb, 0xbb93, 0x3c26,
    0x3ce4, 0x3962, 0x3812, 0xc0d5, 0xbd0d, 0xbccb, 0xbcb3, 0xb877, 0xc015, 0x406a, 0x386a, 0x393a,
    0x3b68, 0x3fba, 0x388e, 0xbadb, 0x3974, 0x3808, 0x3846, 0x3b9e, 0xb9f3, 0x40ce, 0xc0b3, 0x3f0a,
    0x38f8, 0x3fd0, 0xbddd, 0x3f68, 0xbebb, 0x40f8, 0xbe5f, 0x39fa, 0x3c24, 0x3bf2, 0x3ad2, 0x38fc,
    0x3a18, 0xbc87, 0xb8fb, 0x3a5c, 0xbb87, 0x38ba, 0x40b4, 0x3f38, 0x3f32, 0xbba5, 0xbc9b, 0xbe1b,
    0xba3d, 0x3e10, 0x3c7c, 0xbaf7, 0x3978, 0x3fd6, 0xbe7f, 0x40e2, 0xbc6d, 0x3cf8, 0xb911, 0xbb91,
    0xc029, 0x397e, 0xbd93, 0xc095, 0xc0cb, 0x3f12, 0xbbc5, 0xbc57, 0x39ce, 0x3e5a, 0xbdf1, 0x3cd4,
    0x3d16, 0x3f18, 0xbbd7, 0xc019, 0x40bc, 0x3904, 0xbc5b, 0x407e, 0xbd99, 0xbe65, 0xbef1, 0x40a2,
    0x3994, 0xbe71, 0x3ec4, 0x382a, 0x3fac, 0x396a, 0xb8a9, 0x3f38, 0x3ac4, 0xbc75, 0xbdc7, 0xc0ad,
    0x3e32, 0x3938, 0x3b02, 0xc01f, 0xb905, 0xc03b, 0x392c, 0xba99, 0x3f1a, 0x40fc, 0xc0eb, 0xbb15,
    0x3fde, 0xbccf, 0x3b68, 0x3bba, 0x39e0, 0x3f7c, 0x39bc, 0x38d6, 0x3b1e, 0xba97, 0xbd1b, 0x3b9a,
    0xba0b, 0xba9d, 0x3fbe, 0xbf97, 0xbf63, 0xb9d3, 0x3f92, 0x40fc, 0xc0af, 0xbedf, 0x3ca2, 0x3d8c,
    0xbe97, 0xbb23, 0xbd45, 0x3962, 0xb8eb, 0xb8dd, 0xbf07, 0xbc65, 0x3d70, 0xbbff, 0x3a58, 0xbe89,
    0x3b6a, 0xbdcf, 0xbbf7, 0x3eca, 0x0000, 0x0000, 0x8000, 0x0000, 0x0000, 0x8000, 0x0000, 0x0000,
    0x8000, 0x0000, 0x0000, 0x8000, 0x0000, 0x0000, 0x8000, 0x0000, 0x0000, 0x8000, 0x0000, 0x0000,
    0x8000, 0x0000, 0x0000, 0x8000, 0x0000, 0x0000, 0x8000, 0x0000, 0x0000, 0x8000, 0x0000, 0x0000,
    0x8000, 0x0000, 0x0000, 0x8000, 0x0000, 0x0000, 0x8000, 0x0000, 0x0000, 0x8000, 0x0000, 0x0000,
    0x8000, 0x0000, 0x0000, 0x8000, 0x0000, 0x0000, 0x8000, 0x0000, 0x0000, 0x8000, 0x0000, 0x0000,
    0x8000, 0x0000, 0x0000, 0x8000, 0x0000, 0x0000, 0x8000, 0x0000, 0x0000, 0x8000, 0x0000, 0x0000,
    0x8000, 0x0000, 0x0000, 0x8000, 0x0000, 0x0000, 0x8000, 0x0000, 0x0000, 0x8000, 0x0000, 0x0000,
    0x8000, 0x0000, 0x0000, 0x8000, 0x0000, 0x0000, 0x8000, 0x0000, 0x0000, 0x8000, 0x0000, 0x0000,
    0x8000, 0x0000, 0x0000, 0x8000, 0x0000, 0x0000, 0x8000, 0x0000, 0x0000, 0x8000, 0x0000, 0x0000,
    0x8000, 0x0000, 0x0000, 0x8000, 0x0000, 0x0000, 0x8000, 0x0000, 0x0000, 0x8000, 0x0000, 0x0000,
    0x8000, 0x0000, 0x0000, 0x8000, 0x0000, 0x0000, 0x8000, 0x0000, 0x0000, 0x8000, 0x0000, 0x0000,
    0x447a, 0x3880, 0x3800, 0x3780, 0x3700, 0x3680, 0x3600, 0x3580, 0x3500, 0x3480, 0x3400, 0xbad5,
    0x3d88, 0x3efe, 0x3ed2, 0x3900, 0xbb41, 0x40f2, 0xb887, 0xbdb1, 0xb90f, 0xbb83, 0xbb5f, 0x3e74,
    0xba65, 0x3aba, 0x3b28, 0x3e46, 0x3a16, 0x3c52, 0xb9df, 0x3e88, 0x39a2, 0xbb13, 0xc0d9, 0xbfbf,
    0x3b42, 0xc0ef, 0xb9b7, 0xbf11, 0xb8b5, 0x3ade, 0xbd07, 0xba7f, 0xc0c9, 0xbe79, 0x39ba, 0xbae3,
    0x3fa8, 0x3858, 0x404a, 0xbba9, 0x40e8, 0xbb2d, 0x3da8, 0xbf4d, 0x3a50, 0xc09d, 0x3fe6, 0x3998,
    0xbd6b, 0x3ce2, 0xbba9, 0x3b9a, 0xb9cf, 0xbc21, 0x394c, 0x3e66, 0x3b2a, 0x3a8c, 0xb9d5, 0x3890,
    0xbb11, 0xc037, 0x3a98, 0xbb67, 0xb889, 0xbebb, 0xb9ad, 0xb8f3, 0xb951, 0xb98d, 0xbc13, 0xbdad,
    0xbbf5, 0x3e1c, 0xb8a1, 0xb901, 0x3c94, 0x3bac, 0x3bb0, 0x3e84, 0x396c, 0xb9f5, 0x3b8a, 0xbef5,
    0x382a, 0x3b7a, 0xbe91, 0xb8f5, 0xbdf3, 0xbbab, 0xba2f, 0x3a86, 0x3d32, 0x39ba, 0xb881, 0xbf45,
    0x3820, 0xbd3d, 0xb9c3, 0xbf67, 0x4014, 0x3b88, 0x397a, 0xbd75, 0x3b90, 0x3fc8, 0xb863, 0xbfc7,
    0xbf07, 0x3be0, 0x401e, 0x3dc2, 0x3d70, 0xbb03, 0x3c9a, 0xb8d1,
  };
  static const unsigned char pinned[528] = {
    0x7e, 0x0a, 0x12, 0x1a, 0x22, 0x2a, 0x32, 0x3a, 0x42, 0x4a, 0x52, 0x5a, 0x62, 0x6a, 0x72, 0x7a,
    0xa0, 0x8a, 0x92, 0x9a, 0xa2, 0xaa, 0xb2, 0xba, 0xc2, 0xca, 0xd2, 0xda, 0xe2, 0xea, 0xf2, 0xfa,
    0x30, 0xb0, 0x6d, 0x18, 0xc7, 0xbf, 0x06, 0x86, 0x19, 0xdf, 0xe6, 0x38, 0x81, 0x5a, 0xc6, 0x5d,
    0xf2, 0xe4, 0x46, 0xe1, 0xdb, 0x8a, 0x99, 0x39, 0x74, 0x0f, 0x03, 0xa7, 0x01, 0x88, 0xdc, 0xd9,
    0xde, 0x72, 0x1b, 0x26, 0xa9, 0x20, 0x1d, 0xd4, 0x29, 0x0f, 0x05, 0x81, 0x94, 0x48, 0x90, 0x74,
    0x46, 0x8c, 0xe1, 0x40, 0xf0, 0xd4, 0x02, 0x27, 0x91, 0x03, 0x42, 0x39, 0xa8, 0x02, 0x0c, 0xef,
    0x0c, 0x0f, 0x82, 0x18, 0x02, 0x81, 0x18, 0x05, 0x63, 0x82, 0xa2, 0x2b, 0x37, 0x04, 0x01, 0xf6,
    0xb9, 0xb6, 0xb4, 0x81, 0xea, 0x70, 0x01, 0x03, 0x20, 0x65, 0x01, 0x97, 0x04, 0x01, 0x01, 0x23,
    0x8e, 0x7b, 0xfa, 0x5f, 0x03, 0x6c, 0xcc, 0x65, 0xda, 0x7e, 0xd4, 0x0e, 0x31, 0x2d, 0x1c, 0x04,
    0x10, 0xb7, 0x83, 0x14, 0xa7, 0x03, 0x7a, 0x62, 0x62, 0xa9, 0xb9, 0xd1, 0x92, 0x50, 0x36, 0x9e,
    0x07, 0x6c, 0xd6, 0x7d, 0xb5, 0x3e, 0x84, 0xa8, 0xf1, 0x07, 0xc8, 0xf8, 0xfb, 0x60, 0xab, 0xb4,
    0x0b, 0x54, 0xcd, 0x3c, 0x40, 0x60, 0xac, 0xf0, 0x7a, 0x04, 0xb4, 0x76, 0xc8, 0xd5, 0xdd, 0x79,
    0x08, 0xd5, 0x5b, 0x01, 0x6a, 0x06, 0x82, 0x62, 0x1b, 0xb6, 0xcb, 0xfa, 0x52, 0x05, 0x1e, 0xf1,
    0x84, 0xf2, 0x05, 0x98, 0x61, 0x7e, 0xfd, 0xa0, 0x6c, 0xbc, 0x25, 0x2a, 0x0c, 0x66, 0x0a, 0x03,
    0x21, 0x98, 0xc1, 0x29, 0x8f, 0x99, 0x6b, 0xe8, 0xe5, 0x8c, 0x68, 0x7e, 0xfa, 0xdc, 0x39, 0x48,
    0xd8, 0xa1, 0xc3, 0x06, 0x83, 0x83, 0xdf, 0xb5, 0x45, 0xae, 0x14, 0xd7, 0x25, 0xcc, 0xae, 0x5b,
    0x00, 0x00, 0x80, 0x00, 0x00, 0x80, 0x00, 0x00, 0x80, 0x00, 0x00, 0x80, 0x00, 0x00, 0x80, 0x00,
    0x00, 0x80, 0x00, 0x00, 0x80, 0x00, 0x00, 0x80, 0x00, 0x00, 0x80, 0x00, 0x00, 0x80, 0x00, 0x00,
    0x80, 0x00, 0x00, 0x80, 0x00, 0x00, 0x80, 0x00, 0x00, 0x80, 0x00, 0x00, 0x80, 0x00, 0x00, 0x80,
    0x00, 0x00, 0x80, 0x00, 0x00, 0x80, 0x00, 0x00, 0x80, 0x00, 0x00, 0x80, 0x00, 0x00, 0x80, 0x00,
    0x00, 0x80, 0x00, 0x00, 0x80, 0x00, 0x00, 0x80, 0x00, 0x00, 0x80, 0x00, 0x00, 0x80, 0x00, 0x00,
    0x80, 0x00, 0x00, 0x80, 0x00, 0x00, 0x80, 0x00, 0x00, 0x80, 0x00, 0x00, 0x80, 0x00, 0x00, 0x80,
    0x00, 0x00, 0x80, 0x00, 0x00, 0x80, 0x00, 0x00, 0x80, 0x00, 0x00, 0x80, 0x00, 0x00, 0x80, 0x00,
    0x00, 0x80, 0x00, 0x00, 0x80, 0x00, 0x00, 0x80, 0x00, 0x00, 0x80, 0x00, 0x00, 0x80, 0x00, 0x00,
    0x7e, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x0f, 0x26, 0x24, 0x00,
    0x81, 0x46, 0x80, 0x92, 0x80, 0x81, 0x81, 0x1e, 0x80, 0x00, 0x01, 0x1b, 0x00, 0x03, 0x80, 0x1f,
    0x00, 0x81, 0xc4, 0xb3, 0x01, 0xc5, 0x80, 0xa8, 0x80, 0x00, 0x88, 0x80, 0xc3, 0x9e, 0x00, 0x80,
    0x31, 0x00, 0x3b, 0x81, 0x45, 0x81, 0x11, 0xab, 0x00, 0xc1, 0x35, 0x00, 0x8d, 0x06, 0x81, 0x01,
    0x80, 0x82, 0x00, 0x1d, 0x01, 0x00, 0x80, 0x00, 0x81, 0xba, 0x00, 0x81, 0x80, 0xa2, 0x80, 0x80,
    0x80, 0x80, 0x82, 0x92, 0x82, 0x19, 0x80, 0x80, 0x04, 0x01, 0x01, 0x1f, 0x00, 0x80, 0x01, 0xa6,
    0x00, 0x01, 0xa0, 0x80, 0x96, 0x81, 0x80, 0x00, 0x0a, 0x00, 0x80, 0xab, 0x00, 0x8b, 0x80, 0xad,
    0x38, 0x01, 0x00, 0x8e, 0x01, 0x33, 0x80, 0xb3, 0xa7, 0x02, 0x39, 0x13, 0x0d, 0x80, 0x04, 0x80,
    0xdb, 0xb6, 0xed, 0x3c, 0x00, 0x00, 0x90, 0x3c, 0x00, 0x00, 0x80, 0x00, 0x6e, 0xdb, 0x0e, 0x40,
  };
  const std::vector<std::uint16_t> kpe(64, 0x3f80);
  auto record_of = [&](const std::string& record) { return mla_record_of(record, kvc_bits, kpe.data()); };
  const std::vector<unsigned char> got = record_of("fp8_ds_mla");
  REQUIRE(got.size() == 656);
  int wrong = 0;
  for (int i = 0; i < 528; ++i) {
    CAPTURE(i);
    wrong += got[static_cast<size_t>(i)] != pinned[i];
  }
  CHECK(wrong == 0);
  for (int i = 528; i < 656; i += 2) CHECK((got[static_cast<size_t>(i)] | got[static_cast<size_t>(i) + 1] << 8) == 0x3f80);
  const std::vector<unsigned char> mul =
      record_of("record(parts=[kv_c(format=fp8_e4m3,group=128,qmax=448,floor=1.1754943508222875e-38,quantize=multiply),"
                "scales(of=kv_c),k_pe(format=auto)],size=656)");
  int apart = 0;
  for (int i = 0; i < 528; ++i) apart += mul[static_cast<size_t>(i)] != pinned[i];
  CHECK(apart >= 30);  // the 30, and any of the generated values that round apart too
}

/// A record's fp8 k_pe, pinned by hand from the published formula: vLLM's nvfp4_ds_mla writer
/// (vllm-project/vllm, csrc/libtorch_stable/nvfp4_ds_mla_cache_kernels.cu) stores each rotated
/// bf16 k_pe value x as __nv_fp8_e4m3(float(x)): e4m3, round to nearest even, saturating at
/// 448, no scale. Worked values (e4m3 = sign | exponent + 7 (4 bits) | 3 mantissa bits):
///   1.0 -> 0x38; 0.30078125 = 1.203125 * 2^-2 -> 1.25 * 2^-2 = 0x2a; 1.0625 (a tie) -> 1.0 =
///   0x38 (mantissa 000 even); 1.1875 (a tie) -> 1.25 = 0x3a; 500, 464 -> 448 = 0x7e; -1000 ->
///   0xfe; 2^-10 (a tie between 0 and the subnormal 2^-9) -> 0x00; 1.5 * 2^-9 (a tie) -> 2^-8 =
///   0x02; -0.0 and -2^-11 -> 0x80; 0.75 -> 0x34; 240 -> 0x77; 2^-6 -> 0x08; 1.125 * 2^-6 ->
///   0x09; 100 = 1.5625 * 2^6 (a tie) -> 96 = 0x6c.
/// scale = k_scale (k_scale[0] = 0.25, so x / 0.25 is exact): 1.0 -> 4 = 0x48, 100 -> 400 (a
/// tie) -> 384 = 0x7c, 0.30078125 -> 1.203125 -> 1.25 = 0x3a, 240 -> 960 -> 448 = 0x7e.
TEST_CASE("pinned: an fp8 k_pe in a record (vLLM's nvfp4_ds_mla writer: unscaled e4m3; and x / k_scale)") {
  std::uint16_t kpe[64];
  for (std::uint16_t& b : kpe) b = 0x3f80;  // 1.0
  // The signed zeros at even elements: GPT-J's first of a pair is x0 c - x1 s = -0 - 0 = -0
  // (the second, x1 c + x0 s, would turn -0 into +0).
  const std::uint16_t given[16] = {0x3f80, 0x3e9a, 0x3f88, 0x3f98, 0x43fa, 0x43e8, 0xc47a, 0x3a80,
                                   0x8000, 0x3b40, 0xba00, 0x3f40, 0x4370, 0x3c80, 0x3c90, 0x42c8};
  std::copy(given, given + 16, kpe + 40);
  const unsigned char want[16] = {0x38, 0x2a, 0x38, 0x3a, 0x7e, 0x7e, 0xfe, 0x00,
                                  0x80, 0x02, 0x80, 0x34, 0x77, 0x08, 0x09, 0x6c};
  std::vector<std::uint16_t> kvc(512);
  for (size_t i = 0; i < kvc.size(); ++i) kvc[i] = static_cast<std::uint16_t>(0x3c00 + i);
  // k_pe first, then kv_c copied: the record's bytes [0, 64) are k_pe's codes.
  const std::vector<unsigned char> got =
      mla_record_of("record(parts=[k_pe(format=fp8_e4m3,scale=none),kv_c(format=auto)],size=1088)", kvc.data(), kpe);
  REQUIRE(got.size() == 1088);
  for (int i = 0; i < 64; ++i) {
    CAPTURE(i);
    CHECK(got[static_cast<size_t>(i)] == (i >= 40 && i < 56 ? want[i - 40] : 0x38));
  }
  for (int i = 0; i < 512; ++i) CHECK((got[64 + 2 * static_cast<size_t>(i)] | got[65 + 2 * static_cast<size_t>(i)] << 8) == kvc[static_cast<size_t>(i)]);
  // The 352-byte placement (nvfp4 codes, k_pe, scales): k_pe at [256, 320).
  const std::vector<unsigned char> at256 = mla_record_of(
      "record(parts=[kv_c(format=nvfp4),k_pe(format=fp8_e4m3,scale=none),scales(of=kv_c)],size=352)", kvc.data(), kpe,
      1.0f);
  REQUIRE(at256.size() == 352);
  CHECK(std::equal(at256.begin() + 256, at256.begin() + 320, got.begin()));
  // scale = k_scale: codes of x / k_scale[0].
  const std::vector<unsigned char> scaled = mla_record_of(
      "record(parts=[k_pe(format=fp8_e4m3,scale=k_scale),kv_c(format=auto)],size=1088)", kvc.data(), kpe, 0.25f);
  CHECK(scaled[0] == 0x48);
  CHECK(scaled[41] == 0x3a);
  CHECK(scaled[52] == 0x7e);
  CHECK(scaled[55] == 0x7c);
}

/// vLLM's nvfp4_ds_mla record, pinned by hand from its writer's formula (vllm-project/vllm,
/// csrc/libtorch_stable/nvfp4_ds_mla_cache_kernels.cu): per 16 kv_c values sf = e4m3(max(amax / 6,
/// 2^-9)), the next e4m3 value up where that decodes below it (and below 448), codes
/// e2m1(x * (1 / sf)) (element 2i in the low nibble); k_pe as unscaled e4m3 at [256, 320); the
/// scale of block s at byte 320 + 8 (s % 4) + s / 4. Worked blocks:
///   0: sixteen 1.0: sf = 1/6 -> 0.171875 (0x23, >= 1/6: kept), 1.0 * 5.818 -> 6: codes 0x77;
///   1: 3, 1, 0.25, -1.5, zeros: sf 0.5 (0x30), x * 2 -> 6, 2, 0.5, -3: bytes 0x47, 0xd1, zeros;
///   2: sixteen 1.0546875: sf 0.17578125 -> nearest 0.171875 is below it -> 0.1875 (0x24),
///      x * 5.333 = 5.625 -> 6: codes 0x77 (recipe exact, gs 1, would keep 0x23);
///   3: sixteen 0.00099945 (bf16 0x3a83): sf = 2^-9 (0x01), x * 512 = 0.5117 -> 0.5: 0x11;
///   4..31 zeros: sf = 2^-9 (0x01), codes 0, except 5: 4000, 448: sf 666.7 saturates to 448
///      (0x7e, not bumped past it), x / 448 -> 8.93 -> 6, 1 -> 2: byte 0x27.
TEST_CASE("pinned: vLLM's nvfp4_ds_mla record (concat_and_cache_nvfp4_ds_mla, worked by hand)") {
  std::vector<std::uint16_t> kvc(512, 0x0000);
  for (int i = 0; i < 16; ++i) kvc[static_cast<size_t>(i)] = 0x3f80;
  const std::uint16_t block1[4] = {0x4040, 0x3f80, 0x3e80, 0xbfc0};
  std::copy(block1, block1 + 4, kvc.begin() + 16);
  for (int i = 32; i < 48; ++i) kvc[static_cast<size_t>(i)] = 0x3f87;
  for (int i = 48; i < 64; ++i) kvc[static_cast<size_t>(i)] = 0x3a83;
  kvc[80] = 0x457a;
  kvc[81] = 0x43e0;
  std::vector<std::uint16_t> kpe(64, 0x3f80);
  std::vector<unsigned char> want(352, 0x00);
  for (int b = 0; b < 8; ++b) want[static_cast<size_t>(b)] = want[static_cast<size_t>(16 + b)] = 0x77;
  want[8] = 0x47;
  want[9] = 0xd1;
  for (int b = 24; b < 32; ++b) want[static_cast<size_t>(b)] = 0x11;
  want[40] = 0x27;
  for (int b = 256; b < 320; ++b) want[static_cast<size_t>(b)] = 0x38;
  for (int b = 320; b < 352; ++b) want[static_cast<size_t>(b)] = 0x01;
  want[320] = 0x23;  // block 0
  want[328] = 0x30;  // block 1 at 8 (1 % 4) + 1 / 4 = 8
  want[336] = 0x24;  // block 2 at 16
  want[344] = 0x01;  // block 3 at 24
  want[329] = 0x7e;  // block 5 at 8 + 1 = 9
  const std::vector<unsigned char> got = mla_record_of("nvfp4_ds_mla", kvc.data(), kpe.data());
  REQUIRE(got.size() == 352);
  for (size_t i = 0; i < 352; ++i) {
    CAPTURE(i);
    CHECK(static_cast<int>(got[i]) == static_cast<int>(want[i]));
  }
  // The same blocks with recipe = exact (global scale 1) and scales in order differ where the
  // pins say: block 2's scale (0x23) and the scale order.
  const std::vector<unsigned char> exact = mla_record_of(
      "record(parts=[kv_c(format=nvfp4),k_pe(format=fp8_e4m3,scale=none),scales(of=kv_c)],size=352)", kvc.data(),
      kpe.data(), 1.0f);
  CHECK(exact[322] == 0x23);
  CHECK(exact[321] == 0x30);
}

TEST_CASE("mla records: an fp8 k_pe's spelling, canonical text and refusals") {
  const std::string mla = "op=mla_rope_append head_dim=192 rotary_dim=64 rotary_offset=128 dtype=bf16 cache_record=";
  auto text = [&](const std::string& r) { return parse_spec_line(mla + r).spec.canonical(); };
  CHECK(text("record(parts=[kv_c(format=nvfp4),k_pe(format=fp8_e4m3,scale=none),scales(of=kv_c)],size=352)")
            .find("k_pe(format=fp8_e4m3,scale=none)") != std::string::npos);
  CHECK(text("record(parts=[kv_c(format=auto),k_pe(format = fp8_e5m2, scale = k_scale)],size=1088)")
            .find("k_pe(format=fp8_e5m2,scale=k_scale)") != std::string::npos);
  auto error = [&](const std::string& r) {
    try {
      parse_spec_line(mla + r);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(error("record(parts=[kv_c(format=auto),k_pe(format=fp8_e4m3)],size=1088)").find("k_pe(format = fp8_e4m3) needs scale") !=
        std::string::npos);
  CHECK(error("record(parts=[kv_c(format=auto),k_pe(format=fp8_e4m3,scale=k_scale,group=64)],size=1088)")
            .find("unknown argument 'group' for k_pe") != std::string::npos);
  CHECK(error("record(parts=[kv_c(format=auto),k_pe(format=auto,scale=none)],size=1088)")
            .find("unknown argument 'scale' for k_pe") != std::string::npos);
  CHECK(error("record(parts=[kv_c(format=auto),k_pe(format=fp8_e4m3,scale=q_scale)],size=1088)")
            .find("for k_pe's scale") != std::string::npos);
  CHECK(error("record(parts=[kv_c(format=auto),k_pe(format=nvfp4)],size=1088)").find("k_pe(format = nvfp4) is not a k_pe format") !=
        std::string::npos);
  CHECK(error("record(parts=[kv_c(format=fp8_e4m3,group=128,scale=none),scales(of=kv_c),k_pe(format=auto)],size=656)")
            .find("unknown argument 'scale' for kv_c") != std::string::npos);
  CHECK(error("record(parts=[kv_c(format=auto),k_pe(format=fp8_e4m3,scale=none),scales(of=k_pe)],size=1104)")
            .find("scales(of = k_pe) names scales that k_pe(format = fp8_e4m3) does not store") != std::string::npos);
  CHECK(error("record(parts=[kv_c(format=nvfp4,recipe=trtllm),scales(of=kv_c),k_pe(format=auto)],size=416)")
            .find("kv_c(format = nvfp4, recipe = trtllm) is not available") != std::string::npos);
  CHECK(error("record(parts=[kv_c(format=nvfp4),scales(of=kv_c,transpose=3),k_pe(format=auto)],size=416)")
            .find("scales(of = kv_c, transpose = 3) must divide the 32 scales") != std::string::npos);
  CHECK(error("record(parts=[kv_c(format=fp8_e4m3,group=128,recipe=round_up),scales(of=kv_c),k_pe(format=auto)],size=656)")
            .find("unknown argument 'recipe' for kv_c") != std::string::npos);
  try {
    parse_spec_line("cache_dtype=nvfp4(recipe=round_up)");
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("recipe = round_up is an MLA record's kv_c rule") != std::string::npos);
  }
  CHECK(text("nvfp4_ds_mla") == text("record(parts=[kv_c(format=nvfp4,recipe=round_up),k_pe(format=fp8_e4m3,scale=none),"
                                     "scales(of=kv_c,transpose=4)],size=352)"));
  CHECK(text("nvfp4_ds_mla").find("scales(of=kv_c,transpose=4)") != std::string::npos);
}
