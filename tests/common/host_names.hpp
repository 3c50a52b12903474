// The host prelude's names that templates/fp8.h and templates/quant.h use, for tests that
// compile those templates as plain C++ (tests/unit/test_reference.cpp).
#pragma once

#include <cstring>

#define RG_DEVICE static inline
static inline float rg_as_float(unsigned u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}
static inline unsigned rg_as_uint(float f) {
  unsigned u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}
static inline float rg_rintf(float x) { return __builtin_rintf(x); }
static inline float rg_fmaf(float a, float b, float c) { return __builtin_fmaf(a, b, c); }
