// The C API: handles over Context and Kernel; every exception becomes a status code.
#include "ropegen/ropegen.h"

#include <cstddef>
#include <cstring>
#include <new>
#include <string>

#include "ropegen/ropegen.hpp"
#include "verify/verify.hpp"
#include "cache/cache.hpp"
#include "api/access.hpp"
#include "api/describe.hpp"
#include "common/process.hpp"

struct ropegen_context {
  std::unique_ptr<ropegen::Context> ctx;
};

struct ropegen_kernel {
  std::shared_ptr<ropegen::Kernel> kernel;  // carries its own Build: what info reports
};

namespace {

thread_local std::string g_last_error;

ropegen_status status_of(ropegen::ErrorKind k) {
  using ropegen::ErrorKind;
  switch (k) {
    case ErrorKind::Parse: return ROPEGEN_ERROR_PARSE;
    case ErrorKind::Spec: return ROPEGEN_ERROR_SPEC;
    case ErrorKind::Target: return ROPEGEN_ERROR_TARGET;
    case ErrorKind::Codegen: return ROPEGEN_ERROR_INTERNAL;
    case ErrorKind::Compile: return ROPEGEN_ERROR_COMPILE;
    case ErrorKind::Load: return ROPEGEN_ERROR_LOAD;
    case ErrorKind::Launch: return ROPEGEN_ERROR_LAUNCH;
    case ErrorKind::Cache: return ROPEGEN_ERROR_CACHE;
    case ErrorKind::Io: return ROPEGEN_ERROR_IO;
    case ErrorKind::Internal: return ROPEGEN_ERROR_INTERNAL;
  }
  return ROPEGEN_ERROR_INTERNAL;
}

/// Runs fn, turning every exception into a status and a message.
template <typename Fn>
ropegen_status guard(Fn&& fn) {
  try {
    fn();
    g_last_error.clear();
    return ROPEGEN_OK;
  } catch (const ropegen::Error& e) {
    g_last_error = e.what();
    return status_of(e.kind());
  } catch (const std::bad_alloc&) {
    g_last_error = "out of memory";
    return ROPEGEN_ERROR_INTERNAL;
  } catch (const std::exception& e) {
    g_last_error = std::string("internal error: ") + e.what();
    return ROPEGEN_ERROR_INTERNAL;
  } catch (...) {
    g_last_error = "internal error: unknown exception";
    return ROPEGEN_ERROR_INTERNAL;
  }
}

ropegen_status invalid(const char* fn, const char* what) {
  g_last_error = std::string(fn) + ": " + what;
  return ROPEGEN_ERROR_INVALID_ARGUMENT;
}

ropegen_field_kind field_kind(ropegen::ArgKind k) {
  switch (k) {
    case ropegen::ArgKind::Pointer: return ROPEGEN_FIELD_POINTER;
    case ropegen::ArgKind::Integer: return ROPEGEN_FIELD_INTEGER;
    case ropegen::ArgKind::Float: return ROPEGEN_FIELD_FLOAT;
  }
  return ROPEGEN_FIELD_INTEGER;
}

}  // namespace

