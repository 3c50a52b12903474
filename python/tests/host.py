"""Whether the host target can compile here, for the tests that run kernels on the CPU."""
import os

import ropegen


def compiler_missing():
    """These tests compile for the host target with the system C++ compiler. A GPU machine
    without one skips them with the reason (returned); CTest sets ROPEGEN_TEST_REQUIRE_HOST=1,
    so there a missing compiler fails instead. None when the host target compiles."""
    try:
        ropegen.kernel("op=rope head_dim=32 q_heads=2 kv_heads=1 dtype=f32", device="cpu")
    except ropegen.Error as e:
        if e.fault == 2 and os.environ.get("ROPEGEN_TEST_REQUIRE_HOST") != "1":
            return f"the host target cannot compile here: {e}"
        raise
    return None
