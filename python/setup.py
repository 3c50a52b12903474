"""Builds the ropegen Python package with libropegen_c.so and the ropegen command inside it,
offline.

    pip install --no-build-isolation ./python          (Debian 12: add --break-system-packages,
                                                        or use a venv made with --system-site-packages)

The C library and the command come from ROPEGEN_LIB_DIR (a directory holding a built
libropegen_c.so and ropegen executable, such as the CMake build directory), else CMake builds
targets ropegen_c and ropegen_cli in ROPEGEN_CMAKE_BUILD_DIR (default: the repository's build/
if it is configured, else build-python/), with ROPEGEN_BUILD_JOBS parallel jobs (default 2).
Nothing is downloaded. The command is installed as `ropegen` (and `python -m ropegen`): a
console script that runs the bundled executable.
"""
import os
import shutil
import subprocess

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
LIB = "libropegen_c.so"
CLI = "ropegen"  # the executable, bundled beside the library (ropegen._lib.find_cli)


def built_files():
    """(library, command) paths."""
    lib_dir = os.environ.get("ROPEGEN_LIB_DIR")
    if lib_dir:
        paths = os.path.join(lib_dir, LIB), os.path.join(lib_dir, CLI)
        for path in paths:
            if not os.path.isfile(path):
                raise SystemExit(f"ROPEGEN_LIB_DIR={lib_dir} holds no {os.path.basename(path)}")
        return paths
    if not os.path.exists(os.path.join(ROOT, "CMakeLists.txt")):
        raise SystemExit(f"no ropegen source tree above {HERE} and no ROPEGEN_LIB_DIR: cannot build {LIB}")
    build = os.environ.get("ROPEGEN_CMAKE_BUILD_DIR")
    if not build:
        build = os.path.join(ROOT, "build")
        if not os.path.exists(os.path.join(build, "CMakeCache.txt")):
            build = os.path.join(ROOT, "build-python")
    if not os.path.exists(os.path.join(build, "CMakeCache.txt")):
        subprocess.check_call(["cmake", "-S", ROOT, "-B", build, "-DCMAKE_BUILD_TYPE=Release",
                               "-DROPEGEN_BUILD_TESTS=OFF", "-DROPEGEN_BUILD_BENCH=OFF"])
    jobs = os.environ.get("ROPEGEN_BUILD_JOBS", "2")
    subprocess.check_call(["cmake", "--build", build, "--target", "ropegen_c", "ropegen_cli", "-j", jobs])
    return os.path.join(build, LIB), os.path.join(build, CLI)


class BuildPy(build_py):
    def run(self):
        super().run()
        lib, cli = built_files()
        self.mkpath(os.path.join(self.build_lib, "ropegen"))
        shutil.copyfile(lib, os.path.join(self.build_lib, "ropegen", LIB))
        shutil.copy(cli, os.path.join(self.build_lib, "ropegen", CLI))  # keeps the executable bit


class BinaryDistribution(Distribution):
    """The wheel carries a native library: tag it for this platform."""

    def has_ext_modules(self):
        return True


setup(
    name="ropegen",
    version="0.1.0",
    description="JIT-compiled RoPE + KV-cache kernels (Python binding of ropegen's C API)",
    packages=["ropegen"],
    package_data={"ropegen": [LIB, CLI, "csrc/fast.cpp"]},  # csrc: the optional PyTorch fast path (_torch_ext)
    entry_points={"console_scripts": ["ropegen = ropegen.__main__:main"]},
    python_requires=">=3.8",
    cmdclass={"build_py": BuildPy},
    distclass=BinaryDistribution,
    zip_safe=False,
)
