/* ropegen C API: for engines in C, Rust, Python (ctypes) and anything with a C FFI.
 *
 * Every function returns a status; on failure ropegen_last_error() gives the message
 * (thread-local, valid until the next call on the same thread). No C++ exception crosses
 * this interface, and every entry point checks its arguments. */
#ifndef ROPEGEN_H
#define ROPEGEN_H

#include <stddef.h>

#include "ropegen/kernel_args.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ropegen_status {
  ROPEGEN_OK = 0,
  ROPEGEN_ERROR_INVALID_ARGUMENT = 1, /* a null pointer or bad value passed to this API */
  ROPEGEN_ERROR_PARSE = 2,            /* spec text did not parse */
  ROPEGEN_ERROR_SPEC = 3,             /* spec is contradictory or unsupported by the target */
  ROPEGEN_ERROR_TARGET = 4,
  ROPEGEN_ERROR_COMPILE = 5,
  ROPEGEN_ERROR_LOAD = 6,             /* includes "no such device / no driver" */
  ROPEGEN_ERROR_LAUNCH = 7,           /* argument checks before a launch, or the launch itself */
  ROPEGEN_ERROR_CACHE = 8,
  ROPEGEN_ERROR_IO = 9,
  ROPEGEN_ERROR_INTERNAL = 10
} ropegen_status;

/* Whose fault a status is: 0 none (ROPEGEN_OK); 1 the caller's (bad spec text, arguments,
 * an unsupported target); 2 the machine's (a missing compiler or driver, an unwritable or
 * damaged cache); 3 ropegen's own (a broken internal invariant: please report it). */
int ropegen_status_fault(ropegen_status status);

typedef struct ropegen_context ropegen_context; /* one device (or the host) + a JIT */
typedef struct ropegen_kernel ropegen_kernel;   /* a loaded kernel; owned by the caller */

/* Launch shape and argument requirements of a kernel, from the kernel's own build. For a
 * kernel holding tuned plans (ropegen_tune) the plan fields are its first bucket's;
 * ropegen_kernel_describe lists every plan with the token counts it serves. */
typedef struct ropegen_kernel_info {
  int block_threads;
  int wave;
  int vec;              /* elements per vector; strides must be multiples */
  int tensor_align;     /* bytes: q, k, v, caches */
  int table_align;      /* bytes: cos, sin */
  char entry[96];       /* kernel symbol */
  char target[64];      /* target id */
  int tokens_per_block; /* plan: tokens a block covers */
  int head_groups;      /* plan: thread groups per token */
  char origin[16];      /* where the code object came from: "compiled", "disk", "bundle" */
} ropegen_kernel_info;

/* What a field of the argument block holds: an address (a pointer of any type, e.g. q,
 * cos, bounds_error), an integer (size, abi_version, counts and strides) or a
 * floating-point number. Bindings take their tensor arguments from the pointer fields. */
typedef enum ropegen_field_kind {
  ROPEGEN_FIELD_POINTER = 1,
  ROPEGEN_FIELD_INTEGER = 2,
  ROPEGEN_FIELD_FLOAT = 3
} ropegen_field_kind;

/* One field of the argument block: name, byte offset, byte size and kind. */
typedef struct ropegen_kernel_args_field {
  const char* name;
  size_t offset;
  size_t size;
  ropegen_field_kind kind;
} ropegen_kernel_args_field;

/* The argument block as this library was compiled: its fields in order; *count receives
 * their number, *size sizeof(ropegen_kernel_args) and *abi_version
 * ROPEGEN_KERNEL_ABI_VERSION (each pointer may be NULL). Bindings that keep their own copy
 * of ropegen_kernel_args check it against this. */
const ropegen_kernel_args_field* ropegen_kernel_args_layout(size_t* count, size_t* size, unsigned* abi_version);

/* A status's name ("ROPEGEN_ERROR_SPEC"); "unknown status" for values not listed above. */
const char* ropegen_status_string(ropegen_status status);

/* Message of the last failure on this thread ("" if none). */
const char* ropegen_last_error(void);
/* The library's version, e.g. "0.1.0" (the project VERSION in CMakeLists.txt). */
const char* ropegen_version_string(void);

/* runtime: "auto", "cuda", "hip" or "host"; device: -1 for the default. JIT options come
 * from the environment (docs/env.md). */
