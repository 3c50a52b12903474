// The code-object cache and the Jit: hits, keys, damaged entries, read-only and unwritable
// directories, one compile per key under threads, processes racing on one key.
#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "common/process.hpp"
#include "cache/cache.hpp"
#include "ropegen/error.hpp"
#include "jit/jit.hpp"

using namespace ropegen;

namespace {

struct TempDir {
  std::string path = detail::make_temp_dir("ropegen-cache-test");
  ~TempDir() { detail::remove_tree(path); }
};

JitOptions opts_for(const std::string& dir) {
  JitOptions o;
  o.cache_dir = dir;
  o.compiler = "host-cxx";  // always available; the cache does not care which backend
  return o;
}

const Target& host() {
  static Target t = parse_target("host");
  return t;
}

KernelSpec spec(const char* text) { return parse_spec_line(text).spec; }

}  // namespace

TEST_CASE("cache: miss, then disk hit in a new Jit, then memory hit") {
  TempDir dir;
  const KernelSpec s = spec("op=rope head_dim=64 q_heads=4 kv_heads=2");
  std::string path;
  {
    Jit jit(opts_for(dir.path));
    Build a = jit.build(s, host());
    CHECK(a.origin == "compiled");
    CHECK(!a.path.empty());
    path = a.path;
    Build b = jit.build(s, host());
    CHECK(b.origin == "memory");
    CHECK(b.code == a.code);
    CHECK(jit.compiles() == 1);
  }
  Jit again(opts_for(dir.path));
  Build c = again.build(s, host());
  CHECK(c.origin == "disk");
  CHECK(c.path == path);
  CHECK(again.compiles() == 0);
  CHECK(c.code->entry.rfind("ropegen_rope_", 0) == 0);
  CHECK(c.code->plan.block_threads > 0);
  CHECK(c.code->spec.canonical() == s.canonical());
}

TEST_CASE("cache: the key changes when any key field changes, and names no compiler") {
  auto key = [](const KernelSpec& s, const char* t, CompileOptions o = {}) {
    return make_cache_key(generate(s, parse_target(t)), o).hash;
  };
  const KernelSpec base = spec("");
  const std::string k0 = key(base, "gfx90a");
  CHECK(key(base, "gfx90a") == k0);  // stable
  CHECK(key(spec("dtype=f16"), "gfx90a") != k0);                // spec
  CHECK(key(base, "gfx90a:xnack-") != k0);                      // target features
  CHECK(key(base, "gfx942") != k0);                             // target
  CHECK(key(spec("wave=64"), "gfx1100") != key(base, "gfx1100"));  // wave
  CHECK(key(base, "gfx90a", {{"-O2"}}) != k0);                  // options
  // The source hash is in the key: a template change makes a new key.
  GeneratedSource g = generate(base, parse_target("gfx90a"));
  CacheKey k = make_cache_key(g, {});
  g.source_hash = "0000000000000000";
  CHECK(make_cache_key(g, {}).hash != k.hash);
  CHECK(k.text.find("format=" + std::to_string(kCacheFormatVersion)) != std::string::npos);
  CHECK(k.text.find(std::string("ropegen=") + ropegen_version()) != std::string::npos);
  // Computed without a compiler: the compiler is recorded in the entry and matched there.
  CHECK(k.text.find("backend") == std::string::npos);
  CodeObject co;
  co.backend = "x";
  co.backend_version = "1.0";
  CHECK(CompilerMatch{}.accepts(co));
  CHECK(CompilerMatch{"x", ""}.accepts(co));
  CHECK(!CompilerMatch{"y", ""}.accepts(co));
  CHECK(CompilerMatch{"x", "1.0"}.accepts(co));
  CHECK(!CompilerMatch{"x", "1.1"}.accepts(co));
}

