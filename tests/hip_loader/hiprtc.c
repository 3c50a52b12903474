/* hipRTC stand-in: inside libamdhip64 (ROCm 5.x, 6.x) or in libhiprtc (ROCm 7, PyTorch's
 * unversioned libhiprtc.so). Compiling always fails with a log that repeats the options, so a
 * test sees what ropegen passed. hiprtcVersion answers 42.0, which is no ROCm release: the
 * ROCm version must come from elsewhere. With STANDIN_NULL_ERROR_STRING,
 * hiprtcGetErrorString returns NULL, as some builds do for codes they do not name. */
#include <stdlib.h>
#include <string.h>

#include "standin.h"

typedef struct {
  char log[4096];
} program;

STANDIN_EXPORT int hiprtcCreateProgram(void** prog, const char* src, const char* name, int n, const char** h,
                                       const char** hn) {
  (void)src, (void)n, (void)h, (void)hn;
  standin_logf("hiprtcCreateProgram %s", name);
  *prog = calloc(1, sizeof(program));
  return 0;
}

STANDIN_EXPORT int hiprtcCompileProgram(void* prog, int n, const char** options) {
  program* p = (program*)prog;
  strcpy(p->log, "standin hipRTC (" STANDIN_TAG ") compiles nothing; options:");
  for (int i = 0; i < n; ++i) {
    strncat(p->log, " ", sizeof p->log - strlen(p->log) - 1);
    strncat(p->log, options[i], sizeof p->log - strlen(p->log) - 1);
  }
  standin_logf("hiprtcCompileProgram%s", strchr(p->log, ':') + 1);
  return 6; /* HIPRTC_ERROR_COMPILATION */
}

STANDIN_EXPORT int hiprtcGetProgramLogSize(void* prog, size_t* n) {
  *n = strlen(((program*)prog)->log) + 1;
  return 0;
}
STANDIN_EXPORT int hiprtcGetProgramLog(void* prog, char* out) {
  strcpy(out, ((program*)prog)->log);
  return 0;
}
STANDIN_EXPORT int hiprtcGetCodeSize(void* prog, size_t* n) {
  (void)prog;
  *n = 0;
  return 0;
}
STANDIN_EXPORT int hiprtcGetCode(void* prog, char* out) {
  (void)prog, (void)out;
  return 0;
}
STANDIN_EXPORT int hiprtcDestroyProgram(void** prog) {
  free(*prog);
  *prog = NULL;
  return 0;
}
STANDIN_EXPORT int hiprtcVersion(int* major, int* minor) {
  *major = 42;
  *minor = 0;
  return 0;
}
#ifdef STANDIN_NULL_ERROR_STRING
STANDIN_EXPORT const char* hiprtcGetErrorString(int r) {
  (void)r;
  return NULL;
}
#else
STANDIN_EXPORT const char* hiprtcGetErrorString(int r) { return r == 6 ? "HIPRTC_ERROR_COMPILATION" : "hiprtc error"; }
#endif
