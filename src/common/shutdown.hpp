// Process exit and vendor runtimes: objects that outlive a GPU runtime's own teardown.
//
// A kernel, buffer or stream held by a static object (a global context in C++, a context an
// interpreter frees late) is destroyed by exit() after the HIP or CUDA runtime may already
// have torn itself down in its own exit handler; a call into it then crashes or hangs
// (libamdhip64 does both). exit() runs its handlers in reverse order of registration, so a
// handler registered right after a vendor runtime initialised runs before that runtime's
// teardown: from then on, destructors skip vendor calls and leave the memory to the process's
// end.
#pragma once

namespace ropegen::detail {

/// Call right after a vendor runtime initialised (hipInit, cuInit): registers, once per
/// caller site's `slot` (0: HIP, 1: CUDA), an exit handler that marks vendor calls unsafe.
void watch_vendor_exit(int slot);

/// True once exit() reached a handler of watch_vendor_exit: destructors make no HIP or CUDA
/// calls from then on.
bool vendor_exit_started();

}  // namespace ropegen::detail
