/* The C API, from C: a kernel on the host runtime, its results, and every error path the
 * interface promises (status codes and ropegen_last_error text, never a crash). */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ropegen/ropegen.h"

#include "expect.h" /* passed, failed, EXPECT */

static const ropegen_kernel_args_field* find_field(const ropegen_kernel_args_field* f, size_t n, const char* name) {
  size_t i;
  for (i = 0; i < n; ++i)
    if (strcmp(f[i].name, name) == 0) return &f[i];
  return NULL;
}

/* The kind column: every field is a pointer, an integer or a float; a pointer is
 * pointer-sized, an integer at most 8 bytes, a float 4 or 8. The header is integers;
 * every pointer field of the header (typed ones too: cos, a float *, is a pointer, not a
 * float) and some integers are checked by name against their C types. */
static void check_kinds(const ropegen_kernel_args_field* f, size_t n) {
  size_t i, pointers = 0;
  static const char* const ptrs[] = {"positions", "slot_mapping", "q", "k", "v", "cos", "sin", "k_cache", "v_cache",
                                     "bounds_error", "q_out", "k_out", "seq_lens", "k_scale", "v_scale", "q_scale",
                                     "q_norm_weight", "k_norm_weight", "k_cache_scales", "v_cache_scales", "q_out_scales",
                                     "ring_base", "norm_sums", "q_bias", "k_bias", "v_bias", "gate_out", "layers"};
  static const char* const ints[] = {"size", "abi_version", "num_tokens", "q_stride", "cos_sin_stride", "max_seq",
                                     "cache_slots", "table_rows", "q_head_stride", "positions_stride",
                                     "cache_block_stride", "cache_token_stride", "cache_head_stride", "grid_h", "grid_w", "gate_out_stride",
                                     "num_layers", "q_layer_stride", "k_layer_stride", "v_layer_stride"};
  for (i = 0; i < n; ++i) {
    const int k = f[i].kind;
    EXPECT(k == ROPEGEN_FIELD_POINTER || k == ROPEGEN_FIELD_INTEGER || k == ROPEGEN_FIELD_FLOAT, f[i].name);
    if (k == ROPEGEN_FIELD_POINTER) {
      EXPECT(f[i].size == sizeof(void*), f[i].name);
      ++pointers;
    } else if (k == ROPEGEN_FIELD_FLOAT) {
      EXPECT(f[i].size == 4 || f[i].size == 8, f[i].name);
    } else {
      EXPECT(f[i].size <= 8, f[i].name);
    }
  }
  EXPECT(f[0].kind == ROPEGEN_FIELD_INTEGER && f[1].kind == ROPEGEN_FIELD_INTEGER, "header fields are integers");
  for (i = 0; i < sizeof ptrs / sizeof ptrs[0]; ++i) {
    const ropegen_kernel_args_field* p = find_field(f, n, ptrs[i]);
    EXPECT(p != NULL && p->kind == ROPEGEN_FIELD_POINTER, ptrs[i]);
  }
  for (i = 0; i < sizeof ints / sizeof ints[0]; ++i) {
    const ropegen_kernel_args_field* p = find_field(f, n, ints[i]);
    EXPECT(p != NULL && p->kind == ROPEGEN_FIELD_INTEGER, ints[i]);
  }
  EXPECT(pointers == sizeof ptrs / sizeof ptrs[0], "every pointer field of ABI version 4 is listed here");
}

/* The layout table describes the compiled header: fields in order, each at an offset no
 * earlier than the previous end, aligned to its own size, and together covering the
 * block up to its size (so a field missing from the table would leave a hole). */
