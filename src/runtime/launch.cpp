// Argument checks shared by every runtime, and the common launch path.
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "../vendors/vendors.hpp"
#include "ropegen/error.hpp"
#include "ropegen/runtime.hpp"
#include "compile/compile.hpp"
#include "families/family.hpp"
#include "runtime/args.hpp"

namespace ropegen {
namespace {

[[noreturn]] void bad(const std::string& msg) { throw Error(ErrorKind::Launch, msg); }

void aligned(const void* p, int bytes, const ArgRequirement& r) {
  if (p && reinterpret_cast<std::uintptr_t>(p) % static_cast<unsigned>(bytes) != 0)
    bad(std::string("argument '") + r.name + "' must be aligned to " + std::to_string(bytes) + " bytes " +
        (r.dtype == "i32" || r.dtype == "i64" || r.dtype == "u64" ? "(the size of its " + r.dtype + " elements)"
                                                                  : std::string("for this kernel's vector width")));
}

const ArgField& field(const char* name) {
  for (const ArgField& f : kernel_args_fields())
    if (std::strcmp(f.name, name) == 0) return f;
  throw Error(ErrorKind::Internal, std::string("no argument field named '") + name + "'");
}

const void* pointer_at(const ropegen_kernel_args& a, size_t offset) {
  const void* p;
  std::memcpy(&p, reinterpret_cast<const char*>(&a) + offset, sizeof p);
  return p;
}

long long integer_at(const ropegen_kernel_args& a, size_t offset) {
  long long v;
  std::memcpy(&v, reinterpret_cast<const char*>(&a) + offset, sizeof v);
  return v;
}

/// cache = paged(order = strided): the cache strides (elements; 0: the nhd layout's) are
/// positive whole vectors; with checks = bounds the head rows of k_cache and v_cache (pages of
/// cache_slots / block, block tokens, kv_heads heads) may not overlap. Strides given to a
/// kernel of another layout are refused.
void check_cache_strides(const std::vector<ArgRequirement>& requirements, const KernelSpec& spec,
                         const ropegen_kernel_args& a) {
  struct Dim {
    const char* field;
    long long stride, extent;  // stride in elements
  };
  Dim dims[] = {{"cache_head_stride", a.cache_head_stride, spec.kv_heads},
                {"cache_token_stride", a.cache_token_stride, spec.cache.block},
                {"cache_block_stride", a.cache_block_stride, 0}};
  const bool strided = spec.uses_cache() && spec.cache.order == CacheOrder::Strided;
  // scales_at = page: cache_block_stride is the bytes between pages (0: one page), K and V
  // pages in one allocation; a multiple of the page's alignment, not within a page.
  const long long page = spec.uses_cache() && spec.codec.scales_at == ScalesAt::Page ? cache_record_bytes(spec) : 0;
  if (page > 0) {
    const long long s = a.cache_block_stride, align = cache_record_align(spec);
    if (s < 0 || s % align != 0 || (s != 0 && s < page))
      bad("argument 'cache_block_stride' = " + std::to_string(s) + " must be 0 (pages " + std::to_string(page) +
          " bytes apart) or a multiple of " + std::to_string(align) + " bytes of at least one page (" +
          std::to_string(page) + " bytes: codes and scales of block * kv_heads rows)");
    dims[2].stride = 0;  // checked here; the others as for every fixed layout
  }
  for (const Dim& d : dims)
    if (!strided && d.stride != 0)
      bad(std::string("argument '") + d.field + "' = " + std::to_string(d.stride) +
          " needs cache = paged(order = strided) in the spec (this kernel's cache layout is fixed)");
  if (!strided) return;
  const ArgRequirement* k = nullptr;
  for (const ArgRequirement& r : requirements)
    if (std::strcmp(r.field, "k_cache") == 0) k = &r;
  const long long multiple = k ? k->stride_multiple : 1;
  const long long D = spec.head_dim, H = spec.kv_heads, B = spec.cache.block;
  const long long defaults[] = {D, H * D, B * H * D};
  for (int i = 0; i < 3; ++i) {
    Dim& d = dims[i];
    if (d.stride < 0)
      bad(std::string("argument '") + d.field + "' = " + std::to_string(d.stride) + " is negative (0 means the nhd layout's " +
          std::to_string(defaults[i]) + ")");
    if (d.stride % multiple != 0)
      bad(std::string("argument '") + d.field + "' = " + std::to_string(d.stride) + " must be a multiple of " +
          std::to_string(multiple) + " elements (vector width)");
    if (d.stride == 0) d.stride = defaults[i];
  }
  if (spec.checks != Checks::Bounds || a.cache_slots <= 0) return;
  // Overlap: sorted by stride, each dimension's stride must clear the span of the ones inside
  // it (a head row of D elements first). K and V in one tensor: the K-to-V distance (v_cache -
  // k_cache) is one more dimension of extent 2 unless V lies past K's whole span.
  dims[2].extent = (a.cache_slots + B - 1) / B;
  const long long bytes = k ? (k->dtype == "f32" ? 4 : k->dtype == "f16" || k->dtype == "bf16" ? 2 : 1) : 1;
  std::vector<Dim> order(std::begin(dims), std::end(dims));
  auto spans = [&](std::vector<Dim> v, std::string& clash) {  // the whole span in elements, or -1 at a clash
    std::sort(v.begin(), v.end(), [](const Dim& x, const Dim& y) { return x.stride < y.stride; });
    long long span = D;
    for (const Dim& d : v) {
      if (d.extent <= 1) continue;
      if (d.stride < span) {
        clash = std::string("argument '") + d.field + "' = " + std::to_string(d.stride) + " is smaller than the " +
                std::to_string(span) + " elements the cache's inner dimensions span: rows of k_cache and v_cache " +
                "would overlap (checks = bounds; strides " + std::to_string(dims[0].stride) + " per head, " +
                std::to_string(dims[1].stride) + " per token, " + std::to_string(dims[2].stride) + " per page, " +
                std::to_string(dims[2].extent) + " pages of cache_slots)";
        return -1LL;
      }
      span += (d.extent - 1) * d.stride;
    }
    return span;
  };
  std::string clash;
  const long long span = spans(order, clash);
  if (span < 0) bad(clash);
  if (a.k_cache && a.v_cache) {
    const long long diff = reinterpret_cast<const char*>(a.v_cache) - reinterpret_cast<const char*>(a.k_cache);
    const long long dist = diff < 0 ? -diff : diff;
    if (dist >= span * bytes) return;  // separate tensors, or [2, N, ...]
    if (dist % bytes != 0 || dist == 0)
      bad("argument 'v_cache' lies " + std::to_string(diff) + " bytes from k_cache, inside k_cache's rows (checks = "
          "bounds): K and V would overlap");
    order.push_back({"v_cache", dist / bytes, 2});
    if (spans(order, clash) < 0)
      bad("argument 'v_cache' lies " + std::to_string(diff / bytes) + " elements from k_cache: K and V rows would " +
          "overlap (checks = bounds; the K-to-V distance must clear the dimensions inside it, or k_cache's whole span of " +
          std::to_string(span) + " elements)");
  }
}

/// layers = many: num_layers in 1 .. 65535 (grid z), the record array given, q's layer stride
/// nonzero when q is rotated in place over several layers; every layer field zero otherwise.
void check_layers(const std::vector<ArgRequirement>& requirements, const KernelSpec& spec,
                  const ropegen_kernel_args& a) {
  if (spec.layers != Layers::Many) {
    if (a.num_layers > 1 || a.num_layers < 0 || a.layers || a.q_layer_stride || a.k_layer_stride || a.v_layer_stride)
      bad(std::string("argument '") +
          (a.num_layers > 1 || a.num_layers < 0 ? "num_layers"
           : a.layers                           ? "layers"
           : a.q_layer_stride                   ? "q_layer_stride"
           : a.k_layer_stride                   ? "k_layer_stride"
                                                : "v_layer_stride") +
          "' is set but the spec has layers = one (set layers = many for one launch over many layers)");
    return;
  }
  if (a.num_layers < 1 || a.num_layers > 65535)
    bad("argument 'num_layers' = " + std::to_string(a.num_layers) +
        " must be in 1 .. 65535 with layers = many (one block of grid z per layer)");
  if (!a.layers) bad("argument 'layers' is null but the spec says layers = many (one ropegen_layer_args per layer)");
  for (const ArgRequirement& r : requirements) {
    if (!r.layer_stride) continue;
    const long long stride = integer_at(a, field(r.layer_stride).offset);
    if (stride % r.stride_multiple != 0)
      bad(std::string("argument '") + r.layer_stride + "' = " + std::to_string(stride) + " must be a multiple of " +
          std::to_string(r.stride_multiple) + " elements (vector width)");
    if (stride == 0 && a.num_layers > 1 && std::strcmp(r.access, "read") != 0)
      bad(std::string("argument '") + r.layer_stride + "' = 0: every layer would write the same " + r.name +
          " (layer l's is " + r.name + " + l * " + r.layer_stride + ")");
  }
}

const char* index_dtype(const KernelSpec& s) { return s.index == IndexType::I32 ? "i32" : "i64"; }
int index_bytes(const KernelSpec& s) { return s.index == IndexType::I32 ? 4 : 8; }

}  // namespace

/// A field of declared type T: its size and kind come from the type.
template <class T>
ArgField arg_field(const char* name, size_t offset) {
  return ArgField{name, offset, sizeof(T), arg_kind_of<T>()};
}

const std::vector<ArgField>& kernel_args_fields() {
#define ROPEGEN_FIELD(name) \
  arg_field<decltype(ropegen_kernel_args::name)>(#name, offsetof(ropegen_kernel_args, name))
  // In declaration order; tests/capi checks that the fields tile the whole block.
  static const std::vector<ArgField> fields = {
      ROPEGEN_FIELD(size),     ROPEGEN_FIELD(abi_version),    ROPEGEN_FIELD(num_tokens), ROPEGEN_FIELD(positions),
      ROPEGEN_FIELD(slot_mapping), ROPEGEN_FIELD(q),          ROPEGEN_FIELD(q_stride),   ROPEGEN_FIELD(k),
      ROPEGEN_FIELD(k_stride), ROPEGEN_FIELD(v),              ROPEGEN_FIELD(v_stride),   ROPEGEN_FIELD(cos),
      ROPEGEN_FIELD(sin),      ROPEGEN_FIELD(cos_sin_stride), ROPEGEN_FIELD(k_cache),    ROPEGEN_FIELD(v_cache),
      ROPEGEN_FIELD(max_seq),
      // ABI version 3: checks = bounds.
      ROPEGEN_FIELD(cache_slots), ROPEGEN_FIELD(table_rows), ROPEGEN_FIELD(bounds_error),
      // ABI version 4: head strides, out-of-place outputs, position rows, sequence lengths.
      ROPEGEN_FIELD(q_head_stride), ROPEGEN_FIELD(k_head_stride), ROPEGEN_FIELD(v_head_stride),
      ROPEGEN_FIELD(q_out), ROPEGEN_FIELD(q_out_stride), ROPEGEN_FIELD(k_out), ROPEGEN_FIELD(k_out_stride),
      ROPEGEN_FIELD(positions_stride), ROPEGEN_FIELD(seq_lens), ROPEGEN_FIELD(k_scale), ROPEGEN_FIELD(v_scale),
      ROPEGEN_FIELD(q_scale), ROPEGEN_FIELD(q_norm_weight), ROPEGEN_FIELD(k_norm_weight),
      // ABI version 5: the scales quantized caches write.
      ROPEGEN_FIELD(k_cache_scales), ROPEGEN_FIELD(v_cache_scales), ROPEGEN_FIELD(q_out_scales),
      // ABI version 6: cache addressing.
      ROPEGEN_FIELD(cache_block_stride), ROPEGEN_FIELD(cache_token_stride), ROPEGEN_FIELD(cache_head_stride),
      ROPEGEN_FIELD(ring_base),
      // ABI version 7: sums across launches (all-heads QK norm under tensor parallelism), token grids.
      ROPEGEN_FIELD(norm_sums), ROPEGEN_FIELD(grid_h), ROPEGEN_FIELD(grid_w),
      // and QKV biases, the gate halves of gated attention.
      ROPEGEN_FIELD(q_bias), ROPEGEN_FIELD(k_bias), ROPEGEN_FIELD(v_bias), ROPEGEN_FIELD(gate_out),
      ROPEGEN_FIELD(gate_out_stride),
      // ABI version 8: many layers in one launch.
      ROPEGEN_FIELD(num_layers), ROPEGEN_FIELD(layers), ROPEGEN_FIELD(q_layer_stride), ROPEGEN_FIELD(k_layer_stride),
      ROPEGEN_FIELD(v_layer_stride),
  };
#undef ROPEGEN_FIELD
  return fields;
}

const std::vector<ArgField>& layer_args_fields() {
#define ROPEGEN_FIELD(name) \
  arg_field<decltype(ropegen_layer_args::name)>(#name, offsetof(ropegen_layer_args, name))
  static const std::vector<ArgField> fields = {
      ROPEGEN_FIELD(k_cache),       ROPEGEN_FIELD(v_cache),       ROPEGEN_FIELD(k_cache_scales),
      ROPEGEN_FIELD(v_cache_scales), ROPEGEN_FIELD(k_scale),      ROPEGEN_FIELD(v_scale),
      ROPEGEN_FIELD(q_scale),       ROPEGEN_FIELD(q_out),         ROPEGEN_FIELD(k_out),
      ROPEGEN_FIELD(q_out_scales),  ROPEGEN_FIELD(gate_out),      ROPEGEN_FIELD(q_norm_weight),
      ROPEGEN_FIELD(k_norm_weight), ROPEGEN_FIELD(q_bias),        ROPEGEN_FIELD(k_bias),
      ROPEGEN_FIELD(v_bias),
  };
#undef ROPEGEN_FIELD
  return fields;
}

std::string ArgContext::store_name(StoreType t) const {
  if (t == StoreType::Auto) return to_string(spec.dtype);
  // Quantized caches are bytes: int8 codes, int4 codes two per byte, e2m1 codes two per byte
  // ("e2m1x2": PyTorch's float4_e2m1fn_x2, or the raw bytes).
  if (t == StoreType::Int8) return "i8";
  if (t == StoreType::Int4) return "u8";
  if (t == StoreType::Nvfp4 || t == StoreType::Mxfp4) return "e2m1x2";
  if (!is_fp8(t)) return to_string(t);
  const bool fnuz = target ? fp8_fnuz_on(target->caps, t) : (t == StoreType::Fp8E4m3Fnuz || t == StoreType::Fp8E5m2Fnuz);
  const bool e4m3 = t == StoreType::Fp8E4m3 || t == StoreType::Fp8E4m3Fnuz;
  return std::string(e4m3 ? "fp8_e4m3" : "fp8_e5m2") + (fnuz ? "fnuz" : "");
}

int ArgContext::store_bytes(StoreType t) const {
  if (t == StoreType::Auto) return dtype_bytes(spec.dtype);
  if (is_fp8(t) || t == StoreType::Int8 || t == StoreType::Int4 || t == StoreType::Nvfp4 || t == StoreType::Mxfp4)
    return 1;
  return t == StoreType::F32 ? 4 : 2;
}

void ArgContext::tables(std::vector<ArgRequirement>& out) const {
  if (spec.cos_sin.source != CosSinSource::Table) return;
  for (const char* name : {"cos", "sin"}) {
    ArgRequirement t{name};
    // table(per_head = true): a position's row holds kv_heads tables, one after another.
    const long long row = static_cast<long long>(spec.rotary_dim / 2) * (spec.cos_sin.per_head ? spec.kv_heads : 1);
    t.why = spec.cos_sin.per_head ? "the spec says cos_sin = table(per_head = true)" : "the spec says cos_sin = table";
    t.dtype = "f32";
    t.align = align.table_bytes;
    t.shape = {kDimFree, row};
    t.stride = "cos_sin_stride";
    t.min_stride = row;
    t.stride_multiple = align.table_elems;
    out.push_back(t);
  }
}

ArgRequirement ArgContext::index(const char* name, std::string why) const {
  ArgRequirement r{name};
  r.why = std::move(why);
  r.dtype = index_dtype(spec);
  r.align = index_bytes(spec);
  r.shape = {kDimTokens};
  return r;
}

ArgRequirement ArgContext::scale(const char* name, long long n, std::string why) const {
  ArgRequirement r{name};
  r.why = std::move(why);
  r.dtype = "f32";
  r.align = 4;
  r.shape = {n};
  return r;
}

ArgRequirement ArgContext::rows(const char* name, const char* stride, long long heads, const char* access,
                                std::string why) const {
  ArgRequirement r{name};
  r.why = std::move(why);
  r.dtype = to_string(spec.dtype);
  r.access = access;
  r.align = align.tensor_bytes;
  r.shape = {kDimTokens, heads, static_cast<long long>(spec.head_dim)};
  r.stride = stride;
  r.min_stride = heads * spec.head_dim;
  r.stride_multiple = align.row_elems;
  return r;
}

std::vector<ArgRequirement> argument_requirements(const KernelSpec& s, const ArgAlignment& al, const Target* target) {
  std::vector<ArgRequirement> out;
  family_of(s.op).requirements(ArgContext{s, al, target}, out);
  for (ArgRequirement& r : out) {
    r.name = arg_name(s, r.field);
    r.offset = field(r.field).offset;
    if (r.stride) r.stride_offset = field(r.stride).offset;
  }
  if (s.layers == Layers::Many) {
    // One launch, many layers: q, k, v move by their layer strides; every other argument that
    // is a layer's own comes from its record; the record array is one more argument.
    for (ArgRequirement& r : out) {
      if (std::strcmp(r.field, "q") == 0) r.layer_stride = "q_layer_stride";
      if (std::strcmp(r.field, "k") == 0) r.layer_stride = "k_layer_stride";
      if (std::strcmp(r.field, "v") == 0) r.layer_stride = "v_layer_stride";
      for (const ArgField& f : layer_args_fields())
        if (std::strcmp(f.name, r.field) == 0) r.layer_offset = static_cast<long long>(f.offset);
    }
    ArgRequirement l{"layers"};
    l.why = "the spec says layers = many: one ropegen_layer_args record per layer (num_layers of them)";
    l.dtype = "u64";
    l.align = 8;
    l.shape = {kDimFree, static_cast<long long>(sizeof(ropegen_layer_args) / 8)};
    l.offset = field("layers").offset;
    out.push_back(l);
  }
  return out;
}

void check_args(const KernelSpec& spec, const ArgAlignment& al, const ropegen_kernel_args& a) {
  check_args(argument_requirements(spec, al, nullptr), spec, a);
}

void check_args(const std::vector<ArgRequirement>& requirements, const KernelSpec& spec,
                const ropegen_kernel_args& a) {
  if (a.size != sizeof(ropegen_kernel_args) || a.abi_version != ROPEGEN_KERNEL_ABI_VERSION)
    bad("argument block has size " + std::to_string(a.size) + " and ABI version " + std::to_string(a.abi_version) +
        ", but this kernel takes size " + std::to_string(sizeof(ropegen_kernel_args)) + " and ABI version " +
        std::to_string(ROPEGEN_KERNEL_ABI_VERSION) +
        " (initialise it with ROPEGEN_KERNEL_ARGS_INIT from the kernel_args.h of this ropegen)");
  if (a.num_tokens < 0) bad("argument 'num_tokens' = " + std::to_string(a.num_tokens) + " is negative");
  if (a.num_tokens == 0) return;
  check_layers(requirements, spec, a);
  for (const ArgRequirement& r : requirements) {
    const void* p = pointer_at(a, r.offset);
    if (r.layer_offset >= 0) {  // layers = many: in each layer's record, which the host cannot read
      if (p)
        bad(std::string("argument '") + r.name + "' is set, but with layers = many each layer's " + r.name +
            " comes from its record (layers[l]." + r.field + "); leave it null");
      continue;
    }
    if (!p) {
      // positions may be left out of a contiguous append only when slot_mapping is given.
      const bool needed = r.required || (r.unless_slots && !a.slot_mapping);
      if (needed) bad(std::string("argument '") + r.name + "' is null but " + r.why);
      continue;
    }
    aligned(p, r.align, r);
    if (!r.stride) continue;
    const long long stride = integer_at(a, r.stride_offset);
    if (stride < r.min_stride)
      bad(std::string("argument '") + r.stride + "' = " + std::to_string(stride) + " is smaller than " +
          (std::strcmp(r.stride, "cos_sin_stride") != 0 ? "one token's row of " + std::to_string(r.min_stride) + " elements"
                                                        : "rotary_dim / 2 = " + std::to_string(r.min_stride)));
    if (stride % r.stride_multiple != 0)
      bad(std::string("argument '") + r.stride + "' = " + std::to_string(stride) + " must be a multiple of " +
          std::to_string(r.stride_multiple) +
          (std::strcmp(r.stride, "cos_sin_stride") != 0 ? " elements (vector width)" : ""));
  }
  // Head strides (vLLM's padded heads): whole vectors, at least a head apart, and a token's
  // heads inside its row.
  struct HeadLayout {
    const char* tensor;
    const char* field;
    const void* ptr;
    long long head_stride, stride, heads;
  };
  const HeadLayout layouts[] = {
      {"q", "q_head_stride", a.q, a.q_head_stride, a.q_stride, spec.uses_q() ? spec.q_heads : 0},
      {"k", "k_head_stride", a.k, a.k_head_stride, a.k_stride, spec.kv_heads},
      {"v", "v_head_stride", a.v, a.v_head_stride, a.v_stride, spec.uses_cache() ? spec.kv_heads : 0}};
  const bool gated = spec.uses_rope() && spec.gate == Gate::Interleaved;
  if (gated && a.q_head_stride != 0 && a.q_head_stride != 2LL * spec.head_dim)
    bad("argument 'q_head_stride' = " + std::to_string(a.q_head_stride) + ": with gate = interleaved q's heads are " +
        std::to_string(2 * spec.head_dim) + " elements apart (each head's q, then its gate; leave it 0)");
  for (const HeadLayout& h : layouts) {
    if (h.head_stride == 0 || !h.ptr || h.heads == 0) continue;
    if (gated && std::strcmp(h.field, "q_head_stride") == 0) continue;  // checked above
    const std::string name = std::string("argument '") + h.field + "' = " + std::to_string(h.head_stride);
    if (spec.heads != Heads::Strided && h.head_stride != spec.head_dim)
      bad(name + " needs heads = strided in the spec (this kernel's heads are packed, head_dim apart)");
    if (h.head_stride < spec.head_dim)
      bad(name + " is smaller than head_dim = " + std::to_string(spec.head_dim) + " (0 means packed heads)");
    int multiple = 1;
    for (const ArgRequirement& r : requirements)
      if (std::strcmp(r.field, h.tensor) == 0) multiple = r.stride_multiple;
    if (h.head_stride % multiple != 0)
      bad(name + " must be a multiple of " + std::to_string(multiple) + " elements (vector width)");
    const long long row = (h.heads - 1) * h.head_stride + spec.head_dim;
    if (h.stride < row)
      bad(std::string("argument '") + h.tensor + "_stride' = " + std::to_string(h.stride) + " is smaller than one token's " +
          std::to_string(h.heads) + " heads " + std::to_string(h.head_stride) + " apart (" + std::to_string(row) +
          " elements)");
  }
  check_cache_strides(requirements, spec, a);
  if (spec.uses_cache() && spec.window.on && a.slot_mapping)
    bad("argument 'slot_mapping' is set but the spec has window = ring(...): the slot comes from ring_base and the "
        "position (leave slot_mapping null)");
  if (a.ring_base && !(spec.uses_cache() && spec.window.on))
    bad("argument 'ring_base' is set but the spec has no window = ring(...)");
  // positions = grid: the grid's height and width, each positive and below 2^31 (their product
  // and a position's frame stay in 64 bits); zero elsewhere.
  const bool grid = spec.uses_rope() && spec.positions.kind == PositionsKind::Grid;
  for (const auto& [name, value] : {std::pair<const char*, long long>{"grid_h", a.grid_h},
                                    std::pair<const char*, long long>{"grid_w", a.grid_w}}) {
    if (!grid && value != 0)
      bad(std::string("argument '") + name + "' = " + std::to_string(value) +
          " is set but the spec has no positions = grid(...) (leave it 0)");
    if (grid && (value <= 0 || value >= (1LL << 31)))
      bad(std::string("argument '") + name + "' = " + std::to_string(value) +
          " must be in 1 .. 2^31 - 1 for positions = grid(...) (the token grid's " +
          (name[5] == 'h' ? "height" : "width") + ")");
  }
  if (a.norm_sums && !(spec.uses_rope() && spec.qk_norm.on && spec.qk_norm.sums != NormSums::None))
    bad("argument 'norm_sums' is set but the spec has no qk_norm = rms(span = all_heads, sums = write | read)");
  // An output the family always writes (the indexer's fp8 q_out) needs no outputs key.
  auto always = [&](const char* f) {
    for (const ArgRequirement& r : requirements)
      if (std::strcmp(r.field, f) == 0 && r.required && std::strcmp(r.access, "read") != 0) return true;
    return false;
  };
  if (((a.q_out && !always("q_out")) || (a.k_out && !always("k_out"))) &&
      !(spec.uses_rope() && spec.outputs == Outputs::Separate))
    bad(std::string("argument '") + (a.q_out && !always("q_out") ? "q_out" : "k_out") + "' is set but the spec has " +
        (spec.uses_rope() ? "outputs = in_place (set outputs = separate)" : "op = kv_append, which rotates nothing"));
  if (spec.uses_rope() && !spec.uses_cache() && !a.k && a.k_out)
    bad("argument 'k_out' is set but 'k' is null: there is no k to rotate");
  if (spec.uses_rope() && spec.positions.kind != PositionsKind::Single && a.positions_stride != 0 &&
      a.positions_stride < a.num_tokens)
    bad("argument 'positions_stride' = " + std::to_string(a.positions_stride) + " is smaller than num_tokens = " +
        std::to_string(a.num_tokens) + " (the t, h, w rows of positions would overlap)");
  if (spec.uses_cache() && spec.cache.kind == CacheKind::Contiguous && spec.cache.order == CacheOrder::Hnd &&
      a.max_seq <= 0)
    bad("argument 'max_seq' = " + std::to_string(a.max_seq) + " must be positive for a contiguous(order = hnd) cache");
  // The limits (every checks mode; 0: none). Below 2^56: with checks = bounds a limit shares
  // word 3 of bounds_error with the kind (bits 56..63), and one range for every mode.
  constexpr long long kMaxLimit = 1LL << 56;
  for (const auto& [name, value] : {std::pair<const char*, long long>{"cache_slots", a.cache_slots},
                                    std::pair<const char*, long long>{"table_rows", a.table_rows}}) {
    if (value < 0)
      bad(std::string("argument '") + name + "' = " + std::to_string(value) +
          " is negative (0 means no limit)");
    if (value >= kMaxLimit)
      bad(std::string("argument '") + name + "' = " + std::to_string(value) + " must be below 2^56");
  }
  if (spec.checks == Checks::Bounds) {
    if (spec.uses_cache() && a.cache_slots <= 0)
      bad("argument 'cache_slots' = " + std::to_string(a.cache_slots) +
          " must be positive with checks = bounds (the slots the caches hold)");
    if (spec.uses_rope() && spec.cos_sin.source == CosSinSource::Table && a.table_rows <= 0)
      bad("argument 'table_rows' = " + std::to_string(a.table_rows) +
          " must be positive with checks = bounds and cos_sin = table (the positions the table holds)");
  }
}

BoundsError decode_bounds_error(const unsigned long long w[4]) {
  BoundsError e;
  if (w[0] == 0) return e;
  e.violated = true;
  e.token = static_cast<long long>(w[1]);
  e.value = static_cast<long long>(w[2]);
  e.limit = static_cast<long long>(w[3] & ((1ull << 56) - 1));
  e.kind = static_cast<int>(w[3] >> 56);
  return e;
}

BoundsError read_bounds_error(Runtime& runtime, const void* device_buffer) {
  if (!device_buffer) throw Error(ErrorKind::Launch, "the bounds_error buffer is null");
  unsigned long long w[4];
  runtime.synchronize();
  runtime.copy_to_host(w, device_buffer, sizeof w);
  return decode_bounds_error(w);
}

Kernel::Kernel(const CodeObject& co)
    : spec_(co.spec), plan_(co.plan), align_(co.align) {
  const Target target = parse_target(co.target_id);
  requirements_ = argument_requirements(co.spec, co.align, &target);
}

void Kernel::launch(const ropegen_kernel_args& args, void* stream, int parallelism) const {
  if (!variants_.empty()) return select(args.num_tokens).launch(args, stream, parallelism);
  check_args(requirements_, spec_, args);
  if (args.num_tokens == 0) return;
  // layers = many: one block of grid z per layer (check_args has bounded num_layers); the
  // layers share the parallelism the head split over grid y aims for.
  const unsigned layers = spec_.layers == Layers::Many ? static_cast<unsigned>(args.num_layers) : 1u;
  const int wanted = parallelism > 0 ? parallelism : default_parallelism();
  auto grid = plan_.grid(args.num_tokens, std::max(1, wanted / static_cast<int>(layers)));
  if (grid.first == 0 || static_cast<long long>(grid.first) * plan_.tokens_per_block < args.num_tokens)
    bad("argument 'num_tokens' = " + std::to_string(args.num_tokens) + " is too large for one launch");
  launch_checked(args, grid.first, grid.second, layers, stream);
}

}  // namespace ropegen

namespace ropegen {

std::unique_ptr<Runtime> open_runtime(const std::string& name, int device) {
  std::string valid = "auto, gpu";
  for (const VendorInfo& v : vendors()) {
    if (name == v.runtime_name) return v.runtime(device);
    valid += std::string(", ") + v.runtime_name;
  }
  if (name != "auto" && name != "gpu") throw Error(ErrorKind::Load, "unknown runtime '" + name + "'; valid: " + valid);
  // The GPU vendors' runtimes in table order; the first that opens wins. What each said is
  // kept: "gpu" fails with it, "auto" reports it beside the host it falls back to.
  auto chosen = [](std::unique_ptr<Runtime> rt, std::string why) {
    if (const char* v = std::getenv("ROPEGEN_VERBOSE"); v && std::atoi(v) > 0)
      std::fprintf(stderr, "ropegen: runtime %s\n", why.c_str());
    rt->set_selection(std::move(why));
    return rt;
  };
  std::string tried;
  for (const VendorInfo& v : vendors()) {
    if (v.vendor == Vendor::Host) continue;
    try {
      std::unique_ptr<Runtime> rt = v.runtime(device);
      const std::string why = name + ": " + v.runtime_name + " (" + rt->device_name() + ")";
      return chosen(std::move(rt), why);
    } catch (const Error& e) {
      tried += (tried.empty() ? "" : "; ") + std::string(v.runtime_name) + ": " + e.message();
    }
  }
  const std::string what = device >= 0 ? "GPU " + std::to_string(device) : "GPU";
  if (name == "gpu") throw Error(ErrorKind::Load, "no " + what + " found (" + tried + ")");
  return chosen(vendor_info(Vendor::Host).runtime(-1), "auto: host, because no " + what + " was found (" + tried + ")");
}

}  // namespace ropegen

namespace ropegen {

double Runtime::graph_time_ms(const std::function<void()>&, void*, int) {
  throw Error(ErrorKind::Launch, "the " + name() + " runtime has no graph capture");
}

double Runtime::time_ms(const std::function<void()>& work, void* stream) {
  synchronize_stream(stream);
  auto t0 = std::chrono::steady_clock::now();
  work();
  synchronize_stream(stream);
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace ropegen
