// Tuning (Context::tune) and tuned plans: the record kept in the cache directory, a kernel
// that holds one plan per bucket and picks by num_tokens, records that must be refused, and
// the refusal to tune inside a graph capture (CUDA; skipped without a GPU).
#include <doctest/doctest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <filesystem>
#include <vector>
#include <fstream>
#include <string>

#include "api/access.hpp"
#include "cache/cache.hpp"
#include "cache/tuned.hpp"
#include "jit/jit.hpp"
#include "ropegen/ropegen.hpp"
#include "skip.hpp"

using namespace ropegen;

namespace {

const char* kSpec = "op=rope_kv_append head_dim=64 q_heads=4 kv_heads=2";

/// A fresh private cache directory per test, removed when the test program ends.
std::string temp_dir() {
  struct Dirs {
    std::vector<std::string> made;
    ~Dirs() {
      std::error_code ec;
      for (const auto& d : made) std::filesystem::remove_all(d, ec);
    }
  };
  static Dirs dirs;
  char tmpl[] = "/tmp/ropegen-tune-XXXXXX";
  REQUIRE(mkdtemp(tmpl) != nullptr);
  dirs.made.push_back(tmpl);
  return tmpl;
}

JitOptions options_for(const std::string& dir) {
  JitOptions o;
  o.cache_dir = dir;
  return o;
}

std::unique_ptr<Context> host_context(const std::string& dir) {
  return std::make_unique<Context>(open_runtime("host"), options_for(dir));
}

KernelSpec spec() { return parse_spec_line(kSpec, "<test>").spec; }

/// Writes a record of three buckets with three different plans for kSpec on the host.
std::string write_record(const std::string& dir, Context& ctx) {
  TunedRecord r;
  r.key_text = tuned_key_text(spec(), ctx.target(), ctx.runtime().device_name());
  r.buckets = {{1, {1, 1}, 1, 2}, {32, {4, 1}, 1, 2}, {256, {16, 2}, 1, 2}};
  return store_tuned(dir, r);
}

void write_text(const std::string& path, const std::string& text, mode_t mode = 0600) {
  unlink(path.c_str());
  {
    std::ofstream f(path, std::ios::binary);
    f << text;
  }
  chmod(path.c_str(), mode);
}

bool warned(Context& ctx, const std::string& needle) {
  for (const auto& w : InternalAccess::jit(ctx).take_warnings())
    if (w.find(needle) != std::string::npos) return true;
  return false;
}

}  // namespace

TEST_CASE("api: bucket limits are the geometric midpoints") {
  CHECK(bucket_limits({1, 32, 256, 2048, 8192}) == std::vector<long long>{5, 90, 724, 4096, LLONG_MAX});
  CHECK(bucket_limits({7}) == std::vector<long long>{LLONG_MAX});
  CHECK(bucket_limits({1, 2}) == std::vector<long long>{1, LLONG_MAX});
}

