// One case per user-facing message: each bad input names what was wrong and where.
#include <doctest/doctest.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <limits>

#include "vendors/host/host.hpp"
#include "codegen/codegen.hpp"
#include "common/env.hpp"
#include "common/process.hpp"
#include "compile/compile.hpp"
#include "ropegen/error.hpp"
#include "ropegen/runtime.hpp"
#include "ropegen/spec.hpp"

using namespace ropegen;

namespace {

/// Runs fn, which must throw ropegen::Error of `kind` whose message holds `needle`;
/// line/col, when given, must match the reported location.
void expect_error(const std::function<void()>& fn, ErrorKind kind, const std::string& needle,
                  int line = 0, int col = 0) {
  CAPTURE(needle);
  try {
    fn();
    FAIL("no error thrown");
  } catch (const Error& e) {
    CAPTURE(e.what());
    CHECK(e.kind() == kind);
    CHECK(std::string(e.what()).find(needle) != std::string::npos);
    if (line) CHECK(e.loc().line == line);
    if (col) CHECK(e.loc().col == col);
  }
}

void file(const std::string& text, const std::string& needle, int line, int col,
          ErrorKind kind = ErrorKind::Spec) {
  expect_error([&] { parse_spec_file("t.rg", text); }, kind, needle, line, col);
}

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

void oneline(const std::string& text, const std::string& needle, int col,
             ErrorKind kind = ErrorKind::Spec) {
  expect_error([&] { parse_spec_line(text); }, kind, needle, 1, col);
}

}  // namespace

TEST_CASE("errors: diagnostics print file:line:col, the line and a caret") {
  try {
    parse_spec_file("model.rg", "kernel k {\n  head_dim = 128\n  dtyp = bf16\n}\n");
    FAIL("no error");
  } catch (const Error& e) {
    std::string keys;
    for (const auto& k : spec_keys()) keys += (keys.empty() ? "" : ", ") + k;
    CHECK(std::string(e.what()) == "model.rg:3:3: error: unknown key 'dtyp'; did you mean 'dtype'? (valid keys: " +
                                       keys + ")\n    dtyp = bf16\n    ^~~~");
  }
}

TEST_CASE("errors: parse") {
  const auto P = ErrorKind::Parse;
  file("head_dim = 128", "expected 'kernel NAME {' but found a name 'head_dim'", 1, 1, P);
  file("kernel { }", "expected a kernel name after 'kernel'", 1, 8, P);
  file("kernel k head_dim = 1", "expected '{' after 'kernel k'", 1, 10, P);
  file("kernel k {\n head_dim = 128\n", "missing '}' to close kernel 'k' opened here", 1, 10, P);
  file("kernel a {\n head_dim = 64\nkernel b { }", "missing '}' to close kernel 'a' before the next 'kernel'", 3, 1, P);
  file("kernel k { = 3 }", "expected a key such as 'head_dim', found '='", 1, 12, P);
  file("kernel k { head_dim 128 }", "expected '=' after 'head_dim'", 1, 21, P);
  file("kernel k { head_dim = }", "expected a value for 'head_dim', found '}'", 1, 23, P);
  file("kernel k { cache = paged(16) }", "expected an argument name in 'paged(...)'", 1, 26, P);
  file("kernel k { cache = paged(block 16) }", "expected '=' after argument 'block'", 1, 32, P);
  file("kernel k { cache = paged(block = 16", "missing ')' to close 'paged(' opened here", 1, 25, P);
  file("kernel k { cache = paged(block = 16 order = nhd) }", "expected ',' or ')' in 'paged(...)'", 1, 37, P);
  file("kernel k { head_dim = 12x }", "'12x' is not a number", 1, 23, P);
  file("kernel k { cos_sin = compute(theta = 1e999) }", "number '1e999' is out of range", 1, 38, P);
  file("# nothing here\n", "no kernel found", 1, 1, P);
  file("kernel k { head_dim = 128 @ }", "invalid character '@'", 1, 27, P);
  oneline("kernel k { }", "kernel blocks belong in a spec file", 1, P);
}

