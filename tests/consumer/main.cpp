#include <cstdio>

#include "ropegen/ropegen.hpp"

int main() {
  auto ctx = ropegen::Context::open("host");
  auto k = ctx->kernel("op=rope head_dim=64 q_heads=4 kv_heads=2");
  bool ok = ctx->verify(*k);
  std::printf("consumer: %s\n", ok ? "OK" : "FAILED");
  return ok ? 0 : 1;
}
