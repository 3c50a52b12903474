// The code-object cache and the Jit: hits, keys, damaged entries, read-only and unwritable
// directories, one compile per key under threads, processes racing on one key.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <thread>

#include "cache/cache.hpp"
#include "cache/probe_cache.hpp"
#include "common/env.hpp"
#include "common/printable.hpp"
#include "common/process.hpp"
#include "compile/backend_util.hpp"
#include "common/sha256.hpp"
#include "jit/jit.hpp"
#include "ropegen/error.hpp"
#include "ropegen/runtime.hpp"

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

unsigned mode_of(const std::string& path) {
  struct stat st {};
  REQUIRE(lstat(path.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

bool contains(const std::string& text, const std::string& needle) { return text.find(needle) != std::string::npos; }

/// Sets or unsets environment variables for one scope.
struct EnvGuard {
  std::vector<std::pair<std::string, std::optional<std::string>>> saved;
  void set(const char* name, const char* value) {
    const char* old = std::getenv(name);
    saved.emplace_back(name, old ? std::optional<std::string>(old) : std::nullopt);
    if (value)
      setenv(name, value, 1);
    else
      unsetenv(name);
  }
  ~EnvGuard() {
    for (auto it = saved.rbegin(); it != saved.rend(); ++it) {
      if (it->second)
        setenv(it->first.c_str(), it->second->c_str(), 1);
      else
        unsetenv(it->first.c_str());
    }
  }
};

/// Builds `s` in a fresh Jit over `dir` and returns its warnings.
std::vector<std::string> rebuild_warnings(const std::string& dir, const KernelSpec& s, const char* want_origin) {
  Jit jit(opts_for(dir));
  Build b = jit.build(s, host());
  CHECK(b.origin == want_origin);
  return jit.take_warnings();
}

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
  // The whole plan comes back from disk, prefetch_first included (plan() and describe()
  // agree after a disk hit).
  const LaunchPlan want = plan(s, host());
  CHECK(want.prefetch_first);  // the host target prefetches
  CHECK(c.code->plan.prefetch_first == want.prefetch_first);
  CHECK(c.code->plan.block_threads == want.block_threads);
}

TEST_CASE("cache: the key changes when any key field changes, and names no compiler") {
  auto key = [](const KernelSpec& s, const char* t, CompileOptions o = {}) {
    return make_cache_key(generate(s, parse_target(t)), o).hash;
  };
  const KernelSpec base = spec("");
  const std::string k0 = key(base, "gfx90a");
  CHECK(key(base, "gfx90a") == k0);                                // stable
  CHECK(key(spec("dtype=f16"), "gfx90a") != k0);                   // spec
  CHECK(key(base, "gfx90a:xnack-") != k0);                         // target features
  CHECK(key(base, "gfx942") != k0);                                // target
  CHECK(key(spec("wave=64"), "gfx1100") != key(base, "gfx1100"));  // wave
  CHECK(key(base, "gfx90a", {{"-O2"}}) != k0);                     // options
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

TEST_CASE("cache: directories are created 0700 and entries 0600") {
  TempDir dir;
  const std::string sub = dir.path + "/a/b";
  Jit jit(opts_for(sub));
  Build b = jit.build(spec("op=rope head_dim=64 q_heads=2 kv_heads=1"), host());
  CHECK(mode_of(sub) == 0700);
  CHECK(mode_of(b.path) == 0600);
}

TEST_CASE("cache: files and directories others can write, symlinks and FIFOs are refused") {
  alarm(120);  // a FIFO that blocks a read would hang here: fail instead
  TempDir dir, elsewhere;
  const KernelSpec s = spec("op=rope head_dim=64 q_heads=2 kv_heads=2 dtype=f32");
  std::string path;
  {
    Jit jit(opts_for(dir.path));
    path = jit.build(s, host()).path;
  }
  const std::string good = detail::read_file(path);
  // A group/world-writable entry: refused with the reason, rebuilt, private again.
  REQUIRE(chmod(path.c_str(), 0666) == 0);
  auto w = rebuild_warnings(dir.path, s, "compiled");
  REQUIRE(w.size() == 1);
  CHECK(contains(w[0], "refusing cache entry " + path + ": it is writable by group or others"));
  CHECK(mode_of(path) == 0600);
  // A symlink to a valid entry: not followed.
  detail::write_file(elsewhere.path + "/entry", good);
  REQUIRE(unlink(path.c_str()) == 0);
  REQUIRE(symlink((elsewhere.path + "/entry").c_str(), path.c_str()) == 0);
  w = rebuild_warnings(dir.path, s, "compiled");
  REQUIRE(w.size() == 1);
  CHECK(contains(w[0], "it is a symbolic link"));
  CHECK(mode_of(path) == 0600);  // replaced by a regular file; the link target untouched
  CHECK(detail::read_file(elsewhere.path + "/entry") == good);
  // A FIFO: no hang, in a build or in a listing (`cache verify`).
  REQUIRE(unlink(path.c_str()) == 0);
  REQUIRE(mkfifo(path.c_str(), 0600) == 0);
  REQUIRE(mkfifo((dir.path + "/00000000deadbeef.rgco").c_str(), 0600) == 0);
  w = rebuild_warnings(dir.path, s, "compiled");
  REQUIRE(w.size() == 1);
  CHECK(contains(w[0], "it is not a regular file"));
  auto listed = DiskCache(dir.path, false).list();
  REQUIRE(listed.size() == 2);
  CHECK(!listed[0].valid);
  CHECK(listed[0].problem == "it is not a regular file");
  CHECK(listed[1].valid);
  // A directory others can write: nothing is loaded from it or stored in it.
  REQUIRE(chmod(dir.path.c_str(), 0777) == 0);
  {
    Jit jit(opts_for(dir.path));
    Build b = jit.build(s, host());
    CHECK(b.origin == "compiled");
    CHECK(b.path.empty());
    w = jit.take_warnings();
    REQUIRE(w.size() == 1);
    CHECK(w[0] == "not loading code from " + dir.path + ": it is writable by group or others; caching in memory only");
  }
  REQUIRE(chmod(dir.path.c_str(), 0700) == 0);
  alarm(0);
}

TEST_CASE("cache: entries and directories owned by another user are refused") {
  if (geteuid() != 0) {
    MESSAGE("skipped: needs root to create a second user (useradd) and chown to it");
    return;
  }
  const char* name = "ropegen-test-other";
  if (!getpwnam(name)) {
    const std::string cmd =
        std::string("useradd --system --no-create-home --shell /usr/sbin/nologin ") + name + " 2>&1";
    const int rc = std::system(cmd.c_str());
    (void)rc;
  }
  const passwd* pw = getpwnam(name);
  if (!pw) {
    MESSAGE("skipped: useradd could not create a second user");
    return;
  }
  const uid_t other = pw->pw_uid;
  const gid_t group = pw->pw_gid;
  TempDir dir, bundle;
  const KernelSpec s = spec("op=rope head_dim=32 q_heads=2 kv_heads=2 dtype=f32");
  std::string path;
  {
    Jit jit(opts_for(dir.path));
    path = jit.build(s, host()).path;
  }
  // A file the other user owns (and so could have written) is not loaded.
  REQUIRE(chown(path.c_str(), other, group) == 0);
  auto w = rebuild_warnings(dir.path, s, "compiled");
  REQUIRE(w.size() == 1);
  CHECK(contains(w[0], "it is owned by another user (uid " + std::to_string(other) + ")"));
  // The other user writes a file into a directory they own, in their own process; a Jit
  // pointed at that directory loads nothing from it.
  REQUIRE(chown(dir.path.c_str(), other, group) == 0);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    if (setgid(group) != 0 || setuid(other) != 0) _exit(2);
    try {
      detail::write_file(dir.path + "/planted", "code");
    } catch (...) {
      _exit(3);
    }
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  {
    Jit jit(opts_for(dir.path));
    Build b = jit.build(s, host());
    CHECK(b.origin == "compiled");
    CHECK(b.path.empty());
    w = jit.take_warnings();
    REQUIRE(w.size() == 1);
    CHECK(contains(w[0], "not loading code from " + dir.path + ": it is owned by another user"));
  }
  // A bundle owned by another user is skipped too.
  {
    Jit maker(opts_for(bundle.path));
    maker.build(s, host());
  }
  write_bundle_manifest(bundle.path);
  REQUIRE(chown(bundle.path.c_str(), other, group) == 0);
  JitOptions o = opts_for("");
  o.bundle_dirs = {bundle.path};
  o.no_compile = true;
  Jit jit(o);
  CHECK_THROWS_AS(jit.build(s, host()), Error);
  w = jit.take_warnings();
  REQUIRE(w.size() == 1);
  CHECK(contains(w[0], "not loading code from " + bundle.path + ": it is owned by another user"));
  CHECK(contains(w[0], "skipping this bundle"));
  REQUIRE(chown(dir.path.c_str(), 0, 0) == 0);
  REQUIRE(chown(bundle.path.c_str(), 0, 0) == 0);
}

TEST_CASE("cache: no predictable shared directory when HOME is unset") {
  EnvGuard env;
  env.set("ROPEGEN_CACHE_DIR", nullptr);
  env.set("XDG_CACHE_HOME", nullptr);
  env.set("HOME", nullptr);
  env.set("XDG_RUNTIME_DIR", nullptr);
  env.set("ROPEGEN_DISABLE_DISK_CACHE", nullptr);
  std::string why;
  CHECK(default_cache_dir(&why).empty());
  CHECK(contains(why, "caching in memory only"));
  JitOptions o = JitOptions::from_env();
  CHECK(o.cache_dir.empty());
  o.compiler = "host-cxx";
  Jit jit(o);
  auto w = jit.take_warnings();
  REQUIRE(w.size() == 1);
  CHECK(contains(w[0], "HOME"));
  env.set("XDG_RUNTIME_DIR", "/run/user/4242");
  CHECK(default_cache_dir() == "/run/user/4242/ropegen");
}

TEST_CASE("cache: every header field the request determines is checked; names never come from a file") {
  TempDir dir;
  const KernelSpec s = spec("op=rope_kv_append head_dim=64 q_heads=4 kv_heads=2 dtype=f32");
  std::string path;
  {
    Jit jit(opts_for(dir.path));
    path = jit.build(s, host()).path;
  }
  const std::string good = detail::read_file(path);
  struct Edit {
    const char* problem;
    std::function<void(CodeObject&)> change;
  };
  const Edit edits[] = {
      {"its launch plan does not match the request", [](CodeObject& co) { co.plan.tokens_per_block = 0; }},
      {"its launch plan does not match the request", [](CodeObject& co) { co.plan.block_threads = 1 << 20; }},
      {"its launch plan does not match the request", [](CodeObject& co) { co.plan.prefetch_first = !co.plan.prefetch_first; }},
      {"its argument alignment does not match the request", [](CodeObject& co) { co.align.tensor_bytes = 1; }},
      {"its entry symbol does not match the request", [](CodeObject& co) { co.entry = "../../../tmp/x"; }},
      {"its host entry symbol does not match the request", [](CodeObject& co) { co.host_entry = "system"; }},
      {"its spec does not match the request", [](CodeObject& co) { co.spec.head_dim = 128; }},
      {"its target does not match the request", [](CodeObject& co) { co.target_id = "gfx90a"; }},
  };
  for (const Edit& e : edits) {
    CAPTURE(e.problem);
    // A valid checksum over edited fields: only the comparison with the request catches it.
    std::string key_text;
    CodeObject co = parse_entry(good, &key_text);
    e.change(co);
    detail::write_file(path, serialize_entry(CacheKey{key_text, hex64(fnv1a64(key_text))}, co));
    auto listed = DiskCache(dir.path, false).list();  // `cache verify`
    REQUIRE(listed.size() == 1);
    CHECK(!listed[0].valid);
    const bool keyed = contains(e.problem, "spec") || contains(e.problem, "target");  // they change the key
    CHECK(listed[0].problem == (keyed ? "its spec, target or schedule does not match its key" : e.problem));
    auto w = rebuild_warnings(dir.path, s, "compiled");
    REQUIRE(w.size() == 1);
    CHECK(contains(w[0], e.problem));
    CHECK(DiskCache(dir.path, false).list().at(0).valid);
  }
}

TEST_CASE("cache: the host runtime never uses a name from the code object in a path") {
  TempDir scratch, dir;
  EnvGuard env;
  env.set("TMPDIR", scratch.path.c_str());
  Jit jit(opts_for(dir.path));
  CodeObject co = *jit.build(spec("op=rope head_dim=16 q_heads=1 kv_heads=1 dtype=f32"), host()).code;
  co.entry = "../escaped";
  auto kernel = open_runtime("host")->load(co);
  CHECK(kernel != nullptr);
  CHECK(access((scratch.path + "/escaped.so").c_str(), F_OK) != 0);
}

TEST_CASE("cache: bundles are checked against their SHA-256 manifest") {
  TempDir bundle, user;
  const KernelSpec s = spec("op=rope head_dim=48 q_heads=2 kv_heads=2 dtype=f16");
  std::string path;
  {
    Jit maker(opts_for(bundle.path));
    path = maker.build(s, host()).path;
  }
  JitOptions o = opts_for(user.path);
  o.bundle_dirs = {bundle.path};
  o.no_compile = true;
  o.compiler.clear();  // any compiler's entry
  auto attempt = [&](const char* want_warning) {
    CAPTURE(want_warning);
    Jit jit(o);
    std::string origin;
    try {
      origin = jit.build(s, host()).origin;
    } catch (const Error& e) {
      CHECK(contains(e.what(), "ROPEGEN_NO_COMPILE is set"));
    }
    auto w = jit.take_warnings();
    if (!want_warning) {
      CHECK(w.empty());
      CHECK(origin == "bundle");
      return;
    }
    CHECK(origin.empty());
    REQUIRE(w.size() == 1);
    CHECK(contains(w[0], want_warning));
  };
  attempt("has no manifest SHA256SUMS");
  CHECK(write_bundle_manifest(bundle.path) == 1);
  CHECK(mode_of(bundle.path + "/SHA256SUMS") == 0644);
  CHECK(detail::read_file(bundle.path + "/SHA256SUMS") ==
        detail::sha256_hex(detail::read_file(path)) + "  " + path.substr(path.rfind('/') + 1) + "\n");
  attempt(nullptr);
  // Edited after the manifest was written (checksum and fields still valid).
  std::string key_text;
  const std::string good = detail::read_file(path);
  CodeObject co = parse_entry(good, &key_text);
  co.compile_ms += 1;
  detail::write_file(path, serialize_entry(CacheKey{key_text, hex64(fnv1a64(key_text))}, co));
  attempt("its SHA-256 does not match the bundle's manifest");
  auto listed = DiskCache(bundle.path, true).list();
  REQUIRE(listed.size() == 1);
  CHECK(contains(listed[0].problem, "SHA-256 does not match the manifest"));
  detail::write_file(path, good);
  attempt(nullptr);
  // Pinning a compiler: an entry built by another one is not served.
  o.compiler = "nvrtc";
  Jit pinned(o);
  try {
    pinned.build(s, host());
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(contains(e.what(), "backend=nvrtc"));
  }
}

TEST_CASE("cache: SHA-256 matches the FIPS 180-4 test vectors") {
  CHECK(detail::sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(detail::sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(detail::sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  CHECK(detail::sha256_hex("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmn"
                           "opqrsmnopqrstnopqrstu") ==
        "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
  CHECK(detail::sha256_hex(std::string(1000000, 'a')) ==
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  // Incremental updates split anywhere give the same digest.
  detail::Sha256 inc;
  const std::string msg = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  inc.update(msg.data(), 5);
  inc.update(msg.data() + 5, msg.size() - 5);
  CHECK(inc.hex() == detail::sha256_hex(msg));
}

TEST_CASE("cache: a planted symlink never makes ropegen overwrite another file") {
  TempDir dir, dump, victims;
  const KernelSpec s = spec("op=rope head_dim=24 q_heads=3 kv_heads=1 dtype=f32");
  const GeneratedSource g = generate(s, host());
  const std::string victim = victims.path + "/precious";
  detail::write_file(victim, "precious");
  // At the dump file's name and at the entry's name.
  REQUIRE(symlink(victim.c_str(), (dump.path + "/" + g.entry + ".host.hip").c_str()) == 0);
  REQUIRE(symlink(victim.c_str(), (dir.path + "/" + make_cache_key(g, {}).hash + ".rgco").c_str()) == 0);
  JitOptions o = opts_for(dir.path);
  o.dump_dir = dump.path;
  Jit jit(o);
  Build b = jit.build(s, host());
  CHECK(b.origin == "compiled");
  CHECK(detail::read_file(victim) == "precious");
  CHECK(mode_of(dump.path + "/" + g.entry + ".host.hip") == 0600);  // a regular file now
  CHECK(mode_of(b.path) == 0600);
}

TEST_CASE("cache: stale temporary files are counted and pruned") {
  TempDir dir;
  detail::write_file(dir.path + "/.tmp-old123", "partial entry of a writer that died");
  detail::write_file(dir.path + "/.tmp-new456", "a writer still at work");
  const timespec old[2] = {{time(nullptr) - 3600, 0}, {time(nullptr) - 3600, 0}};
  REQUIRE(utimensat(AT_FDCWD, (dir.path + "/.tmp-old123").c_str(), old, 0) == 0);
  DiskCache cache(dir.path, false);
  CHECK(cache.stats().stale_temp_files == 1);
  CHECK(cache.stats().stale_temp_bytes == 35);
  CHECK(cache.prune(1ull << 30) == 1);
  CHECK(access((dir.path + "/.tmp-old123").c_str(), F_OK) != 0);
  CHECK(access((dir.path + "/.tmp-new456").c_str(), F_OK) == 0);
  CHECK(cache.stats().stale_temp_files == 0);
}

TEST_CASE("cache: processes asking for one key compile it once per machine") {
  TempDir dir;
  const KernelSpec s = spec("op=rope head_dim=56 q_heads=7 kv_heads=1 dtype=f32");
  std::vector<pid_t> kids;
  for (int p = 0; p < 4; ++p) {
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      try {
        Jit j(opts_for(dir.path));
        Build b = j.build(s, host());
        _exit(b.origin == "compiled" ? 10 : b.origin == "disk" ? 20 : 30);
      } catch (...) {
        _exit(40);
      }
    }
    kids.push_back(pid);
  }
  int compiled = 0, loaded = 0;
  for (pid_t k : kids) {
    int status = 0;
    waitpid(k, &status, 0);
    REQUIRE(WIFEXITED(status));
    compiled += WEXITSTATUS(status) == 10;
    loaded += WEXITSTATUS(status) == 20;
  }
  CHECK(compiled == 1);
  CHECK(loaded == 3);
  // The lock file stays (removing it would let two processes lock different files).
  CHECK(access((dir.path + "/" + make_cache_key(generate(s, host()), {}).hash + ".lock").c_str(), F_OK) == 0);
}

TEST_CASE("cache: header numbers of the wrong type or range are damage, never converted") {
  // Found by tests/fuzz/fuzz_cache_entry: a float outside int's range in the plan.
  TempDir dir;
  const KernelSpec s = spec("op=rope head_dim=16 q_heads=2 kv_heads=2 dtype=f32");
  std::string path;
  {
    Jit jit(opts_for(dir.path));
    path = jit.build(s, host()).path;
  }
  const std::string good = detail::read_file(path);
  const uint64_t header_len = [&] {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(static_cast<unsigned char>(good[16 + i])) << (8 * i);
    return v;
  }();
  const std::string header = good.substr(24, header_len);
  for (const char* bad_value : {"8.11111e+76", "3000000000", "\"16\"", "-1e300"}) {
    CAPTURE(bad_value);
    // Replace the first number of "plan" and rebuild the entry with a valid checksum.
    std::string h = header;
    const size_t at = h.find("\"plan\":[") + 8;
    h.replace(at, h.find(',', at) - at, bad_value);
    std::string entry = good.substr(0, 16);
    for (int i = 0; i < 8; ++i) entry += static_cast<char>((h.size() >> (8 * i)) & 0xff);
    entry += h;
    entry += good.substr(24 + header_len, good.size() - 8 - 24 - header_len);
    const uint64_t sum = fnv1a64(entry);
    for (int i = 0; i < 8; ++i) entry += static_cast<char>((sum >> (8 * i)) & 0xff);
    try {
      parse_entry(entry);
      FAIL("accepted");
    } catch (const Error& e) {
      CHECK(e.kind() == ErrorKind::Cache);
      CHECK(contains(e.message(), "where a 32-bit integer belongs"));
    }
  }
}

TEST_CASE("cache: an entry whose format is not its target's is refused and rebuilt; verify reports it") {
  // Issue 26, item 2: a host entry claiming hsaco, cubin, "" or a NUL byte loaded as a hit and
  // then failed in the loader; `cache verify` called it valid.
  TempDir dir;
  const KernelSpec s = spec("op=rope head_dim=16 q_heads=2 kv_heads=1 dtype=f32");
  std::string path;
  {
    Jit jit(opts_for(dir.path));
    path = jit.build(s, host()).path;
  }
  const std::string good = detail::read_file(path);
  for (const std::string format : {std::string("hsaco"), std::string("cubin"), std::string("ptx"), std::string(),
                                   std::string(1, '\0')}) {
    CAPTURE(format);
    std::string key_text;
    CodeObject co = parse_entry(good, &key_text);
    co.format = format;
    detail::write_file(path, serialize_entry(CacheKey{key_text, hex64(fnv1a64(key_text))}, co));
    const std::string problem = "its format '" + format + "' is not a code-object format of target host (elf-so)";
    auto listed = DiskCache(dir.path, false).list();  // `cache verify`
    REQUIRE(listed.size() == 1);
    CHECK(!listed[0].valid);
    CHECK(listed[0].problem == problem);
    Jit jit(opts_for(dir.path));
    Build b = jit.build(s, host());
    CHECK(b.origin == "compiled");
    auto w = jit.take_warnings();
    REQUIRE(w.size() == 1);
    CHECK(contains(w[0], detail::printable(problem) + "); rebuilding it"));  // a NUL shown as \x00
    CHECK(w[0].find('\0') == std::string::npos);
    CHECK(open_runtime("host")->load(*b.code) != nullptr);  // the rebuilt entry runs
    CHECK(DiskCache(dir.path, false).list().at(0).valid);
  }
}

TEST_CASE("cache: a size cap smaller than one entry keeps the entry just written, with one warning") {
  // Issue 26, item 3: with ROPEGEN_CACHE_MAX_BYTES=0, 1 or 1K the entry just written was
  // evicted at once, and its path was printed as if it existed.
  for (const char* cap : {"0", "1", "1K"}) {
    CAPTURE(cap);
    TempDir dir;
    EnvGuard env;
    env.set("ROPEGEN_CACHE_MAX_BYTES", cap);
    JitOptions o = JitOptions::from_env();
    o.cache_dir = dir.path;
    o.compiler = "host-cxx";
    o.bundle_dirs.clear();
    Jit jit(o);
    std::vector<std::string> paths;
    for (int hd : {16, 24}) {
      std::string text = "op=rope head_dim=" + std::to_string(hd) + " q_heads=1 kv_heads=1 dtype=f32";
      Build b = jit.build(spec(text.c_str()), host());
      CHECK(b.origin == "compiled");
      paths.push_back(b.path);
      CHECK(access(b.path.c_str(), F_OK) == 0);  // the path reported is there
    }
    CHECK(access(paths[0].c_str(), F_OK) != 0);  // the older entry is evicted to honour the cap
    auto w = jit.take_warnings();
    REQUIRE(w.size() == 1);  // once per Jit, not once per store
    CHECK(contains(w[0], "the cache size cap (ROPEGEN_CACHE_MAX_BYTES) of " + std::to_string(o.max_bytes) +
                             " bytes is smaller than one entry"));
    CHECK(contains(w[0], "each store keeps only the entry just written"));
  }
  // prune() itself: the kept path survives a cap of 0; everything else goes.
  TempDir dir;
  Jit jit(opts_for(dir.path));
  const std::string a = jit.build(spec("op=rope head_dim=16 q_heads=1 kv_heads=1"), host()).path;
  const std::string b = jit.build(spec("op=rope head_dim=24 q_heads=1 kv_heads=1"), host()).path;
  CHECK(DiskCache(dir.path, false).prune(0, false, b) == 1);
  CHECK(access(a.c_str(), F_OK) != 0);
  CHECK(access(b.c_str(), F_OK) == 0);
}

TEST_CASE("cache: clear leaves young temporary files of live writers alone") {
  // Issue 26, item 6: `cache clear` removed a live writer's .tmp-* file, whose rename then
  // failed and turned that process's disk cache off. Like prune, clear waits 5 minutes.
  TempDir dir;
  Jit jit(opts_for(dir.path));
  jit.build(spec("op=rope head_dim=16 q_heads=1 kv_heads=1"), host());
  detail::write_file(dir.path + "/.tmp-old123", "partial entry of a writer that died");
  detail::write_file(dir.path + "/.tmp-new456", "a writer still at work");
  const timespec old[2] = {{time(nullptr) - kStaleTempSeconds - 60, 0}, {time(nullptr) - kStaleTempSeconds - 60, 0}};
  REQUIRE(utimensat(AT_FDCWD, (dir.path + "/.tmp-old123").c_str(), old, 0) == 0);
  DiskCache cache(dir.path, false);
  CHECK(cache.clear() == 2);  // the entry and the stale temporary file
  CHECK(cache.list().empty());
  CHECK(access((dir.path + "/.tmp-old123").c_str(), F_OK) != 0);
  CHECK(access((dir.path + "/.tmp-new456").c_str(), F_OK) == 0);
}

TEST_CASE("cache: ROPEGEN_NO_COMPILE with an invalid entry says that it exists and is invalid") {
  // Issue 26, item 11: a zero-size entry read as "no cache entry exists".
  TempDir dir;
  const KernelSpec s = spec("op=rope head_dim=16 q_heads=1 kv_heads=1 dtype=f32");
  std::string path;
  {
    Jit jit(opts_for(dir.path));
    path = jit.build(s, host()).path;
  }
  detail::write_file(path, "");
  JitOptions o = opts_for(dir.path);
  o.no_compile = true;
  Jit jit(o);
  try {
    jit.build(s, host());
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::Cache);
    const std::string w = e.what();
    CAPTURE(w);
    CHECK(contains(w, "ROPEGEN_NO_COMPILE is set and the cache entry for "));
    CHECK(contains(w, " on host exists but is invalid: cache entry " + path +
                          " is unusable (not a ropegen cache entry (bad magic or too short))"));
    CHECK(!contains(w, "no cache entry exists"));
  }
  CHECK(jit.compiles() == 0);
  CHECK(detail::read_file(path).empty());  // nothing was rebuilt
}

TEST_CASE("cache: scratch directories of killed compiles are removed by the next compile") {
  // Issue 26, item 5: killed runs left ropegen-clang-*, ropegen-host-* and comgr-* behind.
  TempDir scratch, dir;
  EnvGuard env;
  env.set("TMPDIR", scratch.path.c_str());
  auto make = [&](const std::string& name, int64_t age) {
    const std::string p = scratch.path + "/" + name;
    REQUIRE(mkdir(p.c_str(), 0700) == 0);
    detail::write_file(p + "/kernel.cpp", "left behind");
    const timespec t[2] = {{time(nullptr) - age, 0}, {time(nullptr) - age, 0}};
    REQUIRE(utimensat(AT_FDCWD, p.c_str(), t, 0) == 0);
    return p;
  };
  const int64_t hour = detail::kStaleScratchSeconds;
  const std::string stale[] = {make("ropegen-clang-aaaaaa", hour + 60), make("ropegen-host-bbbbbb", 2 * hour),
                               make("comgr-cccccc", 10 * hour), make("ropegen-load-dddddd", hour + 1)};
  const std::string young = make("ropegen-host-eeeeee", hour - 120);  // maybe a live compile
  const std::string other = make("ropegen-mine", 10 * hour);          // not a scratch name
  // A symlink with a scratch name is not followed.
  const std::string target = make("kept-target", 10 * hour);
  REQUIRE(symlink(target.c_str(), (scratch.path + "/ropegen-clang-link").c_str()) == 0);
  Jit jit(opts_for(dir.path));
  CHECK(jit.build(spec("op=rope head_dim=8 q_heads=1 kv_heads=1 dtype=f32"), host()).origin == "compiled");
  for (const auto& p : stale) {
    CAPTURE(p);
    CHECK(access(p.c_str(), F_OK) != 0);
  }
  CHECK(access(young.c_str(), F_OK) == 0);
  CHECK(access(other.c_str(), F_OK) == 0);
  CHECK(access((target + "/kernel.cpp").c_str(), F_OK) == 0);
  // The compile's own scratch directory is gone too: only what was left above remains.
  int scratch_dirs = 0;
  for (const auto& e : std::filesystem::directory_iterator(scratch.path))
    scratch_dirs += e.path().filename().string().rfind("ropegen-host-", 0) == 0;
  CHECK(scratch_dirs == 1);
}

TEST_CASE("cache: failed-compile dumps are bounded in number") {
  TempDir scratch;
  EnvGuard env;
  env.set("TMPDIR", scratch.path.c_str());
  env.set("ROPEGEN_DUMP_DIR", nullptr);
  const GeneratedSource g = generate(spec("op=rope head_dim=8 q_heads=1 kv_heads=1"), host());
  std::vector<std::string> paths;
  for (size_t i = 0; i < detail::kMaxFailedDumps + 5; ++i) {
    paths.push_back(detail::dump_failed_source(g));
    REQUIRE(!paths.back().empty());
    // Distinct ages, oldest first.
    const std::string d = paths.back().substr(0, paths.back().rfind('/'));
    const timespec t[2] = {{time(nullptr) - 1000 + static_cast<time_t>(i), 0},
                           {time(nullptr) - 1000 + static_cast<time_t>(i), 0}};
    REQUIRE(utimensat(AT_FDCWD, d.c_str(), t, 0) == 0);
  }
  size_t dumps = 0;
  for (const auto& e : std::filesystem::directory_iterator(scratch.path))
    dumps += e.path().filename().string().rfind("ropegen-failed-", 0) == 0;
  CHECK(dumps == detail::kMaxFailedDumps);
  CHECK(access(paths.front().c_str(), F_OK) != 0);  // the oldest went
  CHECK(access(paths.back().c_str(), F_OK) == 0);   // the newest is kept
}

TEST_CASE("cache: a request's options govern the probe cache and failed-compile dumps") {
  TempDir home, mine, dumps;
  EnvGuard env;
  env.set("ROPEGEN_CACHE_DIR", home.path.c_str());  // what the environment says
  env.set("ROPEGEN_DISABLE_DISK_CACHE", nullptr);
  env.set("ROPEGEN_DUMP_DIR", home.path.c_str());
  int probes = 0;
  auto probe = [&] {
    ++probes;
    return nlohmann::json{{"version", "1"}};
  };
  const std::string probes_file = "/probes-2.json";
  {
    // A context with the disk cache off: probes are not remembered anywhere.
    const detail::StageOptions off{"", "", 0};
    detail::StageScope scope(off);
    detail::cached_probe("test-tool", {}, probe);
    detail::cached_probe("test-tool", {}, probe);
    CHECK(probes == 2);
    CHECK(access((home.path + probes_file).c_str(), F_OK) != 0);
  }
  {
    // A context with its own directory: probes and dumps go there, not to the environment's.
    const detail::StageOptions own{mine.path, dumps.path, 0};
    detail::StageScope scope(own);
    detail::cached_probe("test-tool", {}, probe);
    detail::cached_probe("test-tool", {}, probe);
    CHECK(probes == 3);
    CHECK(access((mine.path + probes_file).c_str(), F_OK) == 0);
    const std::string dumped = detail::dump_failed_source(generate(spec("op=rope head_dim=8 q_heads=1 kv_heads=1"), host()));
    CHECK(dumped.rfind(dumps.path + "/", 0) == 0);
  }
  CHECK(access((home.path + probes_file).c_str(), F_OK) != 0);
  // Outside a request, the environment's.
  detail::cached_probe("test-tool", {}, probe);
  CHECK(access((home.path + probes_file).c_str(), F_OK) == 0);
}