TEST_CASE("api: tune on the host keeps the winners, and a new Context's kernel holds them") {
  const std::string dir = temp_dir();
  auto ctx = host_context(dir);
  TuneOptions to;
  to.buckets = {1, 32, 256};
  to.reps = 1;
  const TuneReport r = ctx->tune(spec(), to);
  REQUIRE(r.buckets.size() == 3);
  CHECK(r.target == "host");
  CHECK(r.device == ctx->runtime().device_name());
  REQUIRE(!r.record.empty());
  struct stat st {};
  REQUIRE(stat(r.record.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  for (const TuneBucket& b : r.buckets) {
    CHECK(b.candidates.size() > 1);
    CHECK(b.candidates.front().choice.empty());  // codegen's plan first
    CHECK(b.best_us <= b.default_us);
    CHECK(b.best_us > 0);
  }
  // The same context now serves the tuned plans; so does a new one (another process alike).
  for (int fresh = 0; fresh < 2; ++fresh) {
    std::unique_ptr<Context> other = fresh ? host_context(dir) : nullptr;
    Context& c = fresh ? *other : *ctx;
    auto k = c.kernel(spec());
    const Build* b = InternalAccess::build(*k);
    REQUIRE(b != nullptr);
    CHECK(b->plan_source == "tuned");
    CHECK(b->tuned_record == r.record);
    for (long long n : {1ll, 32ll, 256ll}) {
      const TuneBucket& tb = r.buckets[n == 1 ? 0 : n == 32 ? 1 : 2];
      CHECK(k->plan_for(n).tokens_per_block == tb.best_plan.tokens_per_block);
      CHECK(k->plan_for(n).head_groups == tb.best_plan.head_groups);
    }
    CHECK(c.verify(*k, 37));
  }
}

TEST_CASE("api: tune times the indexer on inputs its own runner makes, and its tuned kernel verifies") {
  // op = indexer_append builds its inputs in its family's runner (Family::prepare), not the
  // shared one: tuning it used to be refused.
  const std::string dir = temp_dir();
  auto ctx = host_context(dir);
  const KernelSpec ix = parse_spec_line("op=indexer_append head_dim=128 rotary_dim=64 q_heads=16 dtype=bf16 "
                                        "cache=paged(block=16) cache_dtype=fp8_e4m3 k_norm=layernorm(eps=1e-6)",
                                        "<test>")
                            .spec;
  TuneOptions to;
  to.buckets = {1, 16};
  to.reps = 1;
  const TuneReport r = ctx->tune(ix, to);
  REQUIRE(r.buckets.size() == 2);
  for (const TuneBucket& b : r.buckets) {
    CHECK(b.candidates.size() > 1);
    CHECK(b.best_us > 0);
    CHECK(b.best_us <= b.default_us);
    // 17 rows (16 q, k) over codegen's 2 groups (about 8 rows a group) take 9 passes; 3 groups
    // (a balanced count, not a power of two) take 6, and were built, checked against the
    // reference and timed.
    CHECK(b.default_plan.head_groups == 2);
    bool balanced = false;
    for (const TuneCandidate& c : b.candidates) balanced = balanced || c.plan.head_groups == 3;
    CHECK(balanced);
  }
  auto k = ctx->kernel(ix);
  CHECK(InternalAccess::build(*k)->plan_source == "tuned");
  for (long long n : {1ll, 16ll, 23ll}) {
    CAPTURE(n);
    CHECK(ctx->verify(*k, n));
  }
}

TEST_CASE("api: a kernel of tuned plans picks its plan by num_tokens and launches it") {
  const std::string dir = temp_dir();
  auto ctx = host_context(dir);
  const std::string path = write_record(dir, *ctx);
  auto k = ctx->kernel(spec());
  CHECK(k->plans() == 3);
  // Buckets 1, 32, 256: limits 5 and 90.
  const std::pair<long long, int> want[] = {{1, 1}, {5, 1}, {6, 4}, {90, 4}, {91, 16}, {100000, 16}};
  for (const auto& [n, tokens_per_block] : want) {
    CAPTURE(n);
    CHECK(k->plan_for(n).tokens_per_block == tokens_per_block);
  }
  CHECK(k->plan_for(200).head_groups == 2);
  CHECK(k->plan().tokens_per_block == 1);  // the first bucket's
  const std::string d = k->describe();
  CHECK(d.find("\"plan_source\":\"tuned\"") != std::string::npos);
  CHECK(d.find(path) != std::string::npos);
  CHECK(d.find("\"max_tokens\":90") != std::string::npos);
  // Each plan computes right through the kernel's own launch.
  for (long long n : {3ll, 37ll, 200ll}) {
    CAPTURE(n);
    CHECK(ctx->verify(*k, n));
  }
  // One kernel per context for the spec: a warm request is the same object.
  CHECK(ctx->kernel(spec()).get() == k.get());
}

TEST_CASE("api: an explicit plan (JitOptions::plan, ROPEGEN_PLAN) wins over tuned plans") {
  const std::string dir = temp_dir();
  {
    auto ctx = host_context(dir);
    write_record(dir, *ctx);
  }
  JitOptions o = options_for(dir);
  o.plan = {2, 2};
  Context ctx(open_runtime("host"), o);
  auto k = ctx.kernel(spec());
  CHECK(k->plans() == 1);
  CHECK(k->plan_for(200).tokens_per_block == 2);
  CHECK(InternalAccess::build(*k)->plan_source == "override");
}

TEST_CASE("api: a damaged, hostile or foreign tuned-plans record is refused with a warning") {
  const std::string dir = temp_dir();
  std::string path;
  {
    auto ctx = host_context(dir);
    path = write_record(dir, *ctx);
  }
  std::string good;
  {
    std::ifstream f(path, std::ios::binary);
    good.assign(std::istreambuf_iterator<char>(f), {});
  }
  struct Case {
    const char* what;
    std::string text;
    mode_t mode;
    const char* needle;
  };
  std::string other_key = good;
  other_key.replace(other_key.find("q_heads=4"), 9, "q_heads=8");
  std::string huge_plan = good;
  huge_plan.replace(huge_plan.find("\"tokens_per_block\": 16"), 22, "\"tokens_per_block\": 1024");
  std::string decreasing = good;
  decreasing.replace(decreasing.find("\"tokens\": 256"), 13, "\"tokens\": 2");
  const Case cases[] = {
      {"truncated", good.substr(0, good.size() / 2), 0600, "not JSON"},
      {"garbage", std::string("\x7f" "ELF\x01\x02", 6), 0600, "not JSON"},
      {"another kind of JSON", "{\"format\": \"x\"}", 0600, "not a ropegen tuned-plans record"},
      {"writable by others", good, 0666, "writable by group or others"},
      {"another spec's key", other_key, 0600, "its key is another"},
      {"a plan over 1024 threads", huge_plan, 0600, "holds a plan this spec cannot use"},
      {"buckets not increasing", decreasing, 0600, "not strictly increasing"},
      {"too large", std::string(kTunedMaxBytes + 1, ' '), 0600, "more than a record's"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    write_text(path, c.text, c.mode);
    auto ctx = host_context(dir);
    auto k = ctx->kernel(spec());
    CHECK(k->plans() == 1);
    CHECK(InternalAccess::build(*k)->plan_source == "codegen");
    CHECK(warned(*ctx, c.needle));
    CHECK(ctx->verify(*k, 37));
  }
  // A symbolic link is never followed.
  unlink(path.c_str());
  REQUIRE(symlink("/etc/passwd", path.c_str()) == 0);
  auto ctx = host_context(dir);
  CHECK(ctx->kernel(spec())->plans() == 1);
  CHECK(warned(*ctx, "symbolic link"));
}

TEST_CASE("api: tune refuses bad buckets and options with clear errors") {
  auto ctx = host_context(temp_dir());
  TuneOptions to;
  to.reps = 1;
  to.buckets = {32, 1};
  CHECK_THROWS_WITH_AS(ctx->tune(spec(), to), doctest::Contains("buckets must increase"), Error);
  to.buckets = {0};
  CHECK_THROWS_WITH_AS(ctx->tune(spec(), to), doctest::Contains("bucket 0 is outside 1..16384"), Error);
  to.buckets = {1, 100000};
  CHECK_THROWS_WITH_AS(ctx->tune(spec(), to), doctest::Contains("bucket 100000 is outside"), Error);
  to.buckets = {1};
  to.reps = -1;
  CHECK_THROWS_WITH_AS(ctx->tune(spec(), to), doctest::Contains("reps = -1"), Error);
  // Without storing, nothing is written.
  to.reps = 1;
  to.store = false;
  const TuneReport r = ctx->tune(spec(), to);
  CHECK(r.record.empty());
  CHECK(ctx->kernel(spec())->plans() == 1);
}

TEST_CASE("api: CUDA: tune refuses a stream that is capturing a graph") {
  std::unique_ptr<Context> ctx;
  try {
    ctx = std::make_unique<Context>(open_runtime("cuda"), options_for(temp_dir()));
  } catch (const Error& e) {
    ropegen_test::skip_for_device(std::string("CUDA part: ") + e.what());
    return;
  }
  Runtime& rt = ctx->runtime();
  void* stream = rt.create_stream();
  TuneOptions to;
  to.buckets = {1};
  to.reps = 1;
  to.stream = stream;
  bool refused = false;
  rt.graph_time_ms([&] {
    try {
      ctx->tune(spec(), to);
    } catch (const Error& e) {
      refused = std::string(e.what()).find("capturing a graph") != std::string::npos;
    }
  }, stream, 1);
  CHECK(refused);
  CHECK(ctx->tune(spec(), to).buckets.size() == 1);  // outside the capture it runs
  rt.destroy_stream(stream);
}

TEST_CASE("api: a bundle's tuned plans serve a context that cannot compile") {
  const std::string bundle = temp_dir(), empty = temp_dir();
  std::string record;
  {
    // What `ropegen bundle` does: the record and its plans' code objects, then the manifest.
    auto ctx = host_context(bundle);
    record = write_record(bundle, *ctx);
    REQUIRE(ctx->kernel(spec())->plans() == 3);  // builds the three plans into the directory
  }
  REQUIRE(write_bundle_manifest(bundle) >= 4);
  JitOptions o = options_for(empty);
  o.bundle_dirs = {bundle};
  o.no_compile = true;
  {
    Context ctx(open_runtime("host"), o);
    auto k = ctx.kernel(spec());
    CHECK(k->plans() == 3);
    const Build* b = InternalAccess::build(*k);
    CHECK(b->tuned_record == record);
    for (const auto& t : b->tuned) CHECK(t.origin == "bundle");
    CHECK(k->plan_for(100).tokens_per_block == 16);
    CHECK(ctx.verify(*k, 100));
  }
  // A record changed after the bundle was sealed is refused; codegen's plan is then asked
  // for, which this bundle lacks and this context may not compile.
  chmod(record.c_str(), 0600);
  {
    std::ofstream f(record, std::ios::app);
    f << " ";
  }
  Context ctx(open_runtime("host"), o);
  CHECK_THROWS_WITH_AS(ctx.kernel(spec()), doctest::Contains("ROPEGEN_NO_COMPILE"), Error);
  CHECK(warned(ctx, "its SHA-256 does not match the bundle's manifest"));
}
