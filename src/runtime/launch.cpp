// Argument checks shared by every runtime, and the common launch path.
#include <chrono>
#include <cstdint>

#include "ropegen/error.hpp"
#include "ropegen/runtime.hpp"

namespace ropegen {
namespace {

[[noreturn]] void bad(const std::string& msg) { throw Error(ErrorKind::Launch, msg); }

void need(const void* p, const char* name, const char* why) {
  if (!p) bad(std::string("argument '") + name + "' is null but " + why);
}

void aligned(const void* p, int bytes, const char* name) {
  if (p && reinterpret_cast<std::uintptr_t>(p) % static_cast<unsigned>(bytes) != 0)
    bad(std::string("argument '") + name + "' must be aligned to " + std::to_string(bytes) +
        " bytes for this kernel's vector width");
}

void row_stride(long long stride, long long row, int multiple, const char* name) {
  if (stride < row)
    bad(std::string("argument '") + name + "' = " + std::to_string(stride) +
        " is smaller than one token's row of " + std::to_string(row) + " elements");
  if (stride % multiple != 0)
    bad(std::string("argument '") + name + "' = " + std::to_string(stride) +
        " must be a multiple of " + std::to_string(multiple) + " elements (vector width)");
}

}  // namespace

void check_args(const KernelSpec& spec, const ArgAlignment& al, const ropegen_kernel_args& a) {
  if (a.size != sizeof(ropegen_kernel_args) || a.abi_version != ROPEGEN_KERNEL_ABI_VERSION)
    bad("argument block has size " + std::to_string(a.size) + " and ABI version " + std::to_string(a.abi_version) +
        ", but this kernel takes size " + std::to_string(sizeof(ropegen_kernel_args)) + " and ABI version " +
        std::to_string(ROPEGEN_KERNEL_ABI_VERSION) +
        " (initialise it with ROPEGEN_KERNEL_ARGS_INIT from the kernel_args.h of this ropegen)");
  if (a.num_tokens < 0) bad("argument 'num_tokens' = " + std::to_string(a.num_tokens) + " is negative");
  if (a.num_tokens == 0) return;
  const long long kv_row = static_cast<long long>(spec.kv_heads) * spec.head_dim;
  if (spec.uses_q()) {
    need(a.q, "q", ("op = " + std::string(to_string(spec.op)) + " rotates q").c_str());
    aligned(a.q, al.tensor_bytes, "q");
    row_stride(a.q_stride, static_cast<long long>(spec.q_heads) * spec.head_dim, al.row_elems, "q_stride");
  }
  need(a.k, "k", "every op reads k");
  aligned(a.k, al.tensor_bytes, "k");
  row_stride(a.k_stride, kv_row, al.row_elems, "k_stride");
  if (spec.uses_cache()) {
    need(a.v, "v", "the op appends v to the cache");
    aligned(a.v, al.tensor_bytes, "v");
    row_stride(a.v_stride, kv_row, al.row_elems, "v_stride");
    need(a.k_cache, "k_cache", "the op appends to the cache");
    need(a.v_cache, "v_cache", "the op appends to the cache");
    aligned(a.k_cache, al.tensor_bytes, "k_cache");
    aligned(a.v_cache, al.tensor_bytes, "v_cache");
    if (spec.cache.kind == CacheKind::Paged)
      need(a.slot_mapping, "slot_mapping", "a paged cache needs a slot per token");
    else if (!a.slot_mapping)
      need(a.positions, "positions", "without slot_mapping a contiguous cache is written at each position");
    if (spec.cache.kind == CacheKind::Contiguous && spec.cache.order == CacheOrder::Hnd && a.max_seq <= 0)
      bad("argument 'max_seq' = " + std::to_string(a.max_seq) +
          " must be positive for a contiguous(order = hnd) cache");
  }
  if (spec.uses_rope()) {
    need(a.positions, "positions", "RoPE needs a position per token");
    if (spec.cos_sin.source == CosSinSource::Table) {
      need(a.cos, "cos", "the spec says cos_sin = table");
      need(a.sin, "sin", "the spec says cos_sin = table");
      aligned(a.cos, al.table_bytes, "cos");
      aligned(a.sin, al.table_bytes, "sin");
      if (a.cos_sin_stride < spec.rotary_dim / 2)
        bad("argument 'cos_sin_stride' = " + std::to_string(a.cos_sin_stride) +
            " is smaller than rotary_dim / 2 = " + std::to_string(spec.rotary_dim / 2));
      if (a.cos_sin_stride % al.table_elems != 0)
        bad("argument 'cos_sin_stride' = " + std::to_string(a.cos_sin_stride) +
            " must be a multiple of " + std::to_string(al.table_elems));
    }
  }
}

void Kernel::launch(const ropegen_kernel_args& args, void* stream, int parallelism) const {
  check_args(spec_, align_, args);
  if (args.num_tokens == 0) return;
  auto grid = plan_.grid(args.num_tokens, parallelism > 0 ? parallelism : default_parallelism());
  if (grid.first == 0 || static_cast<long long>(grid.first) * plan_.tokens_per_block < args.num_tokens)
    bad("argument 'num_tokens' = " + std::to_string(args.num_tokens) + " is too large for one launch");
  launch_checked(args, grid.first, grid.second, stream);
}

}  // namespace ropegen

namespace ropegen {

std::unique_ptr<Runtime> open_runtime(const std::string& name, int device) {
  if (name == "cuda") return make_cuda_runtime(device);
  if (name == "hip") return make_hip_runtime(device);
  if (name == "host") return make_host_runtime();
  if (name != "auto") throw Error(ErrorKind::Load, "unknown runtime '" + name + "'; valid: auto, cuda, hip, host");
  for (auto make : {make_cuda_runtime, make_hip_runtime}) {
    try {
      return make(device);
    } catch (const Error&) {
      // No such GPU here: try the next.
    }
  }
  return make_host_runtime();
}

}  // namespace ropegen

namespace ropegen {

double Runtime::time_ms(const std::function<void()>& work, void* stream) {
  synchronize_stream(stream);
  auto t0 = std::chrono::steady_clock::now();
  work();
  synchronize_stream(stream);
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace ropegen
