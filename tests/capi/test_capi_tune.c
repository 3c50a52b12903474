/* ropegen_tune from C: a tuning run on the host, the kernel that then holds the tuned
 * plans, and the argument errors. */
#define _DEFAULT_SOURCE /* mkdtemp */
#include <dirent.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "ropegen/ropegen.h"

#include "expect.h" /* passed, failed, EXPECT */

/* Removes the files of a flat directory, then the directory. */
static void remove_dir(const char* dir) {
  DIR* d = opendir(dir);
  struct dirent* e;
  char path[4096];
  if (!d) return;
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    unlink(path);
  }
  closedir(d);
  rmdir(dir);
}

int main(void) {
  static const char* spec = "head_dim=32 q_heads=4 kv_heads=2 dtype=f32";
  char dir[] = "/tmp/ropegen-capi-tune-XXXXXX";
  ropegen_context_options o = ROPEGEN_CONTEXT_OPTIONS_INIT;
  ropegen_context* ctx = NULL;
  ropegen_tune_result res[5];
  ropegen_tune_options to = ROPEGEN_TUNE_OPTIONS_INIT;
  const long long down[2] = {32, 1};
  size_t n = 99, i;
  if (!mkdtemp(dir)) return 1;
  o.cache_dir = dir;
  EXPECT(ropegen_context_create_with_options("host", -1, &o, &ctx) == ROPEGEN_OK, "host context");

  /* Argument errors, checked before anything runs. */
  EXPECT(ropegen_tune(NULL, spec, NULL, res, 5, &n) == ROPEGEN_ERROR_INVALID_ARGUMENT && n == 0, "NULL ctx");
  EXPECT(ropegen_tune(ctx, NULL, NULL, res, 5, &n) == ROPEGEN_ERROR_INVALID_ARGUMENT, "NULL spec");
  EXPECT(ropegen_tune(ctx, spec, NULL, NULL, 5, &n) == ROPEGEN_ERROR_INVALID_ARGUMENT, "NULL results");
  EXPECT(ropegen_tune(ctx, spec, NULL, res, 1, &n) == ROPEGEN_ERROR_INVALID_ARGUMENT &&
             strstr(ropegen_last_error(), "capacity 1 is less than the 3 buckets") != NULL,
         "capacity below the buckets");
  to.size = 8;
  EXPECT(ropegen_tune(ctx, spec, &to, res, 5, &n) == ROPEGEN_ERROR_INVALID_ARGUMENT &&
             strstr(ropegen_last_error(), "ROPEGEN_TUNE_OPTIONS_INIT") != NULL,
         "options of another size");
  to.size = sizeof to;
  to.set = 7;
  EXPECT(ropegen_tune(ctx, spec, &to, res, 5, &n) == ROPEGEN_ERROR_INVALID_ARGUMENT, "bad set");
  to.set = 1;
  to.buckets = down;
  to.num_buckets = 2;
  to.reps = 1;
  EXPECT(ropegen_tune(ctx, spec, &to, res, 5, &n) == ROPEGEN_ERROR_SPEC &&
             strstr(ropegen_last_error(), "buckets must increase") != NULL,
         "decreasing buckets");
  EXPECT(ropegen_tune(ctx, "head_dim=63", NULL, res, 5, &n) == ROPEGEN_ERROR_SPEC, "bad spec");

  /* The host's default buckets, kept; then the kernel holds the winners. */
  to = (ropegen_tune_options)ROPEGEN_TUNE_OPTIONS_INIT;
  to.reps = 1;
  EXPECT(ropegen_tune(ctx, spec, &to, res, 5, &n) == ROPEGEN_OK && n == 3, "tune");
  for (i = 0; i < n; ++i) {
    EXPECT(res[i].tokens == (i == 0 ? 1 : i == 1 ? 32 : 256), "bucket tokens");
    EXPECT(res[i].candidates > 1 && res[i].best_us > 0 && res[i].best_us <= res[i].default_us, "bucket times");
    EXPECT(res[i].best_tokens_per_block >= 1 && res[i].best_head_groups >= 1, "bucket plan");
  }
  {
    ropegen_kernel* k = NULL;
    static char text[16384];
    EXPECT(ropegen_kernel_create(ctx, spec, &k) == ROPEGEN_OK, "kernel after tuning");
    EXPECT(ropegen_kernel_describe(k, text, sizeof text, NULL) == ROPEGEN_OK, "describe");
    EXPECT(strstr(text, "\"plan_source\":\"tuned\"") != NULL && strstr(text, dir) != NULL, "describe: tuned plans");
    int ok = 0;
    EXPECT(ropegen_kernel_verify(ctx, k, 100, 1, &ok) == ROPEGEN_OK && ok == 1, "tuned kernel verifies");
    ropegen_kernel_destroy(k);
  }
  ropegen_context_destroy(ctx);
  remove_dir(dir);
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