TEST_CASE("errors: keys and values") {
  file("kernel k {\n  head_dimm = 128\n}", "unknown key 'head_dimm'; did you mean 'head_dim'?", 2, 3);
  file("kernel k {\n  colour = 1\n}", "unknown key 'colour' (valid keys: op,", 2, 3);
  file("kernel k {\n  dtype = bf17\n}", "invalid value 'bf17' for dtype; valid values: f32, f16, bf16 (did you mean 'bf16'?)", 2, 11);
  file("kernel k { style = sideways }", "invalid value 'sideways' for style; valid values: neox, gptj", 1, 20);
  file("kernel k { op = rope_kv }", "invalid value 'rope_kv' for op; valid values: rope, kv_append, rope_kv_append", 1, 17);
  file("kernel k { index = 32 }", "invalid value '32' for index; valid values: i32, i64", 1, 20);
  file("kernel k { head_dim = 12.5 }", "expected an integer for head_dim, found '12.5'", 1, 23);
  file("kernel k { head_dim = bf16 }", "expected an integer for head_dim, found 'bf16'", 1, 23);
  file("kernel k { head_dim = 4096 }", "head_dim = 4096 is out of range; expected 2 to 1024", 1, 23);
  file("kernel k { q_heads = 0 }", "q_heads = 0 is out of range; expected 1 to 1024", 1, 22);
  file("kernel k {\n  dtype = f16\n  dtype = bf16\n}", "duplicate key 'dtype' (first set at line 2, column 3)", 3, 3);
  file("kernel k { wave = 16 }", "invalid value '16' for wave; valid values: 32, 64, auto", 1, 19);
  file("kernel k { wave = fast }", "invalid value 'fast' for wave", 1, 19);
  file("kernel k { cache = paged(blok = 16) }", "unknown argument 'blok' for paged(...); did you mean 'block'?", 1, 26);
  file("kernel k { cache = paged(block = 16, block = 32) }", "argument 'block' given twice", 1, 38);
  file("kernel k { cache = paged(block = 0) }", "block = 0 is out of range; expected 1 to 4096", 1, 34);
  file("kernel k { cache = paged(order = xyz) }", "invalid value 'xyz' for order; valid values: hnd, nhd", 1, 34);
  file("kernel k { cache = ring }", "invalid value 'ring' for cache; valid values: contiguous(order = hnd | nhd)", 1, 20);
  file("kernel k { cos_sin = tables }", "invalid value 'tables' for cos_sin; valid values: table, compute(", 1, 22);
  file("kernel k { cos_sin = compute(theta = -5) }", "theta = -5 is out of range; expected more than 1", 1, 38);
  file("kernel k { cos_sin = compute(scaling = yarn) }", "scaling yarn needs its parameters: yarn(factor, original_max_position_embeddings, beta_fast = 32", 1, 40);
  file("kernel k { cos_sin = compute(scaling = yarm(factor = 2)) }", "invalid scaling 'yarm(...)'; valid: none, linear(factor), ntk(factor)", 1, 40);
  file("kernel k { cos_sin = compute(scaling = llama3(factor = 8, low_freq_factor = 1, high_freq_factor = 4)) }",
       "llama3(...) needs original_max_position_embeddings", 1, 40);
  file("kernel k { cos_sin = compute(scaling = yarn(factor = 4, original_max_position_embeddings = 4096, truncate = 1)) }",
       "expected true or false for truncate, found '1'", 1, 109);
  file("kernel k { cos_sin = compute(scaling = ntk_alpha(alpha = 0)) }", "alpha = 0 is out of range; expected more than 0", 1, 58);
  file("kernel k { cos_sin = compute(scaling = linear()) }", "linear(...) needs factor (linear(factor))", 1, 40);
  file("kernel k { cos_sin = compute(scaling = linear(factor = 0)) }", "factor = 0 is out of range; expected more than 0", 1, 56);
  file("kernel k { }\nkernel k { }", "kernel 'k' is defined twice (first at line 1)", 2, 8);
}

