#include "probe_cache.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <mutex>

#include "../common/env.hpp"
#include "../common/process.hpp"
#include "cache.hpp"

namespace ropegen::detail {
namespace {

std::string fingerprint(const std::vector<std::string>& files) {
  std::string out;
  for (const auto& f : files) {
    char resolved[PATH_MAX];
    struct stat st {};
    if (!realpath(f.c_str(), resolved) || stat(resolved, &st) != 0) {
      out += f + ":missing;";
      continue;
    }
    out += std::string(resolved) + ":" + std::to_string(st.st_size) + ":" + std::to_string(st.st_mtim.tv_sec) +
           "." + std::to_string(st.st_mtim.tv_nsec) + ";";
  }
  return out;
}

std::mutex g_mu;

}  // namespace

nlohmann::json cached_probe(const std::string& tool, const std::vector<std::string>& files,
                            const std::function<nlohmann::json()>& probe) {
  // The request's cache directory (a context's cache_dir), else the environment's.
  std::string dir;
  if (const StageOptions* o = stage_options()) {
    dir = o->cache_dir;
  } else {
    const char* off = std::getenv("ROPEGEN_DISABLE_DISK_CACHE");
    if (off && *off && std::string(off) != "0") return probe();
    dir = default_cache_dir();
  }
  // Only a private directory: the probes name the compilers ropegen runs.
  if (dir.empty() || (access(dir.c_str(), F_OK) == 0 && !untrusted_dir_reason(dir).empty())) return probe();
  const std::string path = dir + "/probes-2.json";
  const std::string fp = fingerprint(files);
  std::lock_guard<std::mutex> lock(g_mu);
  nlohmann::json all = nlohmann::json::object();
  try {
    all = nlohmann::json::parse(read_file(path));
    if (!all.is_object()) all = nlohmann::json::object();
    auto it = all.find(tool);
    if (it != all.end() && it->value("fingerprint", "") == fp && it->contains("result")) return it->at("result");
  } catch (...) {
    all = nlohmann::json::object();  // missing or corrupt: probe again and rewrite
  }
  nlohmann::json result = probe();
  try {
    all[tool] = {{"fingerprint", fp}, {"result", result}};
    mkdir(dir.c_str(), 0700);
    write_file(path, all.dump(1));
  } catch (...) {
    // An unwritable cache only costs the probe next time.
  }
  return result;
}

std::string resolve_library(const std::vector<std::string>& names) {
  std::vector<std::string> dirs;
  if (const char* l = std::getenv("LD_LIBRARY_PATH")) dirs = split_nonempty(l, ':');
  for (const char* d : {"/usr/local/lib", "/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu", "/usr/lib64",
                        "/usr/lib", "/lib", "/opt/rocm/lib", "/usr/local/cuda/lib64", "/usr/local/cuda/targets/x86_64-linux/lib"})
    dirs.push_back(d);
  return find_file(names, dirs, R_OK);
}

}  // namespace ropegen::detail
