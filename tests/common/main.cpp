#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>

#include "skip.hpp"

namespace ropegen_test {
namespace {
bool g_skipped = false;
}

void skip_for_device(const std::string& why) {
  g_skipped = true;
  std::printf("SKIPPED: %s\n", why.c_str());
}

bool skipped_for_device() { return g_skipped; }

}  // namespace ropegen_test

int main(int argc, char** argv) {
  doctest::Context context(argc, argv);
  const int rc = context.run();
  if (context.shouldExit()) return rc;
  // The GPU suites run only device tests: when one skipped and none failed, the suite skipped.
  if (rc == 0 && ropegen_test::skipped_for_device()) return ropegen_test::kSkipExitCode;
  return rc;
}
