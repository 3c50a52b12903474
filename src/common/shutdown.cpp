#include "shutdown.hpp"

#include <atomic>
#include <cstdlib>
#include <mutex>

namespace ropegen::detail {
namespace {

std::atomic<bool> g_exit_started{false};

void mark_exit() { g_exit_started.store(true, std::memory_order_release); }

}  // namespace

void watch_vendor_exit(int slot) {
  static std::once_flag once[2];
  std::call_once(once[slot & 1], [] { std::atexit(mark_exit); });
}

bool vendor_exit_started() { return g_exit_started.load(std::memory_order_acquire); }

}  // namespace ropegen::detail