ropegen_status ropegen_context_create(const char* runtime, int device, ropegen_context** out);

/* Per-context JIT options; each NULL string or negative flag keeps the environment's value
 * (docs/env.md), so ROPEGEN_CONTEXT_OPTIONS_INIT gives exactly ropegen_context_create. */
typedef struct ropegen_context_options {
  size_t size;            /* sizeof(ropegen_context_options), from the INIT macro */
  const char* cache_dir;  /* user cache directory; "" disables the disk cache ($ROPEGEN_CACHE_DIR) */
  const char* cache_path; /* read-only bundle directories, ':'-separated ($ROPEGEN_CACHE_PATH) */
  const char* compiler;   /* force a backend: "hiprtc", "clang-amdgpu", "nvrtc", "host-cxx" ($ROPEGEN_COMPILER) */
  const char* dump_dir;   /* write source, options and log per compile here ($ROPEGEN_DUMP_DIR) */
  int no_compile;         /* 1: a cache miss is an error; 0: compile; -1: $ROPEGEN_NO_COMPILE */
  int verbose;            /* 1: one line per build on stderr; -1: $ROPEGEN_VERBOSE */
} ropegen_context_options;
#define ROPEGEN_CONTEXT_OPTIONS_INIT {sizeof(ropegen_context_options), NULL, NULL, NULL, NULL, -1, -1}

ropegen_status ropegen_context_create_with_options(const char* runtime, int device,
                                                   const ropegen_context_options* options,
                                                   ropegen_context** out);
void ropegen_context_destroy(ropegen_context* ctx);
/* Seals a directory of cache entries as a bundle (what `ropegen bundle` does last): writes
 * its SHA256SUMS manifest, without which ROPEGEN_CACHE_PATH / cache_path serves nothing
 * from it (docs/cache.md, Trust). `entries` (may be NULL) receives the number listed. */
ropegen_status ropegen_bundle_write_manifest(const char* dir, size_t* entries);
/* Target id of the context's device, e.g. "sm_90" or "host". */
ropegen_status ropegen_context_target(const ropegen_context* ctx, char* buf, size_t len);

/* A kernel for a one-line spec ("head_dim=128 dtype=bf16 ..."): compiled or from cache. */
ropegen_status ropegen_kernel_create(ropegen_context* ctx, const char* spec, ropegen_kernel** out);
void ropegen_kernel_destroy(ropegen_kernel* kernel);
ropegen_status ropegen_kernel_get_info(const ropegen_kernel* kernel, ropegen_kernel_info* out);
/* The kernel described as JSON, from its own build: its canonical spec, target, entry,
 * plan, origin, and "arguments": one object per pointer of ropegen_kernel_args the kernel
 * reads, in the order the launch checks them, with "name", "required" (a null pointer is refused), "why",
 * "dtype" ("bf16", "f16", "f32", "i32", "i64", "u64"), "access" ("read", "write", "read_write";
 * "unused": an argument the spec leaves untouched, null accepted, e.g. k_cache_scales with inline scales),
 * "align" (bytes), "shape" (dimensions; "tokens" is num_tokens, null is free) and
 * "stride" (the field giving the token or position stride, with its "stride_multiple").
 * layers = many: an argument each layer owns has "layer_offset" (its byte offset in the
 * layer's ropegen_layer_args record; the block's own field stays NULL), q, k and v have
 * "layer_stride" (the field moving them per layer), and "layers" is the record array.
 * Writes at most len bytes including the terminating NUL; *needed (if not NULL) receives
 * the size the whole text needs. Bindings check their arguments from this, so a new spec
 * key or family needs no change in them. */
ropegen_status ropegen_kernel_describe(const ropegen_kernel* kernel, char* buf, size_t len, size_t* needed);
/* Checks the arguments, then launches on `stream` (CUstream / hipStream_t; NULL: default).
 * Index values are not read on the host: set the limits cache_slots and table_rows
 * (kernel_args.h) and the kernel skips a token whose slot or position lies past them. */
ropegen_status ropegen_kernel_launch(const ropegen_kernel* kernel, const ropegen_kernel_args* args, void* stream);