TEST_CASE("errors: contradictions point at the key that breaks the rule") {
  file("kernel k {\n  head_dim = 127\n}", "head_dim = 127 must be even", 2, 14);
  file("kernel k {\n  rotary_dim = 63\n  head_dim = 128\n}", "rotary_dim = 63 must be even", 2, 16);
  file("kernel k {\n  head_dim = 64\n  rotary_dim = 128\n}", "rotary_dim = 128 must be at least 2 and at most head_dim = 64", 3, 16);
  file("kernel k {\n  q_heads = 32\n  kv_heads = 6\n}", "q_heads = 32 is not a multiple of kv_heads = 6", 3, 14);
  file("kernel k {\n  op = rope\n  cache = contiguous\n}", "key 'cache' has no effect for op = rope", 3, 11);
  file("kernel k {\n  op = kv_append\n  style = gptj\n}", "key 'style' has no effect for op = kv_append", 3, 11);
  file("kernel k {\n  op = kv_append\n  q_heads = 4\n}", "key 'q_heads' has no effect for op = kv_append", 3, 13);
  // Cache addressing (issue 22): strided, ring and tail rules.
  file("kernel k { cache = contiguous(order = strided) }", "order = strided is for paged caches", 1, 39);
  file("kernel k { window = ring(sinks = 2) }", "window = ring(...) needs size = W", 1, 21);
  file("kernel k { cache = contiguous(order = amd) }", "order = amd is for paged caches", 1, 39);
  file("kernel k { window = ring(size = 0) }", "size = 0 is out of range; expected 1 to", 1, 33);
  file("kernel k { window = sliding }", "invalid value 'sliding' for window; valid values: none, ring(size = W, sinks = S)", 1,
       21);
  file("kernel k { cache_tail = clear }", "invalid value 'clear' for cache_tail; valid values: keep, zero", 1, 25);
  for (const auto& [spec, needle] : std::vector<std::pair<const char*, const char*>>{
           {"window=ring(size=8,sinks=8)", "sinks = 8 is out of range; expected 0 to size - 1 = 7"},
           {"cache_tail=zero cache=contiguous", "cache_tail = zero needs a paged cache"},
           {"window=ring(size=8) cache=contiguous(order=nhd)", "window = ring(...) needs a paged cache"},
           {"window=ring(size=8) cache_tail=zero", "cache_tail = zero would erase a ring cache's older tokens"},
           {"cache=paged(order=strided) cache_dtype=int8 scales=per_token_head",
            "cache = paged(order = strided) with cache_dtype = int8 is not available yet"},
           {"cache_tail=zero cache_dtype=nvfp4", "cache_tail = zero with cache_dtype = nvfp4 is not available yet"},
           {"op=mla_rope_append head_dim=192 rotary_dim=64 rotary_offset=128 cache=paged(order=strided)",
            "cache = paged(order = strided) is not available for op = mla_rope_append yet"},
           {"op=rope window=ring(size=8)", "key 'window' has no effect for op = rope"},
           {"head_dim=36 rotary_dim=36 cache=paged(order=amd)",
            "cache = paged(order = amd) splits head_dim = 36 in pieces of x = 8 elements (16 bytes)"},
           {"dtype=f32 cache=paged(block=6,order=amd_shuffle)",
            "groups the block of 6 tokens by x = 4 (16 bytes): block must be a multiple of x"},
           {"cache=paged(order=amd) cache_dtype=fp8_e4m3",
            "cache = paged(order = amd) with cache_dtype = fp8_e4m3 is not available yet"},
           {"cache=paged(order=amd) cache_tail=zero", "cache_tail = zero is not available with cache = paged(order = amd)"},
           {"op=mla_rope_append head_dim=192 rotary_dim=64 rotary_offset=128 cache=paged(order=amd_shuffle)",
            "cache = paged(order = amd_shuffle) is not available for op = mla_rope_append yet"}})
    expect_error([&] { parse_spec_line(spec); }, ErrorKind::Spec, needle);
  // A wave the target cannot run: found when the target is known, still pointing at the line.
  auto specs = parse_spec_file("w.rg", "kernel k {\n  head_dim = 128\n  wave = 32\n}");
  expect_error([&] { check_target(specs[0], parse_target("gfx90a")); }, ErrorKind::Spec,
               "w.rg:3:10: error: wave = 32 is not supported by target gfx90a (CDNA2); supported: 64", 3, 10);
  expect_error([&] { check_target(parse_spec_line("wave=64"), parse_target("sm_90")); },
               ErrorKind::Spec, "wave = 64 is not supported by target sm_90");
  expect_error([&] { generate(parse_spec_line("wave=32").spec, parse_target("gfx942")); },
               ErrorKind::Spec, "wave = 32 is not supported by target gfx942");
}

