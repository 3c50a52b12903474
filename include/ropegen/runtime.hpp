// Device runtimes: load a CodeObject and launch it, plus the memory operations the
// verifier needs. One implementation per vendor under src/runtime/<name>/.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "ropegen/code_object.hpp"
#include "ropegen/plan.hpp"
#include "ropegen/spec.hpp"
#include "ropegen/target.hpp"
#include "ropegen/kernel_args.h"

namespace ropegen {

class Runtime;
struct InternalAccess;  // the library's own reach into Context and Kernel (src/api/access.hpp)

/// What a field of ropegen_kernel_args holds (ropegen_field_kind in the C API).
enum class ArgKind { Pointer, Integer, Float };
/// The kind of a field of type T: a pointer, an integer (the header's size and version
/// too) or a floating-point number; any other type is a compile error.
template <class T>
constexpr ArgKind arg_kind_of() {
  static_assert(std::is_pointer<T>::value || std::is_integral<T>::value || std::is_floating_point<T>::value,
                "ropegen_kernel_args fields are pointers, integers or floating-point numbers");
  return std::is_pointer<T>::value          ? ArgKind::Pointer
         : std::is_floating_point<T>::value ? ArgKind::Float
                                            : ArgKind::Integer;
}
/// One field of ropegen_kernel_args: name, byte offset, byte size, kind (header order).
struct ArgField {
  const char* name;
  size_t offset;
  size_t size;
  ArgKind kind;
};
/// Every field of the argument block, in header order.
const std::vector<ArgField>& kernel_args_fields();

/// Dimensions in ArgRequirement::shape that are not fixed numbers.
constexpr long long kDimTokens = -1;  ///< num_tokens
constexpr long long kDimFree = -2;    ///< any size (cache blocks, table positions)

/// A pointer field of ropegen_kernel_args that a kernel reads: the one description that
/// the launch checks and the bindings' checks (ropegen_kernel_describe) come from.
struct ArgRequirement {
  explicit ArgRequirement(const char* field_name) : name(field_name), field(field_name) {}
  const char* name;            ///< the name the kernel's family gives it (MLA: "k_pe"); else the field's
  const char* field;           ///< the field of ropegen_kernel_args it is passed in ("k")
  bool required = true;        ///< a null pointer is refused
  std::string why;             ///< why it is required
  std::string dtype;           ///< "bf16", "f16", "f32", "i32", "i64", "u64"
  const char* access = "read"; ///< "read", "write", "read_write"; "unused": accepted, never touched
  int align = 1;               ///< bytes
  std::vector<long long> shape;  ///< dimensions, kDimTokens / kDimFree where not fixed
  const char* stride = nullptr;  ///< field holding the first dimension's stride (elements)
  /// Fields holding each dimension's stride (elements; null: that dimension is packed), for
  /// an argument addressed by run-time strides (a cache with order = strided); empty: none.
  std::vector<const char*> dim_strides;
  long long min_stride = 0;      ///< at least this many elements
  int stride_multiple = 1;       ///< and a multiple of this
  bool unless_slots = false;     ///< also required when slot_mapping is null
  size_t offset = 0;             ///< byte offset of the field in ropegen_kernel_args
  size_t stride_offset = 0;      ///< byte offset of the stride field
  /// layers = many: the byte offset of the argument in each layer's record (ropegen_layer_args,
  /// the device array `layers`); the block's own field stays null. -1: it is in the block.
  long long layer_offset = -1;
  /// layers = many: the field of the layer stride that moves it per layer (q, k, v); null: none.
  const char* layer_stride = nullptr;
};
/// Every field of ropegen_layer_args (layers = many), in header order.
const std::vector<ArgField>& layer_args_fields();
/// The pointer arguments of a kernel for a spec, in the order the launch checks them
/// (activations, per-token indices, tables, caches).
/// `target` names fp8 element types by the encoding the target uses (null: as the spec says).
std::vector<ArgRequirement> argument_requirements(const KernelSpec& spec, const ArgAlignment& align,
                                                  const Target* target = nullptr);

/// A loaded, launchable kernel. Owned by the caller; unloads on destruction.
class Kernel {
 public:
  virtual ~Kernel() = default;
  const KernelSpec& spec() const { return spec_; }
  /// The plan (a kernel holding tuned plans: the plan of its first token bucket).
  const LaunchPlan& plan() const { return plan_; }
  /// The plan a launch of `num_tokens` tokens runs: plan(), or for a kernel holding tuned
  /// plans (Context::kernel after Context::tune) the plan of the bucket nearest num_tokens.
  const LaunchPlan& plan_for(long long num_tokens) const { return select(num_tokens).plan_; }
  /// Plans held (1, or one per distinct tuned plan).
  size_t plans() const { return variants_.empty() ? 1 : variants_.size(); }
  const ArgAlignment& align() const { return align_; }
  /// The pointer arguments it reads and writes (argument_requirements for its target).
  const std::vector<ArgRequirement>& arguments() const { return requirements_; }
  /// The kernel as JSON, from its own build: spec, target, entry, plan, origin, arguments
  /// (the same text as ropegen_kernel_describe). Error(Internal) for a kernel loaded directly
  /// from a CodeObject (Runtime::load) rather than through Context::kernel(), which has no
  /// build record.
  std::string describe() const;
  /// Checks the arguments, then launches on `stream` (nullptr: the default stream).
  /// `parallelism` overrides the blocks-in-flight hint (0: the runtime's).
  void launch(const ropegen_kernel_args& args, void* stream = nullptr, int parallelism = 0) const;