extern "C" {

const char* ropegen_last_error(void) { return g_last_error.c_str(); }

const char* ropegen_status_string(ropegen_status status) {
  switch (status) {
    case ROPEGEN_OK: return "ROPEGEN_OK";
    case ROPEGEN_ERROR_INVALID_ARGUMENT: return "ROPEGEN_ERROR_INVALID_ARGUMENT";
    case ROPEGEN_ERROR_PARSE: return "ROPEGEN_ERROR_PARSE";
    case ROPEGEN_ERROR_SPEC: return "ROPEGEN_ERROR_SPEC";
    case ROPEGEN_ERROR_TARGET: return "ROPEGEN_ERROR_TARGET";
    case ROPEGEN_ERROR_COMPILE: return "ROPEGEN_ERROR_COMPILE";
    case ROPEGEN_ERROR_LOAD: return "ROPEGEN_ERROR_LOAD";
    case ROPEGEN_ERROR_LAUNCH: return "ROPEGEN_ERROR_LAUNCH";
    case ROPEGEN_ERROR_CACHE: return "ROPEGEN_ERROR_CACHE";
    case ROPEGEN_ERROR_IO: return "ROPEGEN_ERROR_IO";
    case ROPEGEN_ERROR_INTERNAL: return "ROPEGEN_ERROR_INTERNAL";
  }
  return "unknown status";
}
const char* ropegen_version_string(void) { return ropegen::ropegen_version(); }

ropegen_status ropegen_context_create(const char* runtime, int device, ropegen_context** out) {
  if (!out) return invalid("ropegen_context_create", "out is NULL");
  *out = nullptr;
  return guard([&] {
    auto c = std::make_unique<ropegen_context>();
    c->ctx = ropegen::Context::open(runtime ? runtime : "auto", device);
    *out = c.release();
  });
}

ropegen_status ropegen_context_create_with_options(const char* runtime, int device,
                                                   const ropegen_context_options* options, ropegen_context** out) {
  if (!out) return invalid("ropegen_context_create_with_options", "out is NULL");
  *out = nullptr;
  if (!options) return invalid("ropegen_context_create_with_options", "options is NULL");
  if (options->size != sizeof(ropegen_context_options))
    return invalid("ropegen_context_create_with_options",
                   ("options->size is " + std::to_string(options->size) + ", expected " +
                    std::to_string(sizeof(ropegen_context_options)) + " (use ROPEGEN_CONTEXT_OPTIONS_INIT)")
                       .c_str());
  return guard([&] {
    ropegen::JitOptions o = ropegen::JitOptions::from_env();
    if (options->cache_dir) o.cache_dir = options->cache_dir;
    if (options->cache_path) o.bundle_dirs = ropegen::detail::split_nonempty(options->cache_path, ':');
    if (options->compiler) o.compiler = options->compiler;
    if (options->dump_dir) o.dump_dir = options->dump_dir;
    if (options->no_compile >= 0) o.no_compile = options->no_compile != 0;
    if (options->verbose >= 0) o.verbose = options->verbose;
    auto c = std::make_unique<ropegen_context>();
    c->ctx = ropegen::Context::open(runtime ? runtime : "auto", device, std::move(o));
    *out = c.release();
  });
}

void ropegen_context_destroy(ropegen_context* ctx) { delete ctx; }

ropegen_status ropegen_context_target(const ropegen_context* ctx, char* buf, size_t len) {
  if (!ctx) return invalid("ropegen_context_target", "ctx is NULL");
  if (!buf || len == 0) return invalid("ropegen_context_target", "buf is NULL or len is 0");
  const std::string id = ctx->ctx->target().id();
  if (id.size() + 1 > len) return invalid("ropegen_context_target", "buffer too small");
  std::memcpy(buf, id.c_str(), id.size() + 1);
  return ROPEGEN_OK;
}

ropegen_status ropegen_bundle_write_manifest(const char* dir, size_t* entries) {
  if (!dir) return invalid("ropegen_bundle_write_manifest", "dir is NULL");
  return guard([&] {
    const size_t n = ropegen::write_bundle_manifest(dir);
    if (entries) *entries = n;
  });
}

ropegen_status ropegen_kernel_create(ropegen_context* ctx, const char* spec, ropegen_kernel** out) {
  if (!out) return invalid("ropegen_kernel_create", "out is NULL");
  *out = nullptr;
  if (!ctx) return invalid("ropegen_kernel_create", "ctx is NULL");
  if (!spec) return invalid("ropegen_kernel_create", "spec is NULL");
  return guard([&] {
    auto k = std::make_unique<ropegen_kernel>();
    k->kernel = ctx->ctx->kernel(std::string(spec));
    *out = k.release();
  });
}

void ropegen_kernel_destroy(ropegen_kernel* kernel) { delete kernel; }

ropegen_status ropegen_kernel_get_info(const ropegen_kernel* kernel, ropegen_kernel_info* out) {
  if (!kernel) return invalid("ropegen_kernel_get_info", "kernel is NULL");
  if (!out) return invalid("ropegen_kernel_get_info", "out is NULL");
  std::memset(out, 0, sizeof *out);
  const ropegen::Build* b = ropegen::InternalAccess::build(*kernel->kernel);
  if (!b) return invalid("ropegen_kernel_get_info", "kernel has no build record (internal)");
  const auto& p = b->plan();
  const auto& a = b->generated->align;
  out->block_threads = p.block_threads;
  out->wave = p.wave;
  out->vec = p.vec;
  out->tensor_align = a.tensor_bytes;
  out->table_align = a.table_bytes;
  out->tokens_per_block = p.tokens_per_block;
  out->head_groups = p.head_groups;
  std::strncpy(out->entry, b->code->entry.c_str(), sizeof out->entry - 1);
  std::strncpy(out->target, b->code->target_id.c_str(), sizeof out->target - 1);
  std::strncpy(out->origin, b->origin.c_str(), sizeof out->origin - 1);
  return ROPEGEN_OK;
}

int ropegen_status_fault(ropegen_status status) {
  using ropegen::ErrorKind;
  if (status == ROPEGEN_OK) return 0;
  if (status == ROPEGEN_ERROR_INVALID_ARGUMENT) return 1;
  for (int k = 0; k <= static_cast<int>(ErrorKind::Internal); ++k) {
    const auto kind = static_cast<ErrorKind>(k);
    if (status_of(kind) == status) return 1 + static_cast<int>(ropegen::fault_of(kind));
  }
  return 3;
}

const ropegen_kernel_args_field* ropegen_kernel_args_layout(size_t* count, size_t* size, unsigned* abi_version) {
  // Same table as the launch checks use (kernel_args_fields), in C form.
  static const std::vector<ropegen_kernel_args_field> fields = [] {
    std::vector<ropegen_kernel_args_field> out;
    for (const auto& f : ropegen::kernel_args_fields()) out.push_back({f.name, f.offset, f.size, field_kind(f.kind)});
    return out;
  }();
  if (count) *count = fields.size();
  if (size) *size = sizeof(ropegen_kernel_args);
  if (abi_version) *abi_version = ROPEGEN_KERNEL_ABI_VERSION;
  return fields.data();
}

ropegen_status ropegen_kernel_describe(const ropegen_kernel* kernel, char* buf, size_t len, size_t* needed) {
  if (!kernel) return invalid("ropegen_kernel_describe", "kernel is NULL");
  if (!buf && len > 0) return invalid("ropegen_kernel_describe", "buf is NULL but len is not 0");
  std::string text;
  ropegen_status st = guard([&] { text = kernel->kernel->describe(); });
  if (st != ROPEGEN_OK) return st;
  if (needed) *needed = text.size() + 1;
  if (len == 0) return ROPEGEN_OK;
  if (text.size() + 1 > len)
    return invalid("ropegen_kernel_describe", ("buffer of " + std::to_string(len) + " bytes is too small; " +
                                               std::to_string(text.size() + 1) + " needed")
                                                  .c_str());
  std::memcpy(buf, text.c_str(), text.size() + 1);
  return ROPEGEN_OK;
}

ropegen_status ropegen_kernel_launch(const ropegen_kernel* kernel, const ropegen_kernel_args* args, void* stream) {
  if (!kernel) return invalid("ropegen_kernel_launch", "kernel is NULL");
  if (!args) return invalid("ropegen_kernel_launch", "args is NULL");
  return guard([&] { kernel->kernel->launch(*args, stream); });
}

ropegen_status ropegen_alloc(ropegen_context* ctx, size_t bytes, void** out) {
  if (!ctx || !out) return invalid("ropegen_alloc", "ctx or out is NULL");
  *out = nullptr;
  return guard([&] { *out = ctx->ctx->runtime().alloc(bytes); });
}

ropegen_status ropegen_free(ropegen_context* ctx, void* ptr) {
  if (!ctx) return invalid("ropegen_free", "ctx is NULL");
  return guard([&] { ctx->ctx->runtime().free(ptr); });
}

ropegen_status ropegen_copy_to_device(ropegen_context* ctx, void* dst, const void* src, size_t bytes) {
  if (!ctx || (bytes && (!dst || !src))) return invalid("ropegen_copy_to_device", "NULL argument");
  return guard([&] { ctx->ctx->runtime().copy_to_device(dst, src, bytes); });
}

ropegen_status ropegen_copy_to_host(ropegen_context* ctx, void* dst, const void* src, size_t bytes) {
  if (!ctx || (bytes && (!dst || !src))) return invalid("ropegen_copy_to_host", "NULL argument");
  return guard([&] { ctx->ctx->runtime().copy_to_host(dst, src, bytes); });
}

ropegen_status ropegen_synchronize(ropegen_context* ctx) {
  if (!ctx) return invalid("ropegen_synchronize", "ctx is NULL");
  return guard([&] { ctx->ctx->runtime().synchronize(); });
}

ropegen_status ropegen_kernel_check(ropegen_context* ctx, const void* bounds_error_buffer, ropegen_bounds_error* out) {
  if (!ctx || !bounds_error_buffer || !out) return invalid("ropegen_kernel_check", "NULL argument");
  *out = ropegen_bounds_error{};
  return guard([&] {
    const ropegen::BoundsError e = ropegen::read_bounds_error(ctx->ctx->runtime(), bounds_error_buffer);
    out->violated = e.violated ? 1 : 0;
    out->token = e.token;
    out->value = e.value;
    out->limit = e.limit;
    out->kind = e.kind;
  });
}

ropegen_status ropegen_kernel_verify(ropegen_context* ctx, const ropegen_kernel* kernel, long long tokens,
                                     unsigned long long seed, int* passed) {
  if (!ctx || !kernel || !passed) return invalid("ropegen_kernel_verify", "NULL argument");
  if (tokens < 0) return invalid("ropegen_kernel_verify", "tokens is negative");
  *passed = 0;
  return guard([&] {
    ropegen::VerifyCase c;
    c.tokens = tokens;
    c.seed = seed;
    *passed = ropegen::verify(ctx->ctx->runtime(), *kernel->kernel, c).passed ? 1 : 0;
  });
}

ropegen_status ropegen_tune(ropegen_context* ctx, const char* spec, const ropegen_tune_options* options,
                            ropegen_tune_result* results, size_t capacity, size_t* count) {
  const char* fn = "ropegen_tune";
  if (count) *count = 0;
  if (!ctx) return invalid(fn, "ctx is NULL");
  if (!spec) return invalid(fn, "spec is NULL");
  if (!results && capacity > 0) return invalid(fn, "results is NULL but capacity is not 0");
  const ropegen_tune_options defaults = ROPEGEN_TUNE_OPTIONS_INIT;
  if (!options) options = &defaults;
  if (options->size != sizeof(ropegen_tune_options))
    return invalid(fn, ("options->size is " + std::to_string(options->size) + ", expected " +
                        std::to_string(sizeof(ropegen_tune_options)) + " (use ROPEGEN_TUNE_OPTIONS_INIT)")
                           .c_str());
  if (!options->buckets && options->num_buckets) return invalid(fn, "options->buckets is NULL but num_buckets is not 0");
  if (options->set < 0 || options->set > 2) return invalid(fn, "options->set must be 0 (auto), 1 (quick) or 2 (full)");
  if (options->reps < 0) return invalid(fn, "options->reps is negative");
  ropegen::TuneOptions to;
  if (options->buckets) to.buckets.assign(options->buckets, options->buckets + options->num_buckets);
  to.reps = options->reps;
  to.set = static_cast<ropegen::TuneSet>(options->set);
  to.store = options->store != 0;
  to.stream = options->stream;
  const size_t n = to.buckets.empty() ? ropegen::default_tune_buckets(ctx->ctx->target()).size() : to.buckets.size();
  if (capacity < n)
    return invalid(fn, ("capacity " + std::to_string(capacity) + " is less than the " + std::to_string(n) + " buckets")
                           .c_str());
  return guard([&] {
    const ropegen::TuneReport r = ctx->ctx->tune(ropegen::parse_spec_line(spec, "<spec>").spec, to);
    for (size_t i = 0; i < r.buckets.size(); ++i) {
      const ropegen::TuneBucket& b = r.buckets[i];
      ropegen_tune_result& o = results[i];
      o = ropegen_tune_result{};
      o.tokens = b.tokens;
      o.default_tokens_per_block = b.default_plan.tokens_per_block;
      o.default_head_groups = b.default_plan.head_groups;
      o.default_us = b.default_us;
      o.best_tokens_per_block = b.best_plan.tokens_per_block;
      o.best_head_groups = b.best_plan.head_groups;
      o.best_us = b.best_us;
      o.candidates = static_cast<int>(b.candidates.size());
    }
    if (count) *count = r.buckets.size();
  });
}

}  // extern "C"