TEST_CASE("errors: files and targets") {
  expect_error([] { load_spec_file("/nonexistent/x.rg"); }, ErrorKind::Io,
               "cannot open spec file '/nonexistent/x.rg'");
  expect_error([] { parse_target("gfx9000"); }, ErrorKind::Target,
               "unknown target 'gfx9000'; known targets: gfx906, gfx908, gfx90a, gfx942, gfx950, gfx1030");
  expect_error([] { parse_target(""); }, ErrorKind::Target, "unknown target ''");
  expect_error([] { parse_target("gfx90a:xnack"); }, ErrorKind::Target,
               "bad feature 'xnack' in target 'gfx90a:xnack': expected NAME+ or NAME-");
  expect_error([] { parse_target("gfx90a:wave64+"); }, ErrorKind::Target,
               "target gfx90a has no feature 'wave64'; valid features: sramecc, xnack");
  expect_error([] { parse_target("gfx1100:xnack-"); }, ErrorKind::Target,
               "target gfx1100 has no feature 'xnack' (it takes no features)");
  expect_error([] { parse_target("gfx90a:xnack-:xnack+"); }, ErrorKind::Target,
               "feature 'xnack' given twice");
}

TEST_CASE("errors: compiler selection and compile failures") {
  expect_error([] { select_compiler(parse_target("host"), "nvcc"); }, ErrorKind::Compile,
               "unknown compiler 'nvcc'; known: nvrtc, hiprtc, clang-amdgpu, host-cxx");
  expect_error([] { select_compiler(parse_target("sm_90"), "host-cxx"); }, ErrorKind::Compile,
               "host-cxx: builds only for target host, not sm_90");
  // A broken template (test hook) surfaces the compiler's log, options and source path.
  override_template_for_testing("rope_common.h", "this is not C++;\n");
  try {
    GeneratedSource g = generate(parse_spec_line("op=rope").spec, parse_target("host"));
    select_compiler(g.target).compile(g, {});
    FAIL("no error");
  } catch (const Error& e) {
    const std::string w = e.what();
    CAPTURE(w);
    CHECK(e.kind() == ErrorKind::Compile);
    CHECK(w.find("host-cxx failed to compile ropegen_rope_") != std::string::npos);
    CHECK(w.find("compiler log:") != std::string::npos);
    // The log names the bad line by its template (#line): the compiler quotes it from the
    // overridden text, or from the template file when one is at that path from its cwd.
    CHECK((w.find("this is not C++") != std::string::npos || w.find("templates/rope_common.h:1:") != std::string::npos));
    CHECK(w.find("options: c++") != std::string::npos);
    CHECK(!e.context("source").empty());
    CHECK(e.context("target") == "host");
    CHECK(e.fault() == Fault::Environment);
  }
  override_template_for_testing("rope_common.h", "");
}

TEST_CASE("errors: a failed compile leaves only the dumped source behind") {
  const std::string tmp = detail::make_temp_dir("ropegen-errors-test");
  const char* old = std::getenv("TMPDIR");
  const std::string saved = old ? old : "";
  setenv("TMPDIR", tmp.c_str(), 1);
  override_template_for_testing("rope_common.h", "this is not C++;\n");
  std::string source;
  try {
    GeneratedSource g = generate(parse_spec_line("op=rope head_dim=8 q_heads=1 kv_heads=1").spec, parse_target("host"));
    select_compiler(g.target).compile(g, {});
    FAIL("no error");
  } catch (const Error& e) {
    source = e.context("source");
  }
  override_template_for_testing("rope_common.h", "");
  if (old)
    setenv("TMPDIR", saved.c_str(), 1);
  else
    unsetenv("TMPDIR");
  // The compiler's scratch directory is gone; the source the error names is kept.
  std::vector<std::string> left;
  for (const auto& e : std::filesystem::directory_iterator(tmp)) left.push_back(e.path().filename().string());
  REQUIRE(left.size() == 1);
  CHECK(left[0].rfind("ropegen-failed-", 0) == 0);
  CHECK(source.rfind(tmp + "/ropegen-failed-", 0) == 0);
  CHECK(detail::read_file(source).find("this is not C++") != std::string::npos);
  detail::remove_tree(tmp);
}

