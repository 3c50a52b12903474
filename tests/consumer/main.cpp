#include <cstdio>

#include "ropegen/ropegen.hpp"
#include "ropegen/verify.hpp"

int main() {
  auto ctx = ropegen::Context::open("host");
  auto k = ctx->kernel("op=rope head_dim=64 q_heads=4 kv_heads=2");
  bool ok = ropegen::verify(ctx->runtime(), *k, ropegen::VerifyCase{}).passed;
  std::printf("consumer: %s\n", ok ? "OK" : "FAILED");
  return ok ? 0 : 1;
}
