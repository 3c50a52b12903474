// sin and cos of a float, the same code on every target: no device math library is
// needed (AMD builds have none), no local memory is used (CUDA's sincosf keeps a stack
// array for its slow path), and the host runs exactly what the GPUs run. Range reduction by pi/2 in double with a three-part constant
// (exact products for |x| < 2^20, good to ~1e-16 relative well beyond), then single
// precision minimax polynomials on [-pi/4, pi/4]. Accuracy: within 2 ulp of sin/cos of the
// float argument (checked on the host target by the test suite).

// sin and cos of y = x - k pi/2 (|y| <= pi/4 once reduced), rotated by quadrant k & 3.
RG_DEVICE void rg_sincos_reduced(double r, double k, float* s, float* c) {
  const float y = static_cast<float>(r);
  const float z = y * y;
  const float sin_y = y + y * z * (-1.6666654611e-1f + z * (8.3321608736e-3f + z * -1.9515295891e-4f));
  const float cos_y = 1.0f - 0.5f * z +
                      z * z * (4.166664568298827e-2f + z * (-1.388731625493765e-3f + z * 2.443315711809948e-5f));
  const long long q = static_cast<long long>(k) & 3;
  if (q == 0) { *s = sin_y; *c = cos_y; }
  else if (q == 1) { *s = cos_y; *c = -sin_y; }
  else if (q == 2) { *s = -sin_y; *c = -cos_y; }
  else { *s = -cos_y; *c = sin_y; }
}

RG_DEVICE void rg_sincos(float x, float* s, float* c) {
  const double xd = x;
  const double k = rg_rint(xd * 0.63661977236758134308);  // 2/pi
  double r = xd - k * 1.57079632673412561417e+00;                // pi/2, first 33 bits
  r = r - k * 6.07710050630396597660e-11;                        // next 33 bits
  r = r - k * 2.02226624879595063154e-21;                        // the rest
  rg_sincos_reduced(r, k, s, c);
}

// angle = exact: sin and cos of a double angle (|x| < 2^26 * pi / 2), reduced by pi/2 with a
// three-part constant whose first two parts have 27 significant bits, so k * part is exact
// for every k < 2^26; the reduced angle is then good to ~1e-16 and the float polynomials
// give a few fp32 ulps of the fp64 result at any position below 2^24.
RG_DEVICE void rg_sincos_exact(double x, float* s, float* c) {
  const double k = rg_rint(x * 0.63661977236758134308);  // 2/pi
  double r = x - k * 0x1.921fb54p+0;                         // pi/2, first 27 bits
  r = r - k * 0x1.10b461p-30;                                // next 27 bits
  r = r - k * 0x1.a62633145c06ep-58;                         // the rest
  rg_sincos_reduced(r, k, s, c);
}
