// Skipping for a missing device: a test that needs a GPU which is not there records why, and
// the suite's main (tests/common/main.cpp) exits with kSkipExitCode when nothing failed, so CTest
// (SKIP_RETURN_CODE in the suites' CMakeLists.txt) reports the test as skipped, not passed.
#pragma once

#include <string>

namespace ropegen_test {

/// The exit code of a suite that could only skip (CTest's convention for "skipped").
constexpr int kSkipExitCode = 77;

/// Records that a test could not do its work here (no device) and prints why.
void skip_for_device(const std::string& why);
/// True once skip_for_device() was called in this process.
bool skipped_for_device();

}  // namespace ropegen_test
