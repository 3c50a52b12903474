/* Stand-ins for ROCm's libamdhip64, libhiprtc and libamd_comgr, built by the test suite
 * with the file names and sonames of ROCm 5.2, 6.x and 7.x (tests/hip_loader/CMakeLists.txt);
 * this header and log.c are shared with the libcuda stand-in (tests/cuda_standin/). They
 * export the symbols ropegen calls, record each call, and answer with values that tell
 * which library and which struct layout ropegen used. They run no GPU code. */
#pragma once

#define STANDIN_EXPORT __attribute__((visibility("default")))

#ifndef STANDIN_TAG
#error "STANDIN_TAG must name the ROCm layout (rocm52, rocm6, rocm7)"
#endif

void standin_logf(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
