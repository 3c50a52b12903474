/* libamdhip64 stand-in. Two devices; the current device is per process (enough for the
 * tests, which run on one thread). hipGetDeviceProperties fills the R0000 layout
 * (792 bytes) and, with STANDIN_R0600, hipGetDevicePropertiesR0600 fills the R0600 layout
 * (1472 bytes), each with its own name, arch and CU count at that layout's offsets.
 * $STANDIN_ARCH replaces the arch (an unknown GPU); $STANDIN_DEVICE_COUNT the count.
 * With STANDIN_HIP_VERSION, hipRuntimeGetVersion reports it (HIP_VERSION encoding).
 * Exit order: hipInit registers an exit handler that tears the runtime down, as libamdhip64
 * does; any call after it prints what was called and ends the process with status 86, so a
 * test sees a destructor that calls into a runtime that shut down. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "standin.h"

static int g_current;
static int g_torn_down;

static void teardown(void) { g_torn_down = 1; }

/* A call into the runtime after its teardown: what real HIP answers with a crash or a hang. */
static void check_alive(const char* fn) {
  if (!g_torn_down) return;
  fprintf(stderr, "standin %s: %s called after the HIP runtime shut down\n", STANDIN_TAG, fn);
  fflush(stderr);
  _exit(86);
}

static int device_count(void) {
  const char* n = getenv("STANDIN_DEVICE_COUNT");
  return n ? atoi(n) : 2;
}

STANDIN_EXPORT int hipInit(unsigned flags) {
  static int registered;
  standin_logf("hipInit %u", flags);
  if (!registered) registered = atexit(teardown) == 0;
  return 0;
}
#ifdef STANDIN_HIP_VERSION
STANDIN_EXPORT int hipRuntimeGetVersion(int* v) {
  standin_logf("hipRuntimeGetVersion");
  *v = STANDIN_HIP_VERSION;
  return 0;
}
#endif
STANDIN_EXPORT int hipGetDeviceCount(int* n) {
  *n = device_count();
  return *n ? 0 : 100; /* hipErrorNoDevice */
}
STANDIN_EXPORT int hipGetDevice(int* d) {
  check_alive("hipGetDevice");
  *d = g_current;
  return 0;
}
STANDIN_EXPORT int hipSetDevice(int d) {
  check_alive("hipSetDevice");
  standin_logf("hipSetDevice %d", d);
  if (d < 0 || d >= device_count()) return 101; /* hipErrorInvalidDevice */
  g_current = d;
  return 0;
}

static void fill_props(unsigned char* p, size_t size, size_t mpc_at, size_t arch_at, const char* name, int cus,
                       const char* arch) {
  memset(p, 0, size);
  const char* a = getenv("STANDIN_ARCH");
  snprintf((char*)p, 256, "%s %s", name, STANDIN_TAG);
  memcpy(p + mpc_at, &cus, sizeof cus);
  snprintf((char*)p + arch_at, 256, "%s", a && *a ? a : arch);
}

STANDIN_EXPORT int hipGetDeviceProperties(void* props, int d) {
  standin_logf("hipGetDeviceProperties %d", d);
  if (d < 0 || d >= device_count()) return 101;
  fill_props(props, 792, 336, 396, "Standin R0000", 104, "gfx90a:sramecc+:xnack-");
  return 0;
}
#ifdef STANDIN_R0600
STANDIN_EXPORT int hipGetDevicePropertiesR0600(void* props, int d) {
  standin_logf("hipGetDevicePropertiesR0600 %d", d);
  if (d < 0 || d >= device_count()) return 101;
  fill_props(props, 1472, 388, 1160, "Standin R0600", 48, "gfx1100");
  return 0;
}
#endif

/* Images on the brk heap are refused, as some ROCm 7 builds do; the pointer is kept (HIP
 * does not copy) and read again at every launch. */
static int on_brk_heap(uintptr_t a) {
  FILE* f = fopen("/proc/self/maps", "r");
  char line[512];
  int found = 0;
  while (f && fgets(line, sizeof line, f)) {
    unsigned long lo = 0, hi = 0;
    if (strstr(line, "[heap]") && sscanf(line, "%lx-%lx", &lo, &hi) == 2 && a >= lo && a < hi) found = 1;
  }
  if (f) fclose(f);
  return found;
}

typedef struct {
  const unsigned char* image;
  int device;
} module;