TEST_CASE("cache: corrupt, truncated and foreign entries are rebuilt with a warning") {
  TempDir dir;
  const KernelSpec s = spec("op=kv_append head_dim=64 kv_heads=2 dtype=f32");
  std::string path;
  {
    Jit jit(opts_for(dir.path));
    path = jit.build(s, host()).path;
  }
  const std::string good = detail::read_file(path);
  auto damaged = [&](const std::string& bytes, const char* expect) {
    CAPTURE(expect);
    detail::write_file(path, bytes);
    Jit jit(opts_for(dir.path));
    Build b = jit.build(s, host());
    CHECK(b.origin == "compiled");
    auto w = jit.take_warnings();
    REQUIRE(w.size() == 1);
    CHECK(w[0].find(expect) != std::string::npos);
    CHECK(w[0].find("rebuilding") != std::string::npos);
    // The rebuilt entry is whole again.
    Jit next(opts_for(dir.path));
    CHECK(next.build(s, host()).origin == "disk");
  };
  std::string flipped = good;
  flipped[flipped.size() / 2] ^= 0x5a;
  damaged(flipped, "checksum mismatch");
  damaged(good.substr(0, good.size() / 3), "truncated");
  damaged("this is not a cache entry at all, just text", "bad magic");
  damaged("", "bad magic");
  // A valid entry of another kernel under this name.
  {
    TempDir other;
    Jit j(opts_for(other.path));
    damaged(detail::read_file(j.build(spec("op=rope head_dim=64"), host()).path), "key mismatch");
  }
  std::string wrong_version = good;
  wrong_version[8] = 99;
  damaged(wrong_version, "cache format version 99");
  // `cache verify` style listing flags damaged files.
  detail::write_file(dir.path + "/0123456789abcdef.rgco", "junk");
  auto entries = DiskCache(dir.path, false).list();
  int invalid = 0;
  for (const auto& e : entries) invalid += e.valid ? 0 : 1;
  CHECK(invalid == 1);
}

TEST_CASE("cache: unwritable directory means memory only, with one warning") {
  JitOptions o = opts_for("/dev/null/ropegen-cache");  // cannot be created, even by root
  Jit jit(o);
  Build a = jit.build(spec("op=rope head_dim=32 q_heads=2 kv_heads=2"), host());
  CHECK(a.origin == "compiled");
  CHECK(a.path.empty());
  Build b = jit.build(spec("op=rope head_dim=32 q_heads=2 kv_heads=1"), host());
  CHECK(b.origin == "compiled");
  auto w = jit.take_warnings();
  REQUIRE(w.size() == 1);
  CHECK(w[0].find("cannot create cache directory /dev/null/ropegen-cache") != std::string::npos);
  CHECK(w[0].find("memory only") != std::string::npos);
  CHECK(jit.build(spec("op=rope head_dim=32 q_heads=2 kv_heads=2"), host()).origin == "memory");
}

TEST_CASE("cache: read-only bundle directories are searched first and never written") {
  TempDir bundle, user;
  const KernelSpec s = spec("op=rope head_dim=64 dtype=f16");
  {
    Jit maker(opts_for(bundle.path));
    maker.build(s, host());
  }
  CHECK(write_bundle_manifest(bundle.path) == 1);
  JitOptions o = opts_for(user.path);
  o.bundle_dirs = {"/nonexistent/bundle", bundle.path};
  o.no_compile = true;
  Jit jit(o);
  Build b = jit.build(s, host());
  CHECK(b.origin == "bundle");
  CHECK(b.path.rfind(bundle.path, 0) == 0);
  CHECK(DiskCache(user.path, false).list().empty());
  CHECK_THROWS_AS(DiskCache(bundle.path, true).store(CacheKey{"k", "0000"}, *b.code), Error);
}

TEST_CASE("cache: ROPEGEN_NO_COMPILE turns a miss into an error naming the key") {
  TempDir dir;
  JitOptions o = opts_for(dir.path);
  o.no_compile = true;
  Jit jit(o);
  try {
    jit.build(spec("op=rope head_dim=16 q_heads=1 kv_heads=1"), host());
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::Cache);
    const std::string w = e.what();
    CHECK(w.find("ROPEGEN_NO_COMPILE is set and no cache entry exists") != std::string::npos);
    CHECK(w.find("spec=op=rope head_dim=16") != std::string::npos);
    CHECK(w.find("target=host") != std::string::npos);
  }
  CHECK(jit.compiles() == 0);
}

TEST_CASE("cache: ROPEGEN_DUMP_DIR gets source, options, log and metadata") {
  TempDir dir, dump;
  JitOptions o = opts_for(dir.path);
  o.dump_dir = dump.path;
  Jit jit(o);
  Build b = jit.build(spec("op=rope head_dim=32 q_heads=2 kv_heads=2"), host());
  const std::string base = dump.path + "/" + b.code->entry + ".host";
  CHECK(detail::read_file(base + ".hip").find("rg_kernel::run") != std::string::npos);
  CHECK(detail::read_file(base + ".options").find("-O2") != std::string::npos);
  CHECK(detail::read_file(base + ".json").find("host-cxx") != std::string::npos);
}

