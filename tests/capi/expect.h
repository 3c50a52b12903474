/* Shared by the C API tests: pass/fail counters and EXPECT(cond, what), which counts and, on
 * failure, prints the place, what was expected and ropegen_last_error(). */
#ifndef ROPEGEN_TESTS_CAPI_EXPECT_H
#define ROPEGEN_TESTS_CAPI_EXPECT_H

#include <stdio.h>

#include "ropegen/ropegen.h"

static int passed = 0, failed = 0;

#define EXPECT(cond, what)                                                                         \
  do {                                                                                             \
    if (cond) {                                                                                    \
      ++passed;                                                                                    \
    } else {                                                                                       \
      ++failed;                                                                                    \
      printf("FAIL %s:%d: %s (last error: %s)\n", __FILE__, __LINE__, what, ropegen_last_error()); \
    }                                                                                              \
  } while (0)

#endif
