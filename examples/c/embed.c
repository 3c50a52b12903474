/* Embedding ropegen from C through its C API. Runs on the GPU this process sees, else on
 * the host target. */
#include <stdio.h>

#include "ropegen/ropegen.h"

int main(int argc, char** argv) {
  ropegen_context* ctx = NULL;
  ropegen_kernel* kernel = NULL;
  const char* runtime = argc > 1 ? argv[1] : "auto";
  if (ropegen_context_create(runtime, -1, &ctx) != ROPEGEN_OK) {
    fprintf(stderr, "context: %s\n", ropegen_last_error());
    return 1;
  }
  char target[64];
  ropegen_context_target(ctx, target, sizeof target);
  printf("target: %s\n", target);
  if (ropegen_kernel_create(ctx, "head_dim=128 q_heads=32 kv_heads=8 dtype=bf16 style=gptj", &kernel) != ROPEGEN_OK) {
    fprintf(stderr, "kernel: %s\n", ropegen_last_error());
    ropegen_context_destroy(ctx);
    return 1;
  }
  ropegen_kernel_info info;
  ropegen_kernel_get_info(kernel, &info);
  printf("kernel: %s, %d threads per block, %d-element vectors\n", info.entry, info.block_threads, info.vec);
  int passed = 0;
  if (ropegen_kernel_verify(ctx, kernel, 64, 1, &passed) != ROPEGEN_OK) fprintf(stderr, "verify: %s\n", ropegen_last_error());
  printf("%s\n", passed ? "example OK" : "example FAILED");
  ropegen_kernel_destroy(kernel);
  ropegen_context_destroy(ctx);
  return passed ? 0 : 1;
}