TEST_CASE("cache: many threads asking for one key compile it once") {
  TempDir dir;
  Jit jit(opts_for(dir.path));
  const KernelSpec s = spec("op=rope head_dim=48 q_heads=3 kv_heads=1");
  std::vector<std::thread> threads;
  std::vector<std::shared_ptr<const CodeObject>> got(8);
  std::atomic<int> errors{0};
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([&, i] {
      try {
        got[i] = jit.build(s, host()).code;
      } catch (...) {
        ++errors;
      }
    });
  for (auto& t : threads) t.join();
  CHECK(errors == 0);
  CHECK(jit.compiles() == 1);
  for (const auto& g : got) CHECK(g == got[0]);
}

TEST_CASE("cache: processes racing on one key never load a torn file") {
  TempDir dir;
  const KernelSpec s = spec("op=rope head_dim=40 q_heads=5 kv_heads=5");
  std::string want;
  {
    // Reference bytes from a private directory.
    TempDir priv;
    Jit j(opts_for(priv.path));
    const auto& b = j.build(s, host()).code->bytes;
    want.assign(b.begin(), b.end());
  }
  std::vector<pid_t> kids;
  for (int p = 0; p < 4; ++p) {
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      int rc = 0;
      for (int round = 0; round < 3 && rc == 0; ++round) {
        try {
          Jit j(opts_for(dir.path));  // fresh memory each round: disk hit or compile + store
          Build b = j.build(s, host());
          if (std::string(b.code->bytes.begin(), b.code->bytes.end()) != want) rc = 2;
          for (const auto& w : j.take_warnings())
            if (w.find("unusable") != std::string::npos) rc = 3;  // a torn or damaged read
        } catch (...) {
          rc = 4;
        }
      }
      _exit(rc);
    }
    kids.push_back(pid);
  }
  for (pid_t k : kids) {
    int status = 0;
    waitpid(k, &status, 0);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }
  auto entries = DiskCache(dir.path, false).list();
  REQUIRE(entries.size() == 1);
  CHECK(entries[0].valid);
}

TEST_CASE("cache: prune keeps the cap by evicting least recently used entries") {
  TempDir dir;
  Jit jit(opts_for(dir.path));
  std::vector<std::string> paths;
  for (int hd : {16, 24, 32}) {
    std::string text = "op=rope head_dim=" + std::to_string(hd) + " q_heads=1 kv_heads=1";
    paths.push_back(jit.build(spec(text.c_str()), host()).path);
    sleep(1);  // distinct last-use times
  }
  DiskCache cache(dir.path, false);
  auto all = cache.list();
  REQUIRE(all.size() == 3);
  uint64_t one = all[0].bytes;
  CHECK(cache.prune(one * 2 + one / 2) == 1);
  CHECK(access(paths[0].c_str(), F_OK) != 0);  // the oldest went
  CHECK(access(paths[2].c_str(), F_OK) == 0);
  CHECK(cache.clear() == 2);
  CHECK(cache.list().empty());
}

TEST_CASE("cache: the Jit keeps the user directory under its size cap") {
  TempDir dir;
  uint64_t one = 0;
  {
    Jit probe(opts_for(dir.path));
    probe.build(spec("op=rope head_dim=16 q_heads=2 kv_heads=1"), host());
    one = DiskCache(dir.path, false).list().at(0).bytes;
    DiskCache(dir.path, false).clear();
  }
  JitOptions o = opts_for(dir.path);
  o.max_bytes = one * 2 + one / 2;  // room for two entries of this size
  Jit jit(o);
  for (int hd : {16, 24, 32, 40}) {
    std::string text = "op=rope head_dim=" + std::to_string(hd) + " q_heads=2 kv_heads=1";
    jit.build(spec(text.c_str()), host());
  }
  auto left = DiskCache(dir.path, false).list();
  CHECK(left.size() == 2);
  uint64_t total = 0;
  for (const auto& e : left) total += e.bytes;
  CHECK(total <= o.max_bytes);
}