TEST_CASE("errors: launch arguments are checked before launching") {
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
      {"argument block has size 0 and ABI version 0, but this kernel takes size 320 and ABI version 6",
       [](auto& a) { a = ropegen_kernel_args{}; }},
      {"argument block has size 320 and ABI version 5, but this kernel takes size 320 and ABI version 6",
       [](auto& a) { a.abi_version = 5; }},
      {"argument block has size 312 and ABI version 6", [](auto& a) { a.size -= 8; }},
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

TEST_CASE("errors: complete when constructed; whose fault") {
  const Error e(ErrorKind::Compile, "it broke", {{"target", "gfx1100"}, {"compiler log", "line 1\nline 2\n"}});
  CHECK(std::string(e.what()) == "error: it broke\n  target: gfx1100\n  compiler log:\nline 1\nline 2\n");
  CHECK(e.context("target") == "gfx1100");
  CHECK(e.context("options").empty());
  CHECK(Error(ErrorKind::Spec, "x").fault() == Fault::User);
  CHECK(Error(ErrorKind::Internal, "x").fault() == Fault::Internal);
  CHECK(std::string(Error(ErrorKind::Internal, "x").what()) == "error (internal): x");
  CHECK(Error(ErrorKind::Load, "x").fault() == Fault::Environment);
}

TEST_CASE("errors: numbers are decimal") {
  const auto P = ErrorKind::Parse;
  file("kernel k { head_dim = 0x80 }", "'0x80' is not a number (numbers are decimal", 1, 23, P);
  file("kernel k { cos_sin = compute(theta = 0x1p4) }", "'0x1p4' is not a number", 1, 38, P);
  oneline("head_dim=+0x40", "'+0x40' is not a number", 10, P);
  CHECK(parse_spec_line("head_dim=128 cos_sin=compute(theta=5e5)").spec.head_dim == 128);
}

TEST_CASE("errors: suggestions by meaning, not only by spelling") {
  // A type width is not a typo of another width.
  oneline("dtype=fp8", "invalid value 'fp8' for dtype; valid values: f32, f16, bf16", 7);
  for (const char* wrong : {"dtype=fp8", "dtype=f64", "dtype=int8", "index=i16"}) {
    CAPTURE(wrong);
    try {
      parse_spec_line(wrong);
      FAIL("no error");
    } catch (const Error& e) {
      CHECK(std::string(e.what()).find("did you mean") == std::string::npos);
    }
  }
  // Typos still get one.
  oneline("dtype=bf17", "(did you mean 'bf16'?)", 7);
  oneline("style=neoxx", "(did you mean 'neox'?)", 7);
  oneline("style=nexo", "(did you mean 'neox'?)", 7);  // two letters swapped: one edit
  oneline("dtyp=f16", "unknown key 'dtyp'; did you mean 'dtype'?", 1);
}

TEST_CASE("spec: value aliases are input only") {
  CHECK(parse_spec_line("dtype=bfloat16").spec.dtype == DType::BF16);
  CHECK(parse_spec_line("dtype=float16").spec.dtype == DType::F16);
  CHECK(parse_spec_line("dtype=half").spec.dtype == DType::F16);
  CHECK(parse_spec_line("dtype=float32").spec.dtype == DType::F32);
  CHECK(parse_spec_line("style=interleaved").spec.style == Style::Gptj);
  CHECK(parse_spec_line("style=rotate_half").spec.style == Style::Neox);
  // The canonical text, and so the key, is the same as for the canonical names.
  CHECK(parse_spec_line("dtype=half style=interleaved").spec.canonical() ==
        parse_spec_line("dtype=f16 style=gptj").spec.canonical());
  CHECK(parse_spec_line("dtype=half").spec.canonical().find("dtype=f16") != std::string::npos);
  KernelSpec s;
  lower_field("dtype", "bfloat16", s, "<test>");
  CHECK(s.dtype == DType::BF16);
}

TEST_CASE("errors: rotary_offset") {
  file("kernel k { head_dim = 128\n rotary_dim = 64\n rotary_offset = 80 }",
       "rotary_offset + rotary_dim = 144 is more than head_dim = 128", 3, 18);
  file("kernel k { head_dim = 128\n rotary_dim = 64\n rotary_offset = 7 }", "rotary_offset = 7 must be even", 3, 18);
  file("kernel k { op = kv_append\n rotary_offset = 8 }", "key 'rotary_offset' has no effect for op = kv_append", 2, 18);
}

TEST_CASE("errors: scaling families, positions and angles") {
  oneline("cos_sin=compute(scaling=linear(factor=0))", "factor = 0 is out of range; expected more than 0", 39);
  oneline("cos_sin=compute(scaling=llama3(factor=8,low_freq_factor=4,high_freq_factor=1,"
          "original_max_position_embeddings=8192))",
          "llama3(...): low_freq_factor = 4 is more than high_freq_factor = 1", 9);
  oneline("rotary_dim=8 cos_sin=compute(scaling=longrope(short_factor=[1,1],long_factor=[1,2,3,4],"
          "original_max_position_embeddings=4096,max_position_embeddings=8192))",
          "longrope(...): short_factor has 2 values; expected rotary_dim / 2 = 4", 22);
  oneline("rotary_dim=8 cos_sin=compute(scaling=longrope(short_factor=[1,1,0,1],long_factor=[1,2,3,4],"
          "original_max_position_embeddings=4096,max_position_embeddings=8192))",
          "short_factor[2] = 0 is out of range; expected more than 0 and at most 1e+06", 65);
  oneline("cos_sin=compute(scaling=dynamic(factor=2,original_max_position_embeddings=4096,choose=static))",
          "dynamic(...): choose = static needs max_model_len", 9);
  oneline("cos_sin=compute(scaling=dynamic(factor=2,original_max_position_embeddings=4096,choose=sometimes))",
          "invalid value 'sometimes' for choose; valid values: runtime, static", 0);
  oneline("positions=mrope(sections=[16,24,16])", "mrope(...): sections add up to 56; they must add up to rotary_dim / 2 = 64",
          11);
  oneline("positions=imrope(sections=[24,20])", "sections must be a list of 3 integers", 27);
  oneline("angle=exact", "angle = exact needs cos_sin = compute", 7);
  oneline("op=kv_append positions=mrope(sections=[16,24,24])", "key 'positions' has no effect for op = kv_append", 24);
}

TEST_CASE("errors: fp8 caches, qk_norm and MLA") {
  oneline("op=rope cache_dtype=fp8_e4m3", "key 'cache_dtype' has no effect for op = rope", 21);
  oneline("cache_dtype=f32", "cache_dtype = f32 with dtype = bf16: a cache that is not fp8 has the activation dtype", 13);
  oneline("scales=per_head", "scales = per_head needs an fp8 cache_dtype", 8);
  oneline("q_dtype=fp8_e4m3", "q_dtype = fp8_e4m3 needs outputs = separate", 9);
  oneline("qk_norm=rms(eps=0)", "eps = 0 is out of range", 17);
  oneline("qk_norm=layer", "invalid value 'layer' for qk_norm; valid values: none, rms(", 9);
  oneline("op=mla_rope_append head_dim=192 rotary_dim=64 rotary_offset=160",
          "rotary_offset + rotary_dim = 224 is more than head_dim = 192", 61);
  oneline("op=mla_rope_append head_dim=192 rotary_dim=64 rotary_offset=128 kv_lora_rank=500",
          "kv_lora_rank = 500 is not a multiple of the vector width (8 bf16 elements = 16 bytes)", 78);
  oneline("op=mla_rope_append kv_heads=1", "key 'kv_heads' has no effect for op = mla_rope_append", 29);
  oneline("op=mla_rope_append qk_norm=rms(eps=1e-6)", "key 'qk_norm' has no effect for op = mla_rope_append", 28);
  // The target decides the fp8 encoding; one without any is named with the targets that have them.
  ParsedSpec f8 = parse_spec_line("cache_dtype=fp8_e4m3");
  expect_error([&] { check_target(f8, parse_target("gfx90a")); }, ErrorKind::Spec,
               "cache_dtype = fp8_e4m3 needs fp8 encodings (OCP or FNUZ), which target gfx90a (CDNA2) does not have; "
               "targets with them: gfx942, gfx950, gfx1200, gfx1201, sm_89");
  ParsedSpec fnuz = parse_spec_line("cache_dtype=fp8_e4m3fnuz");
  expect_error([&] { check_target(fnuz, parse_target("sm_90")); }, ErrorKind::Spec,
               "cache_dtype = fp8_e4m3fnuz needs the FNUZ fp8 encodings, which target sm_90 (Hopper) does not have; "
               "targets with them: gfx942, host");
  CHECK(target_can_run(f8.spec, parse_target("gfx942")));
  CHECK(target_can_run(f8.spec, parse_target("sm_90")));
}

TEST_CASE("errors: fp8 scales and norm weights are checked at launch") {
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

TEST_CASE("errors: control bytes in spec text are escaped, and the excerpt and caret stay") {
  // Issue 26, item 9: a NUL cut the message short (no excerpt, no caret); ESC and other
  // control bytes reached the terminal raw.
  try {
    parse_spec_file("t.rg", std::string("kernel k {\n  head_dim = 128 ") + '\0' + " q_heads = 4\n}\n");
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.loc().line == 2);
    CHECK(e.loc().col == 18);
    CHECK(std::string(e.what()) ==
          "t.rg:2:18: error: expected a key such as 'head_dim', found invalid character '\\x00'\n"
          "    head_dim = 128 \\x00 q_heads = 4\n  " + std::string(17, ' ') + "^~~~");
  }
  try {
    parse_spec_file("t.rg", "kernel k {\n  dtype = bf16\x1b[2J\n}\n");
    FAIL("no error");
  } catch (const Error& e) {
    const std::string w = e.what();
    CHECK(w.find('\x1b') == std::string::npos);
    CHECK(w == "t.rg:2:15: error: expected a key such as 'head_dim', found invalid character '\\x1b'\n"
               "    dtype = bf16\\x1b[2J\n  " + std::string(14, ' ') + "^~~~");
  }
  // A control byte the lexer skips as space (\v) before the error: the caret still lines up.
  try {
    parse_spec_file("t.rg", "kernel k {\n\v head_dim = 12x\n}\n");
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()) == "t.rg:2:14: error: '12x' is not a number (numbers are decimal, e.g. 128 or 5e5)\n  \\x0b head_dim = 12x\n  " +
                                       std::string(16, ' ') + "^~~");
  }
  // Messages without a location too; a message's own newlines stay.
  CHECK(std::string(Error(ErrorKind::Io, std::string("file 'a") + '\0' + "b\r' and\nmore").what()) ==
        "error: file 'a\\x00b\\x0d' and\nmore");
}

