#include "backend_util.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

#include "../common/env.hpp"
#include "../common/process.hpp"
#include "ropegen/error.hpp"

namespace ropegen::detail {

std::string dump_failed_source(const GeneratedSource& src) {
  try {
    // The request's dump directory (a context's dump_dir), else the environment's.
    std::string dir;
    const StageOptions* o = stage_options();
    const char* env = o ? o->dump_dir.c_str() : std::getenv("ROPEGEN_DUMP_DIR");
    if (env && *env) {
      dir = env;
      mkdir(dir.c_str(), 0700);
    } else {
      bound_temp_dirs("ropegen-failed", kMaxFailedDumps - 1);  // room for this one
      dir = make_temp_dir("ropegen-failed");
    }
    const std::string path = dir + "/" + src.entry + "." + src.target.arch + ".hip";
    write_file(path, src.source);
    return path;
  } catch (...) {
    return "";
  }
}

CodeObject base_code_object(const GeneratedSource& src, const std::string& backend,
                            const std::string& version, const std::string& format,
                            std::string bytes) {
  CodeObject co;
  co.backend = backend;
  co.backend_version = version;
  co.target_id = src.target.id();
  co.format = format;
  co.entry = src.entry;
  co.host_entry = src.host_entry;
  co.plan = src.plan;
  co.align = src.align;
  co.spec = src.spec;
  co.bytes.assign(bytes.begin(), bytes.end());
  return co;
}

void ensure_can_build(const Compiler& c, const Target& t) {
  std::string why;
  if (c.available(&why) && c.supports(t, &why)) return;
  throw Error(ErrorKind::Compile, c.name() + " cannot build for " + t.id() + ": " + why, {{"target", t.id()}});
}


void throw_compile_failure(const Compiler& c, const GeneratedSource& src, const std::string& what,
                           const std::string& options, const std::string& log) {
  throw Error(ErrorKind::Compile, c.name() + " failed to compile " + src.entry + (what.empty() ? "" : ": " + what),
              {{"target", src.target.id()},
               {"options", options},
               {"source", dump_failed_source(src)},
               {"compiler log", log.empty() || log.back() == '\n' ? log : log + "\n"}});
}

std::string find_program(const char* env, const std::vector<std::string>& names) {
  if (env) {
    const char* v = std::getenv(env);
    if (v && *v) return v;
  }
  const char* path = std::getenv("PATH");
  return find_file(names, split_nonempty(path ? path : "/usr/bin:/bin", ':'), X_OK);
}

}  // namespace ropegen::detail