STANDIN_EXPORT int hipModuleLoadData(void** m, const void* image) {
  const uintptr_t a = (uintptr_t)image;
  if (on_brk_heap(a)) {
    standin_logf("hipModuleLoadData refused an image on the brk heap");
    return 200; /* hipErrorInvalidImage */
  }
  if (memcmp(image, "\177ELF", 4) != 0) return 200;
  module* md = calloc(1, sizeof *md);
  md->image = image;
  md->device = g_current;
  *m = md;
  standin_logf("hipModuleLoadData device %d", g_current);
  return 0;
}
STANDIN_EXPORT int hipModuleUnload(void* m) {
  check_alive("hipModuleUnload");
  standin_logf("hipModuleUnload device %d", g_current);
  free(m);
  return 0;
}
STANDIN_EXPORT int hipModuleGetFunction(void** f, void* m, const char* name) {
  if (!m || !name || !*name) return 500; /* hipErrorNotFound */
  *f = m;
  return 0;
}
STANDIN_EXPORT int hipModuleLaunchKernel(void* f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                                         unsigned bz, unsigned shared, void* stream, void** params, void** extra) {
  (void)gz, (void)by, (void)bz, (void)shared, (void)params, (void)extra;
  const module* md = (const module*)f;
  if (memcmp(md->image, "\177ELF", 4) != 0) return 200; /* the image went away */
  if (md->device != g_current) return 400;              /* hipErrorInvalidHandle: wrong device */
  standin_logf("hipModuleLaunchKernel device %d stream %p grid %u,%u block %u", g_current, stream, gx, gy, bx);
  return 0;
}
STANDIN_EXPORT int hipMalloc(void** p, size_t n) {
  standin_logf("hipMalloc device %d %zu", g_current, n);
  *p = malloc(n);
  return *p ? 0 : 2;
}
STANDIN_EXPORT int hipFree(void* p) {
  check_alive("hipFree");
  standin_logf("hipFree device %d", g_current);
  free(p);
  return 0;
}
STANDIN_EXPORT int hipMemcpyHtoD(void* dst, void* src, size_t n) {
  standin_logf("hipMemcpyHtoD device %d %zu", g_current, n);
  memcpy(dst, src, n);
  return 0;
}
STANDIN_EXPORT int hipMemcpyDtoH(void* dst, void* src, size_t n) {
  standin_logf("hipMemcpyDtoH device %d %zu", g_current, n);
  memcpy(dst, src, n);
  return 0;
}
STANDIN_EXPORT int hipMemcpyDtoDAsync(void* dst, void* src, size_t n, void* stream) {
  standin_logf("hipMemcpyDtoDAsync device %d stream %p %zu", g_current, stream, n);
  memcpy(dst, src, n);
  return 0;
}
STANDIN_EXPORT int hipDeviceSynchronize(void) {
  standin_logf("hipDeviceSynchronize device %d", g_current);
  return 0;
}
STANDIN_EXPORT int hipStreamCreateWithFlags(void** s, unsigned flags) {
  *s = malloc(16);
  standin_logf("hipStreamCreateWithFlags device %d flags %u -> %p", g_current, flags, *s);
  return 0;
}
STANDIN_EXPORT int hipStreamSynchronize(void* s) {
  standin_logf("hipStreamSynchronize %p", s);
  return 0;
}
STANDIN_EXPORT int hipStreamDestroy(void* s) {
  check_alive("hipStreamDestroy");
  standin_logf("hipStreamDestroy %p", s);
  free(s);
  return 0;
}
STANDIN_EXPORT int hipEventCreate(void** e) {
  *e = malloc(16);
  standin_logf("hipEventCreate");
  return 0;
}
STANDIN_EXPORT int hipEventRecord(void* e, void* s) {
  (void)e;
  standin_logf("hipEventRecord stream %p", s);
  return 0;
}
STANDIN_EXPORT int hipEventSynchronize(void* e) {
  (void)e;
  standin_logf("hipEventSynchronize");
  return 0;
}
/* A fixed device time, so a test can tell it from a host clock. */
STANDIN_EXPORT int hipEventElapsedTime(float* ms, void* a, void* b) {
  (void)a, (void)b;
  *ms = 1.25f;
  return 0;
}
STANDIN_EXPORT int hipEventDestroy(void* e) {
  standin_logf("hipEventDestroy");
  free(e);
  return 0;
}
STANDIN_EXPORT const char* hipGetErrorString(int r) {
  switch (r) {
    case 100:
      return "hipErrorNoDevice";
    case 101:
      return "hipErrorInvalidDevice";
    case 200:
      return "hipErrorInvalidImage";
    case 400:
      return "hipErrorInvalidHandle";
    default:
      return "hipErrorUnknown";
  }
}