static void check_layout(void) {
  size_t n = 0, size = 0, end = 0, i;
  unsigned version = 0;
  const ropegen_kernel_args_field* f = ropegen_kernel_args_layout(&n, &size, &version);
  EXPECT(f != NULL && n > 0, "layout table");
  EXPECT(size == sizeof(ropegen_kernel_args) && version == ROPEGEN_KERNEL_ABI_VERSION, "layout size and version");
  EXPECT(strcmp(ropegen_version_string(), ROPEGEN_PROJECT_VERSION) == 0, "library version is the project VERSION");
  for (i = 0; i < n; ++i) {
    EXPECT(f[i].offset >= end && f[i].offset < end + f[i].size && f[i].offset % f[i].size == 0, f[i].name);
    end = f[i].offset + f[i].size;
  }
  EXPECT(end == size, "fields cover the whole block");
  EXPECT(strcmp(f[0].name, "size") == 0 && f[0].offset == offsetof(ropegen_kernel_args, size), "size first");
  EXPECT(strcmp(f[1].name, "abi_version") == 0 && f[1].offset == offsetof(ropegen_kernel_args, abi_version), "version second");
  EXPECT(strcmp(f[n - 1].name, "v_layer_stride") == 0 && f[n - 1].offset == offsetof(ropegen_kernel_args, v_layer_stride),
         "last field");
  check_kinds(f, n);
}

