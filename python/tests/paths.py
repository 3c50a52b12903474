"""Lets the tests run from a source checkout with no environment set: the package from
python/ (unless one is installed) and, when that copy bundles no library and neither
ROPEGEN_LIB nor ROPEGEN_LIB_DIR is set, libropegen_c.so from build-gpu/ or build/."""
import importlib.util
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE_PARENT = os.path.dirname(HERE)
ROOT = os.path.dirname(PACKAGE_PARENT)
if HERE not in sys.path:
    sys.path.insert(0, HERE)
if importlib.util.find_spec("ropegen") is None:
    sys.path.insert(0, PACKAGE_PARENT)
spec = importlib.util.find_spec("ropegen")
bundled = spec is not None and os.path.exists(os.path.join(os.path.dirname(spec.origin), "libropegen_c.so"))
if not bundled and not os.environ.get("ROPEGEN_LIB") and not os.environ.get("ROPEGEN_LIB_DIR"):
    for d in ("build-gpu", "build"):
        if os.path.exists(os.path.join(ROOT, d, "libropegen_c.so")):
            os.environ["ROPEGEN_LIB_DIR"] = os.path.join(ROOT, d)
            break