TEST_CASE("errors: integers in flags and ROPEGEN_PLAN are decimal and in range") {
  // Issue 26, item 8: ROPEGEN_PLAN=99999999999x8 wrapped into "plan 1215752191x8".
  uint64_t n = 0;
  CHECK((detail::parse_decimal("0", 5, n) && n == 0));
  CHECK((detail::parse_decimal("010", 16, n) && n == 10));  // decimal, not octal
  CHECK((detail::parse_decimal("18446744073709551615", UINT64_MAX, n) && n == UINT64_MAX));
  for (const char* bad : {"", "-1", "+1", "0x10", " 1", "1 ", "1e3", "18446744073709551616", "17"}) {
    CAPTURE(bad);
    CHECK(!detail::parse_decimal(bad, 16, n));
  }
  CHECK(!detail::parse_decimal("18446744073709551616", UINT64_MAX, n));
  const PlanChoice c = parse_plan_choice("4x8");
  CHECK(c.tokens_per_block == 4);
  CHECK(c.head_groups == 8);
  CHECK(parse_plan_choice("1024x1").tokens_per_block == 1024);
  for (const std::string bad : {"99999999999x8", "4x99999999999", "4294967297x1", "1025x1", "0x8", "4x0", "-1x8",
                                "4x-1", " 4x8", "4x8x", "4x", "x8", "4by8", "0x10x8"}) {
    expect_error([&] { parse_plan_choice(bad); }, ErrorKind::Spec,
                 "bad plan '" + bad + "': expected TOKENSxGROUPS, each 1 to 1024, e.g. 4x8");
  }
}