 protected:
  explicit Kernel(const CodeObject& co);
  /// grid_z: the layers of a layers = many launch (args.num_layers), else 1.
  virtual void launch_checked(const ropegen_kernel_args& args, unsigned grid_x, unsigned grid_y, unsigned grid_z,
                              void* stream) const = 0;
  virtual int default_parallelism() const = 0;

 private:
  KernelSpec spec_;
  LaunchPlan plan_;
  ArgAlignment align_;
  std::vector<ArgRequirement> requirements_;  // computed once: launches only compare
  /// A tuned kernel's plans: each serves launches up to max_tokens (increasing; the last
  /// is LLONG_MAX). Empty for a kernel of one plan. The launch picks by a compare.
  struct Variant {
    long long max_tokens;
    std::shared_ptr<const Kernel> kernel;
  };
  std::vector<Variant> variants_;
  const Kernel& select(long long num_tokens) const {
    for (const Variant& v : variants_)
      if (num_tokens <= v.max_tokens) return *v.kernel;
    return *this;
  }
  friend struct InternalAccess;
  // How Context::kernel() built it (the JIT's record: source, code object, origin, key);
  // null for a kernel loaded directly. Opaque here; src/api/access.hpp reads it.
  std::shared_ptr<const void> build_;
};

/// Throws Error(Launch) naming the first argument that does not fit the kernel. Allocates
/// nothing when the arguments fit (it runs on every launch).
void check_args(const std::vector<ArgRequirement>& requirements, const KernelSpec& spec,
                const ropegen_kernel_args& a);
/// The same, computing the requirements first.
void check_args(const KernelSpec& spec, const ArgAlignment& align, const ropegen_kernel_args& a);

class Runtime;

/// What a checks = bounds kernel recorded in its bounds_error buffer (ropegen_kernel_args):
/// the first out-of-range token it skipped. The buffer is 4 words of device memory that
/// the caller zeroes before the launches it wants checked (zero it again to reset).
struct BoundsError {
  bool violated = false;
  long long token = 0;  ///< index of the token in its launch
  long long value = 0;  ///< the offending position or slot
  long long limit = 0;  ///< the range it had to lie in is [0, limit) (0 for a position with
                        ///< cos_sin = compute: only the lower bound is checked)
  int kind = 0;         ///< 1: position, 2: slot (0 when not violated)
};
/// Bytes of the bounds_error buffer: 4 unsigned 64-bit words.
constexpr size_t kBoundsErrorBytes = 4 * sizeof(unsigned long long);
/// Decodes the buffer's words: [0] = 1 once recorded, [1] token, [2] value,
/// [3] = limit | (kind << 56).
BoundsError decode_bounds_error(const unsigned long long words[4]);
/// Waits for the runtime's work (synchronize), copies the buffer back and decodes it.
BoundsError read_bounds_error(Runtime& runtime, const void* device_buffer);

/// A device (or the host) that runs kernels.
class Runtime {
 public:
  virtual ~Runtime() = default;
  virtual std::string name() const = 0;
  /// The device in words ("NVIDIA H100 80GB HBM3 (sm_90, 132 SMs)").
  virtual std::string device_name() const { return name(); }
  /// Target of the device this runtime drives.
  virtual Target target() const = 0;
  /// Multiprocessors (SMs / CUs); 1 on the host.
  virtual int multiprocessors() const { return 1; }
  virtual std::unique_ptr<Kernel> load(const CodeObject& code) = 0;
  // Memory, for the verifier and tests. Device pointers are opaque to the host.
  virtual void* alloc(size_t bytes) = 0;
  virtual void free(void* ptr) = 0;
  virtual void copy_to_device(void* dst, const void* src, size_t bytes) = 0;
  virtual void copy_to_host(void* dst, const void* src, size_t bytes) = 0;
  /// Device-to-device copy, enqueued on `stream`.
  virtual void copy_on_device(void* dst, const void* src, size_t bytes, void* stream) = 0;
  virtual void synchronize() = 0;
  /// A new stream (nullptr on the host, which has none).
  virtual void* create_stream() { return nullptr; }
  virtual void destroy_stream(void* /*stream*/) {}
  virtual void synchronize_stream(void* stream) { (void)stream; synchronize(); }
  /// Whether `stream` is capturing a graph (CUDA/HIP stream capture); false on the host and
  /// where the driver cannot tell. Context::tune refuses a capturing stream.
  virtual bool stream_capturing(void* stream) { (void)stream; return false; }
  /// Device time of what `work` enqueues on `stream`, in milliseconds (events on GPUs,
  /// a steady clock on the host).
  virtual double time_ms(const std::function<void()>& work, void* stream);
  /// Device time of one replay, in milliseconds, of a graph captured from what `work`
  /// enqueues on `stream` (a created stream): captured once, replayed `replays` times.
  /// Throws Error(Launch) where the runtime has no graphs (the host).
  virtual double graph_time_ms(const std::function<void()>& work, void* stream, int replays);
  /// How open_runtime() chose this runtime: "" when asked for by name; for "auto" and
  /// "gpu", the runtime taken and, when "auto" fell back to the host, what each GPU
  /// runtime said ("auto: host, because no GPU was found (cuda: ...; hip: ...)").
  const std::string& selection() const { return selection_; }
  void set_selection(std::string why) { selection_ = std::move(why); }

 private:
  std::string selection_;
};

/// "cuda", "hip", "host"; "gpu": the first GPU runtime that has the device, else
/// Error(Load) naming what each GPU runtime found; "auto": the same, else the host, with
/// the reason in Runtime::selection() (and on stderr with ROPEGEN_VERBOSE=1).
std::unique_ptr<Runtime> open_runtime(const std::string& name = "auto", int device = -1);

}  // namespace ropegen
