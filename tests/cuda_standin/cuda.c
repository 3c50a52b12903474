/* A stand-in for NVIDIA's driver library (libcuda.so.1), built by the test suite
 * (tests/cuda_standin/CMakeLists.txt): it exports the symbols ropegen's CUDA runtime loads,
 * answers as one sm_90 device, can fail a chosen cuEventCreate and can report a stream as
 * capturing a graph (standin_set_capturing), so the runtime's error
 * paths run without a GPU. It runs no GPU code; memory is host memory. cuInit registers an
 * exit handler that tears the driver down; a release call after it prints what was called
 * and ends the process with status 86 (the exit-order test). */
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "standin.h"

static void* g_current;
static char g_primary;
static int g_events_live;
static int g_fail_event_create; /* the n-th next cuEventCreate fails (0: none) */

/* Test controls. */
STANDIN_EXPORT int standin_events_live(void) { return g_events_live; }
STANDIN_EXPORT void standin_fail_event_create(int nth) { g_fail_event_create = nth; }

static int g_torn_down;
static void teardown(void) { g_torn_down = 1; }
static void check_alive(const char* fn) {
  if (!g_torn_down) return;
  fprintf(stderr, "standin cuda: %s called after the driver shut down\n", fn);
  fflush(stderr);
  _exit(86);
}

STANDIN_EXPORT int cuInit(unsigned flags) {
  static int registered;
  (void)flags;
  if (!registered) registered = atexit(teardown) == 0;
  return 0;
}
STANDIN_EXPORT int cuDeviceGetCount(int* n) {
  *n = 1;
  return 0;
}
STANDIN_EXPORT int cuDeviceGet(int* d, int ordinal) {
  *d = ordinal;
  return 0;
}
STANDIN_EXPORT int cuDeviceGetAttribute(int* v, int attr, int dev) {
  (void)dev;
  *v = attr == 75 ? 9 : attr == 76 ? 0 : attr == 16 ? 132 : 0; /* sm_90, 132 SMs */
  return 0;
}
STANDIN_EXPORT int cuDeviceGetName(char* name, int len, int dev) {
  (void)dev;
  strncpy(name, "CUDA stand-in", (size_t)len);
  return 0;
}
STANDIN_EXPORT int cuDevicePrimaryCtxRetain(void** ctx, int dev) {
  (void)dev;
  *ctx = &g_primary;
  return 0;
}
STANDIN_EXPORT int cuDevicePrimaryCtxRelease_v2(int dev) {
  check_alive("cuDevicePrimaryCtxRelease_v2");
  (void)dev;
  return 0;
}
STANDIN_EXPORT int cuCtxGetCurrent(void** ctx) {
  *ctx = g_current;
  return 0;
}
STANDIN_EXPORT int cuCtxSetCurrent(void* ctx) {
  check_alive("cuCtxSetCurrent");
  g_current = ctx;
  return 0;
}
STANDIN_EXPORT int cuCtxGetDevice(int* dev) {
  *dev = 0;
  return g_current ? 0 : 201; /* CUDA_ERROR_INVALID_CONTEXT */
}
STANDIN_EXPORT int cuCtxSynchronize(void) { return 0; }
STANDIN_EXPORT int cuModuleLoadData(void** m, const void* image) {
  (void)image;
  *m = malloc(1);
  return 0;
}
STANDIN_EXPORT int cuModuleUnload(void* m) {
  check_alive("cuModuleUnload");
  free(m);
  return 0;
}
STANDIN_EXPORT int cuModuleGetFunction(void** f, void* m, const char* name) {
  (void)name;
  *f = m;
  return 0;
}
STANDIN_EXPORT int cuLaunchKernel(void* f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                                  unsigned bz, unsigned shared, void* stream, void** params, void** extra) {
  (void)f, (void)gx, (void)gy, (void)gz, (void)bx, (void)by, (void)bz, (void)shared, (void)stream, (void)params,
      (void)extra;
  standin_logf("cuLaunchKernel");
  return 0;
}
STANDIN_EXPORT int cuMemAlloc_v2(unsigned long long* p, size_t n) {
  *p = (unsigned long long)(uintptr_t)malloc(n);
  return 0;
}
STANDIN_EXPORT int cuMemFree_v2(unsigned long long p) {
  check_alive("cuMemFree_v2");
  free((void*)(uintptr_t)p);
  return 0;
}
STANDIN_EXPORT int cuMemcpyHtoD_v2(unsigned long long dst, const void* src, size_t n) {
  memcpy((void*)(uintptr_t)dst, src, n);
  return 0;
}
STANDIN_EXPORT int cuMemcpyDtoH_v2(void* dst, unsigned long long src, size_t n) {
  memcpy(dst, (const void*)(uintptr_t)src, n);
  return 0;
}
STANDIN_EXPORT int cuMemcpyDtoDAsync_v2(unsigned long long dst, unsigned long long src, size_t n, void* s) {
  (void)s;
  memcpy((void*)(uintptr_t)dst, (const void*)(uintptr_t)src, n);
  return 0;
}
STANDIN_EXPORT int cuGetErrorString(int r, const char** s) {
  *s = r == 2 ? "out of memory (stand-in)" : "stand-in error";
  return 0;
}
STANDIN_EXPORT int cuStreamCreate(void** s, unsigned flags) {
  (void)flags;
  *s = malloc(1);
  return 0;
}
STANDIN_EXPORT int cuStreamDestroy_v2(void* s) {
  check_alive("cuStreamDestroy_v2");
  free(s);
  return 0;
}
/* The stream a test marks as capturing a graph (cuStreamIsCapturing says so for it alone). */
static void* g_capturing;
STANDIN_EXPORT void standin_set_capturing(void* s) { g_capturing = s; }
STANDIN_EXPORT int cuStreamIsCapturing(void* s, int* status) {
  *status = s && s == g_capturing ? 1 /* CU_STREAM_CAPTURE_STATUS_ACTIVE */ : 0;
  return 0;
}
STANDIN_EXPORT int cuStreamSynchronize(void* s) {
  (void)s;
  return 0;
}
STANDIN_EXPORT int cuEventCreate(void** e, unsigned flags) {
  (void)flags;
  if (g_fail_event_create > 0 && --g_fail_event_create == 0) {
    standin_logf("cuEventCreate failed");
    return 2; /* CUDA_ERROR_OUT_OF_MEMORY */
  }
  *e = malloc(1);
  ++g_events_live;
  standin_logf("cuEventCreate");
  return 0;
}
STANDIN_EXPORT int cuEventRecord(void* e, void* s) {
  (void)e, (void)s;
  return 0;
}
STANDIN_EXPORT int cuEventSynchronize(void* e) {
  (void)e;
  return 0;
}
/* A fixed device time, so a test can tell it from a host clock. */
STANDIN_EXPORT int cuEventElapsedTime(float* ms, void* a, void* b) {
  (void)a, (void)b;
  *ms = 1.25f;
  return 0;
}
STANDIN_EXPORT int cuEventDestroy_v2(void* e) {
  if (e) --g_events_live;
  free(e);
  standin_logf("cuEventDestroy");
  return 0;
}