/* Device memory of the context's runtime (host runtime: aligned host memory). */
ropegen_status ropegen_alloc(ropegen_context* ctx, size_t bytes, void** out);
ropegen_status ropegen_free(ropegen_context* ctx, void* ptr);
ropegen_status ropegen_copy_to_device(ropegen_context* ctx, void* dst, const void* src, size_t bytes);
ropegen_status ropegen_copy_to_host(ropegen_context* ctx, void* dst, const void* src, size_t bytes);
ropegen_status ropegen_synchronize(ropegen_context* ctx);

/* checks = bounds: what a kernel recorded in its bounds_error buffer (kernel_args.h), the
 * first out-of-range token it skipped. The buffer is ROPEGEN_BOUNDS_ERROR_BYTES of device
 * memory (ropegen_alloc), 8-byte aligned, that the caller zeroes before the launches it
 * wants checked; zeroing it again (ropegen_copy_to_device of zeros, or a memset on the
 * stream) resets it. A kernel skips every offending token; the buffer keeps the first one
 * recorded (on a GPU, the first to get there; on the host, the lowest token). */
typedef struct ropegen_bounds_error {
  int violated;    /* 1 once a violation was recorded, else 0 and the rest 0 */
  long long token; /* index of the token in its launch */
  long long value; /* the offending position or slot */
  long long limit; /* the range it had to lie in: [0, limit) (table_rows or cache_slots); 0 for
                      a position with cos_sin = compute, where only the lower bound is checked */
  int kind;        /* 1: position, 2: slot */
} ropegen_bounds_error;
#define ROPEGEN_BOUNDS_ERROR_BYTES 32

/* Waits for the context's device (ropegen_synchronize), copies the bounds_error buffer back
 * and decodes it into *out; ROPEGEN_OK whether or not a violation was recorded. */
ropegen_status ropegen_kernel_check(ropegen_context* ctx, const void* bounds_error_buffer, ropegen_bounds_error* out);

/* Runs the kernel on random inputs against the reference (ropegen --verify); *passed is
 * 1 or 0. */
ropegen_status ropegen_kernel_verify(ropegen_context* ctx, const ropegen_kernel* kernel, long long tokens,
                                     unsigned long long seed, int* passed);

/* Options of ropegen_tune; ROPEGEN_TUNE_OPTIONS_INIT gives the defaults. */
typedef struct ropegen_tune_options {
  size_t size;               /* sizeof(ropegen_tune_options), from the INIT macro */
  const long long* buckets;  /* token counts, increasing; NULL: 1,32,256,2048,8192 (host: 1,32,256) */
  size_t num_buckets;        /* entries of buckets (0 with NULL) */
  int reps;                  /* timed repetitions per plan, the median kept; 0: 15 (host: 3) */
  int set;                   /* plans timed: 0 auto (full on a GPU, quick on the host), 1 quick, 2 full */
  int store;                 /* 1: keep the winners in the user cache directory; 0: report only */
  void* stream;              /* CUstream / hipStream_t to time on (NULL: default); never one capturing a graph */
} ropegen_tune_options;
#define ROPEGEN_TUNE_OPTIONS_INIT {sizeof(ropegen_tune_options), NULL, 0, 0, 0, 1, NULL}

/* One token bucket of a tuning run: codegen's plan against the fastest one. */
typedef struct ropegen_tune_result {
  long long tokens;              /* the bucket */
  int default_tokens_per_block;  /* codegen's plan */
  int default_head_groups;
  double default_us;             /* its median time per launch, microseconds */
  int best_tokens_per_block;     /* the winner (codegen's when nothing beat it) */
  int best_head_groups;
  double best_us;
  int candidates;                /* plans timed */
} ropegen_tune_result;

/* Times the candidate plans of `spec` per token bucket on the context's device and, with
 * options->store, keeps each bucket's winner for (spec, target, device) in the user cache
 * directory: later ropegen_kernel_create calls for the spec return a kernel that picks the
 * plan by num_tokens at launch (docs/cache.md, Tuned plans). `options` may be NULL (the
 * defaults). `results` receives one entry per bucket; `capacity` must be at least the
 * number of buckets (checked before anything runs); *count (may be NULL) receives it.
 * ROPEGEN_ERROR_LAUNCH when the stream is capturing a graph. */
ropegen_status ropegen_tune(ropegen_context* ctx, const char* spec, const ropegen_tune_options* options,
                            ropegen_tune_result* results, size_t capacity, size_t* count);

#ifdef __cplusplus
}
#endif

#endif /* ROPEGEN_H */