int main(void) {
  ropegen_context* ctx = NULL;
  check_layout();
  EXPECT(ropegen_status_fault(ROPEGEN_OK) == 0 && ropegen_status_fault(ROPEGEN_ERROR_PARSE) == 1 &&
             ropegen_status_fault(ROPEGEN_ERROR_LAUNCH) == 1 && ropegen_status_fault(ROPEGEN_ERROR_COMPILE) == 2 &&
             ropegen_status_fault(ROPEGEN_ERROR_IO) == 2 && ropegen_status_fault(ROPEGEN_ERROR_INTERNAL) == 3,
         "status faults");
  ropegen_kernel* k = NULL;
  EXPECT(ropegen_context_create("host", -1, &ctx) == ROPEGEN_OK, "host context");
  char target[32];
  EXPECT(ropegen_context_target(ctx, target, sizeof target) == ROPEGEN_OK && strcmp(target, "host") == 0, "target is host");
  EXPECT(ropegen_kernel_create(ctx, "head_dim=64 q_heads=4 kv_heads=2 dtype=bf16", &k) == ROPEGEN_OK, "kernel");
  {
    /* A size whose rounding would wrap is an error, never a tiny buffer. */
    void* huge = NULL;
    EXPECT(ropegen_alloc(ctx, (size_t)-1 - 100, &huge) != ROPEGEN_OK && huge == NULL &&
               strstr(ropegen_last_error(), "too large") != NULL,
           "alloc: SIZE_MAX - 100 refused");
  }
  {
    /* Deep nesting is a parse error with a location, not a stack overflow. */
    static char deep[9000 + 16];
    ropegen_kernel* none = NULL;
    memcpy(deep, "head_dim = ", 11);
    memset(deep + 11, '[', 9000);
    deep[11 + 9000] = 0;
    EXPECT(ropegen_kernel_create(ctx, deep, &none) == ROPEGEN_ERROR_PARSE && none == NULL &&
               strstr(ropegen_last_error(), "<spec>:1:76: error: values are nested more than 64 deep") != NULL,
           "deeply nested spec refused");
  }
  {
    /* The description a binding checks its arguments from. */
    size_t needed = 0;
    char small[8];
    EXPECT(ropegen_kernel_describe(k, NULL, 0, &needed) == ROPEGEN_OK && needed > 100, "describe: size query");
    EXPECT(ropegen_kernel_describe(k, small, sizeof small, NULL) == ROPEGEN_ERROR_INVALID_ARGUMENT &&
               strstr(ropegen_last_error(), "too small") != NULL,
           "describe: small buffer refused");
    static char text[8192];
    EXPECT(needed <= sizeof text && ropegen_kernel_describe(k, text, sizeof text, NULL) == ROPEGEN_OK, "describe");
    EXPECT(strstr(text, "\"name\":\"q\"") != NULL && strstr(text, "\"shape\":[\"tokens\",4,64]") != NULL,
           "describe: q's shape");
    EXPECT(strstr(text, "\"name\":\"k_cache\"") != NULL && strstr(text, "[null,16,2,64]") != NULL,
           "describe: paged cache shape");
    EXPECT(strstr(text, "\"stride_multiple\":8") != NULL, "describe: vector width");
  }
  EXPECT(strcmp(ropegen_status_string(ROPEGEN_ERROR_SPEC), "ROPEGEN_ERROR_SPEC") == 0 &&
             strcmp(ropegen_status_string((ropegen_status)99), "unknown status") == 0,
         "status strings");
  {
    /* A bundle: entries built into a directory, sealed with their manifest, then served
     * without compiling; unsealed, the directory serves nothing. */
    char dir[] = "/tmp/ropegen-capi-bundle-XXXXXX";
    char cmd[64];
    ropegen_context_options o = ROPEGEN_CONTEXT_OPTIONS_INIT;
    ropegen_context *maker = NULL, *deployed = NULL;
    ropegen_kernel* bk = NULL;
    size_t n = 0;
    const char* spec = "op=rope head_dim=32 q_heads=2 kv_heads=2 dtype=f32";
    EXPECT(mkdtemp(dir) != NULL, "bundle directory");
    o.cache_dir = dir;
    EXPECT(ropegen_context_create_with_options("host", -1, &o, &maker) == ROPEGEN_OK, "bundle maker");
    EXPECT(ropegen_kernel_create(maker, spec, &bk) == ROPEGEN_OK, "bundle entry");
    ropegen_kernel_destroy(bk);
    bk = NULL;
    ropegen_context_destroy(maker);
    o.cache_dir = "";
    o.cache_path = dir;
    o.no_compile = 1;
    EXPECT(ropegen_context_create_with_options("host", -1, &o, &deployed) == ROPEGEN_OK, "deployed context");
    EXPECT(ropegen_kernel_create(deployed, spec, &bk) == ROPEGEN_ERROR_CACHE, "an unsealed bundle serves nothing");
    EXPECT(ropegen_bundle_write_manifest(dir, &n) == ROPEGEN_OK && n == 1, "seal the bundle");
    EXPECT(ropegen_kernel_create(deployed, spec, &bk) == ROPEGEN_OK, "a sealed bundle serves");
    ropegen_kernel_destroy(bk);
    ropegen_context_destroy(deployed);
    EXPECT(ropegen_bundle_write_manifest(NULL, NULL) == ROPEGEN_ERROR_INVALID_ARGUMENT, "manifest: NULL dir");
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    EXPECT(system(cmd) == 0, "remove the bundle directory");
  }
  {
    /* Per-context options: no compiling allowed and an empty cache path -> a clear miss. */
    ropegen_context_options o = ROPEGEN_CONTEXT_OPTIONS_INIT;
    ropegen_context* strict = NULL;
    ropegen_kernel* none = NULL;
    o.no_compile = 1;
    o.cache_dir = "";
    EXPECT(ropegen_context_create_with_options("host", -1, &o, &strict) == ROPEGEN_OK, "context with options");
    EXPECT(ropegen_kernel_create(strict, "head_dim=48 q_heads=2 kv_heads=2", &none) == ROPEGEN_ERROR_CACHE &&
               strstr(ropegen_last_error(), "no cache entry exists") != NULL,
           "no_compile from the options");
    ropegen_context_destroy(strict);
    o.size = 3;
    EXPECT(ropegen_context_create_with_options("host", -1, &o, &strict) == ROPEGEN_ERROR_INVALID_ARGUMENT &&
               strstr(ropegen_last_error(), "options->size is 3") != NULL,
           "options size checked");
  }
  ropegen_kernel_info info;
  EXPECT(ropegen_kernel_get_info(k, &info) == ROPEGEN_OK && info.vec == 8 && info.block_threads > 0, "info");
  EXPECT(strncmp(info.entry, "ropegen_rope_kv_append_", 23) == 0, "entry name");
  int ok = 0;
  EXPECT(ropegen_kernel_verify(ctx, k, 33, 7, &ok) == ROPEGEN_OK && ok == 1, "verify against the reference");

  /* A real launch through the C API: one token, f32 so the result is easy to check. */
  ropegen_kernel* r = NULL;
  EXPECT(ropegen_kernel_create(ctx, "op=rope head_dim=4 q_heads=1 kv_heads=1 dtype=f32", &r) == ROPEGEN_OK, "rope kernel");
  float q[4] = {1, 2, 3, 4}, kk[4] = {1, 0, 0, 1};
  float cos_t[2] = {0.0f, 1.0f}, sin_t[2] = {1.0f, 0.0f}; /* pair 0 turns by 90 degrees, pair 1 not */
  int pos = 0;
  void *dq = NULL, *dk = NULL, *dc = NULL, *ds = NULL, *dp = NULL;
  ropegen_alloc(ctx, sizeof q, &dq);
  ropegen_alloc(ctx, sizeof kk, &dk);
  ropegen_alloc(ctx, sizeof cos_t, &dc);
  ropegen_alloc(ctx, sizeof sin_t, &ds);
  ropegen_alloc(ctx, sizeof pos, &dp);
  ropegen_copy_to_device(ctx, dq, q, sizeof q);
  ropegen_copy_to_device(ctx, dk, kk, sizeof kk);
  ropegen_copy_to_device(ctx, dc, cos_t, sizeof cos_t);
  ropegen_copy_to_device(ctx, ds, sin_t, sizeof sin_t);
  ropegen_copy_to_device(ctx, dp, &pos, sizeof pos);
  ropegen_kernel_args a = ROPEGEN_KERNEL_ARGS_INIT;
  a.q = dq;
  a.k = dk;
  a.positions = dp;
  a.cos = (const float*)dc;
  a.sin = (const float*)ds;
  a.cos_sin_stride = 2;
  a.num_tokens = 1;
  a.q_stride = 4;
  a.k_stride = 4;
  a.abi_version = 1;
  EXPECT(ropegen_kernel_launch(r, &a, NULL) == ROPEGEN_ERROR_LAUNCH &&
             strstr(ropegen_last_error(), "ABI version 1, but this kernel takes") != NULL,
         "mismatched argument block refused");
  a.abi_version = ROPEGEN_KERNEL_ABI_VERSION;
  EXPECT(ropegen_kernel_launch(r, &a, NULL) == ROPEGEN_OK, "launch");
  ropegen_synchronize(ctx);
  float out[4];
  ropegen_copy_to_host(ctx, out, dq, sizeof out);
  /* NeoX pairs (0,2) and (1,3): (1,3) by 90 degrees -> (-3, 1); (2,4) unchanged. */
  EXPECT(out[0] == -3.0f && out[1] == 2.0f && out[2] == 1.0f && out[3] == 4.0f, "rotated values");
  /* An empty copy may name NULL pointers; memcpy must never get them (UBSan: nonnull). */
  EXPECT(ropegen_copy_to_host(ctx, NULL, NULL, 0) == ROPEGEN_OK, "empty copy to the host with NULL pointers");
  EXPECT(ropegen_copy_to_device(ctx, NULL, NULL, 0) == ROPEGEN_OK, "empty copy to the device with NULL pointers");
  EXPECT(ropegen_copy_to_host(ctx, out, NULL, sizeof out) == ROPEGEN_ERROR_INVALID_ARGUMENT, "non-empty copy from NULL");

  /* checks = bounds: token 1's position 5 is past the one-row table, so it is skipped and
   * recorded; token 0 is rotated as above. */
  {
    ropegen_kernel* cr = NULL;
    EXPECT(ropegen_kernel_create(ctx, "op=rope head_dim=4 q_heads=1 kv_heads=1 dtype=f32 checks=bounds", &cr) ==
               ROPEGEN_OK,
           "checked rope kernel");
    float q2[8] = {1, 2, 3, 4, 1, 2, 3, 4}, k2[8] = {1, 0, 0, 1, 1, 0, 0, 1};
    int pos2[2] = {0, 5};
    unsigned long long zero[4] = {0, 0, 0, 0};
    void *dq2 = NULL, *dk2 = NULL, *dp2 = NULL, *derr = NULL;
    ropegen_alloc(ctx, sizeof q2, &dq2);
    ropegen_alloc(ctx, sizeof k2, &dk2);
    ropegen_alloc(ctx, sizeof pos2, &dp2);
    ropegen_alloc(ctx, ROPEGEN_BOUNDS_ERROR_BYTES, &derr);
    ropegen_copy_to_device(ctx, dq2, q2, sizeof q2);
    ropegen_copy_to_device(ctx, dk2, k2, sizeof k2);
    ropegen_copy_to_device(ctx, dp2, pos2, sizeof pos2);
    ropegen_copy_to_device(ctx, derr, zero, sizeof zero);
    ropegen_bounds_error be;
    EXPECT(ropegen_kernel_check(ctx, derr, &be) == ROPEGEN_OK && be.violated == 0, "zeroed buffer: nothing recorded");
    ropegen_kernel_args c = a;
    c.q = dq2;
    c.k = dk2;
    c.positions = dp2;
    c.num_tokens = 2;
    c.q_stride = 4;
    c.table_rows = 1;
    EXPECT(ropegen_kernel_launch(cr, &c, NULL) == ROPEGEN_ERROR_LAUNCH &&
               strstr(ropegen_last_error(), "argument 'bounds_error' is null") != NULL,
           "checked kernel needs the error buffer");
    c.bounds_error = (unsigned long long*)derr;
    EXPECT(ropegen_kernel_launch(cr, &c, NULL) == ROPEGEN_OK, "checked launch");
    EXPECT(ropegen_kernel_check(ctx, derr, &be) == ROPEGEN_OK, "check");
    EXPECT(be.violated == 1 && be.token == 1 && be.value == 5 && be.limit == 1 && be.kind == 1,
           "recorded: token 1, position 5, limit 1");
    float out2[8];
    ropegen_copy_to_host(ctx, out2, dq2, sizeof out2);
    EXPECT(out2[0] == -3.0f && out2[1] == 2.0f && out2[2] == 1.0f && out2[3] == 4.0f, "good token rotated");
    EXPECT(out2[4] == 1.0f && out2[5] == 2.0f && out2[6] == 3.0f && out2[7] == 4.0f, "bad token untouched");
    /* Reset: zero the buffer; a launch with in-range data records nothing. */
    ropegen_copy_to_device(ctx, derr, zero, sizeof zero);
    c.num_tokens = 1;
    EXPECT(ropegen_kernel_launch(cr, &c, NULL) == ROPEGEN_OK, "checked launch, good data");
    EXPECT(ropegen_kernel_check(ctx, derr, &be) == ROPEGEN_OK && be.violated == 0 && be.kind == 0, "reset");
    EXPECT(ropegen_kernel_check(ctx, NULL, &be) == ROPEGEN_ERROR_INVALID_ARGUMENT, "null buffer");
    EXPECT(ropegen_kernel_check(ctx, derr, NULL) == ROPEGEN_ERROR_INVALID_ARGUMENT, "null out");
    ropegen_free(ctx, dq2);
    ropegen_free(ctx, dk2);
    ropegen_free(ctx, dp2);
    ropegen_free(ctx, derr);
    ropegen_kernel_destroy(cr);
  }

  /* layers = many from C: two layers' k, v one layer stride apart, each layer's caches in its
   * ropegen_layer_args record (device memory); the verifier runs three layers too. */
  {
    ropegen_kernel* lk = NULL;
    EXPECT(ropegen_kernel_create(ctx, "op=kv_append head_dim=4 kv_heads=1 dtype=f32 cache=contiguous(order=nhd) layers=many",
                                 &lk) == ROPEGEN_OK,
           "layers = many kernel");
    EXPECT(ropegen_kernel_verify(ctx, lk, 9, 3, &ok) == ROPEGEN_OK && ok == 1, "layers = many verified");
    float kv[16] = {1, 2, 3, 4, 5, 6, 7, 8, /* v: */ -1, -2, -3, -4, -5, -6, -7, -8}, zero8[8] = {0};
    int slot = 1;
    void *dkv = NULL, *dslot = NULL, *caches[4] = {NULL, NULL, NULL, NULL}, *drec = NULL;
    ropegen_alloc(ctx, sizeof kv, &dkv);
    ropegen_alloc(ctx, sizeof slot, &dslot);
    ropegen_copy_to_device(ctx, dkv, kv, sizeof kv);
    ropegen_copy_to_device(ctx, dslot, &slot, sizeof slot);
    ropegen_layer_args rec[2];
    memset(rec, 0, sizeof rec);
    for (int i = 0; i < 4; ++i) {
      ropegen_alloc(ctx, sizeof zero8, &caches[i]);
      ropegen_copy_to_device(ctx, caches[i], zero8, sizeof zero8);
    }
    rec[0].k_cache = caches[0];
    rec[0].v_cache = caches[1];
    rec[1].k_cache = caches[2];
    rec[1].v_cache = caches[3];
    ropegen_alloc(ctx, sizeof rec, &drec);
    ropegen_copy_to_device(ctx, drec, rec, sizeof rec);
    ropegen_kernel_args l = ROPEGEN_KERNEL_ARGS_INIT;
    l.num_tokens = 1;
    l.k = dkv;
    l.v = (float*)dkv + 8;
    l.k_stride = l.v_stride = 4;
    l.slot_mapping = dslot;
    l.num_layers = 2;
    l.k_layer_stride = l.v_layer_stride = 4;
    EXPECT(ropegen_kernel_launch(lk, &l, NULL) == ROPEGEN_ERROR_LAUNCH &&
               strstr(ropegen_last_error(), "argument 'layers' is null") != NULL,
           "layers = many needs the records");
    l.layers = (const ropegen_layer_args*)drec;
    EXPECT(ropegen_kernel_launch(lk, &l, NULL) == ROPEGEN_OK, "layers = many launch");
    ropegen_synchronize(ctx);
    float got[8];
    for (int i = 0; i < 4; ++i) {
      const float* want = kv + (i % 2) * 8 + (i / 2) * 4; /* layer i / 2, k then v */
      ropegen_copy_to_host(ctx, got, caches[i], sizeof got);
      EXPECT(got[0] == 0 && got[3] == 0 && memcmp(got + 4, want, 4 * sizeof(float)) == 0, "each layer's cache row");
      ropegen_free(ctx, caches[i]);
    }
    ropegen_free(ctx, dkv);
    ropegen_free(ctx, dslot);
    ropegen_free(ctx, drec);
    ropegen_kernel_destroy(lk);
  }

  ropegen_kernel_destroy(k);
  k = NULL;

  /* Errors: status codes and messages. */
  EXPECT(ropegen_kernel_create(ctx, "head_dim = 12x", &k) == ROPEGEN_ERROR_PARSE, "parse error status");
  EXPECT(strstr(ropegen_last_error(), "<spec>:1:12: error: '12x' is not a number") != NULL, "parse error text");
  EXPECT(ropegen_kernel_create(ctx, "q_heads=32 kv_heads=6", &k) == ROPEGEN_ERROR_SPEC, "spec error status");
  EXPECT(strstr(ropegen_last_error(), "not a multiple of kv_heads") != NULL, "spec error text");
  EXPECT(k == NULL, "no kernel on failure");
  EXPECT(ropegen_kernel_create(NULL, "head_dim=64", &k) == ROPEGEN_ERROR_INVALID_ARGUMENT, "null ctx");
  EXPECT(ropegen_kernel_create(ctx, NULL, &k) == ROPEGEN_ERROR_INVALID_ARGUMENT, "null spec");
  EXPECT(ropegen_kernel_create(ctx, "head_dim=64", NULL) == ROPEGEN_ERROR_INVALID_ARGUMENT, "null out");
  EXPECT(ropegen_kernel_launch(NULL, &a, NULL) == ROPEGEN_ERROR_INVALID_ARGUMENT, "null kernel");
  EXPECT(ropegen_kernel_launch(r, NULL, NULL) == ROPEGEN_ERROR_INVALID_ARGUMENT, "null args");
  a.q = NULL;
  EXPECT(ropegen_kernel_launch(r, &a, NULL) == ROPEGEN_ERROR_LAUNCH, "null q");
  EXPECT(strstr(ropegen_last_error(), "argument 'q' is null") != NULL, "names the argument");
  a.q = dq;
  a.q_stride = 2;
  EXPECT(ropegen_kernel_launch(r, &a, NULL) == ROPEGEN_ERROR_LAUNCH, "short stride");
  EXPECT(strstr(ropegen_last_error(), "q_stride") != NULL, "names the stride");
  ropegen_context* bad = NULL;
  EXPECT(ropegen_context_create("metal", -1, &bad) == ROPEGEN_ERROR_LOAD && bad == NULL, "unknown runtime");
  EXPECT(ropegen_context_create("host", -1, NULL) == ROPEGEN_ERROR_INVALID_ARGUMENT, "null out ctx");
  {
    /* "gpu" never falls back: where "auto" gives the host, "gpu" is an error naming why. */
    ropegen_context* any = NULL;
    char any_target[64];
    EXPECT(ropegen_context_create("auto", -1, &any) == ROPEGEN_OK, "auto context");
    EXPECT(ropegen_context_target(any, any_target, sizeof any_target) == ROPEGEN_OK, "auto target");
    ropegen_context* gpu = NULL;
    const ropegen_status gs = ropegen_context_create("gpu", -1, &gpu);
    if (strcmp(any_target, "host") == 0) {
      EXPECT(gs == ROPEGEN_ERROR_LOAD && gpu == NULL, "gpu without a GPU");
      EXPECT(strstr(ropegen_last_error(), "no GPU found (cuda: ") != NULL, "gpu names what it found");
    } else {
      EXPECT(gs == ROPEGEN_OK, "gpu with a GPU");
    }
    ropegen_context_destroy(gpu);
    ropegen_context_destroy(any);
  }
  EXPECT(ropegen_context_target(ctx, target, 2) == ROPEGEN_ERROR_INVALID_ARGUMENT, "small buffer");
  EXPECT(ropegen_kernel_verify(ctx, r, -1, 1, &ok) == ROPEGEN_ERROR_INVALID_ARGUMENT, "negative tokens");
  /* Sizes derived from tokens would overflow: refused before anything is allocated. */
  EXPECT(ropegen_kernel_verify(ctx, r, 1LL << 60, 1, &ok) != ROPEGEN_OK &&
             strstr(ropegen_last_error(), "is outside 0..16384") != NULL,
         "huge token count");

  ropegen_free(ctx, dq);
  ropegen_free(ctx, dk);
  ropegen_free(ctx, dc);
  ropegen_free(ctx, ds);
  ropegen_free(ctx, dp);
  ropegen_kernel_destroy(r);
  ropegen_kernel_destroy(k);
  ropegen_kernel_destroy(NULL); /* destroying NULL is a no-op */
  ropegen_context_destroy(ctx);
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
