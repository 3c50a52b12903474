/* Prints the C layout of every struct and constant of ropegen.h, one item per line:
 *   struct NAME size N align A
 *   field NAME.FIELD offset O size S
 *   const NAME VALUE
 * Built by CMake (rust/CMakeLists.txt) with the compiler the library was built with; the
 * ropegen-sys test `abi` compares it, line by line, with the Rust declarations. */
#include <stddef.h>
#include <stdio.h>

#include "ropegen/ropegen.h"

#define STRUCT(T) printf("struct %s size %zu align %zu\n", #T, sizeof(T), _Alignof(T))
#define FIELD(T, F) printf("field %s.%s offset %zu size %zu\n", #T, #F, offsetof(T, F), sizeof(((T*)0)->F))
#define CONST(C) printf("const %s %lld\n", #C, (long long)(C))

int main(void) {
  STRUCT(ropegen_kernel_args);
  /* The argument block's fields from the library's table (offsetof and sizeof of the same
   * header, compiled into libropegen_c; tests/capi checks that they tile the block), so a
   * field added to kernel_args.h needs no line here: ropegen-sys's list must follow. */
  {
    size_t n = 0, i;
    const ropegen_kernel_args_field* f = ropegen_kernel_args_layout(&n, NULL, NULL);
    for (i = 0; i < n; ++i)
      printf("field ropegen_kernel_args.%s offset %zu size %zu\n", f[i].name, f[i].offset, f[i].size);
  }

  STRUCT(ropegen_layer_args);
  FIELD(ropegen_layer_args, k_cache);
  FIELD(ropegen_layer_args, v_cache);
  FIELD(ropegen_layer_args, k_cache_scales);
  FIELD(ropegen_layer_args, v_cache_scales);
  FIELD(ropegen_layer_args, k_scale);
  FIELD(ropegen_layer_args, v_scale);
  FIELD(ropegen_layer_args, q_scale);
  FIELD(ropegen_layer_args, q_out);
  FIELD(ropegen_layer_args, k_out);
  FIELD(ropegen_layer_args, q_out_scales);
  FIELD(ropegen_layer_args, gate_out);
  FIELD(ropegen_layer_args, q_norm_weight);
  FIELD(ropegen_layer_args, k_norm_weight);
  FIELD(ropegen_layer_args, q_bias);
  FIELD(ropegen_layer_args, k_bias);
  FIELD(ropegen_layer_args, v_bias);

  STRUCT(ropegen_kernel_info);
  FIELD(ropegen_kernel_info, block_threads);
  FIELD(ropegen_kernel_info, wave);
  FIELD(ropegen_kernel_info, vec);
  FIELD(ropegen_kernel_info, tensor_align);
  FIELD(ropegen_kernel_info, table_align);
  FIELD(ropegen_kernel_info, entry);
  FIELD(ropegen_kernel_info, target);
  FIELD(ropegen_kernel_info, tokens_per_block);
  FIELD(ropegen_kernel_info, head_groups);
  FIELD(ropegen_kernel_info, origin);

  STRUCT(ropegen_kernel_args_field);
  FIELD(ropegen_kernel_args_field, name);
  FIELD(ropegen_kernel_args_field, offset);
  FIELD(ropegen_kernel_args_field, size);
  FIELD(ropegen_kernel_args_field, kind);

  STRUCT(ropegen_context_options);
  FIELD(ropegen_context_options, size);
  FIELD(ropegen_context_options, cache_dir);
  FIELD(ropegen_context_options, cache_path);
  FIELD(ropegen_context_options, compiler);
  FIELD(ropegen_context_options, dump_dir);
  FIELD(ropegen_context_options, no_compile);
  FIELD(ropegen_context_options, verbose);

  STRUCT(ropegen_bounds_error);
  FIELD(ropegen_bounds_error, violated);
  FIELD(ropegen_bounds_error, token);
  FIELD(ropegen_bounds_error, value);
  FIELD(ropegen_bounds_error, limit);
  FIELD(ropegen_bounds_error, kind);

  STRUCT(ropegen_tune_options);
  FIELD(ropegen_tune_options, size);
  FIELD(ropegen_tune_options, buckets);
  FIELD(ropegen_tune_options, num_buckets);
  FIELD(ropegen_tune_options, reps);
  FIELD(ropegen_tune_options, set);
  FIELD(ropegen_tune_options, store);
  FIELD(ropegen_tune_options, stream);

  STRUCT(ropegen_tune_result);
  FIELD(ropegen_tune_result, tokens);
  FIELD(ropegen_tune_result, default_tokens_per_block);
  FIELD(ropegen_tune_result, default_head_groups);
  FIELD(ropegen_tune_result, default_us);
  FIELD(ropegen_tune_result, best_tokens_per_block);
  FIELD(ropegen_tune_result, best_head_groups);
  FIELD(ropegen_tune_result, best_us);
  FIELD(ropegen_tune_result, candidates);

  STRUCT(ropegen_status);
  STRUCT(ropegen_field_kind);

  CONST(ROPEGEN_KERNEL_ABI_VERSION);
  CONST(ROPEGEN_OK);
  CONST(ROPEGEN_ERROR_INVALID_ARGUMENT);
  CONST(ROPEGEN_ERROR_PARSE);
  CONST(ROPEGEN_ERROR_SPEC);
  CONST(ROPEGEN_ERROR_TARGET);
  CONST(ROPEGEN_ERROR_COMPILE);
  CONST(ROPEGEN_ERROR_LOAD);
  CONST(ROPEGEN_ERROR_LAUNCH);
  CONST(ROPEGEN_ERROR_CACHE);
  CONST(ROPEGEN_ERROR_IO);
  CONST(ROPEGEN_ERROR_INTERNAL);
  CONST(ROPEGEN_BOUNDS_ERROR_BYTES);
  CONST(ROPEGEN_FIELD_POINTER);
  CONST(ROPEGEN_FIELD_INTEGER);
  CONST(ROPEGEN_FIELD_FLOAT);

  /* The INIT macros' values, which ropegen-sys's init() functions reproduce. */
  {
    ropegen_context_options o = ROPEGEN_CONTEXT_OPTIONS_INIT;
    printf("init ropegen_context_options size %zu no_compile %d verbose %d nulls %d\n", o.size, o.no_compile,
           o.verbose, !o.cache_dir && !o.cache_path && !o.compiler && !o.dump_dir);
    ropegen_tune_options t = ROPEGEN_TUNE_OPTIONS_INIT;
    printf("init ropegen_tune_options size %zu reps %d set %d store %d nulls %d\n", t.size, t.reps, t.set, t.store,
           !t.buckets && !t.num_buckets && !t.stream);
    ropegen_kernel_args a = ROPEGEN_KERNEL_ARGS_INIT;
    printf("init ropegen_kernel_args size %u abi_version %u\n", a.size, a.abi_version);
  }
  return 0;
}
