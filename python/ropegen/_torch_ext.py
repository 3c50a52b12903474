"""The optional C++ fast path for eager calls with PyTorch tensors (csrc/fast.cpp).

Python resolves every call key (_kernel.py: _Probe, _Resolved) and hands each resolved key
to a per-kernel Launcher of the extension; a repeat call of a resolved key then goes from
Kernel.__call__ straight to C++, which compares the tensors with the key, patches the
addresses into a copy of the resolved argument block and calls ropegen_kernel_launch (the
function the ctypes binding calls) on PyTorch's current stream. Anything that is not a
resolved key comes back to Python's own path, so checks and errors are Python's alone.

The extension is compiled on first use with the system C++ compiler against PyTorch's own
headers (no pybind11, CUDA or HIP headers) and cached per PyTorch build, compiler and flags
in ROPEGEN_TORCH_EXT_DIR (default $XDG_CACHE_HOME/ropegen/torch-ext, else
~/.cache/ropegen/torch-ext, else $XDG_RUNTIME_DIR/ropegen/torch-ext, else a folder of the
user's in the temporary directory: the first this user owns and nobody else may write). Without headers, compiler or Python.h, or with
ROPEGEN_NO_TORCH_EXT=1, the package runs on ctypes alone: `reason()` says why. A build that
fails leaves its log beside the cache entry and is not tried again until that log is removed.
"""
import hashlib
import importlib.machinery
import importlib.util
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
import threading
import time
import warnings

MODULE = "_ropegen_fast"
VERSION = 3  # fast.cpp's VERSION: the interface this file calls
SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "csrc", "fast.cpp")
_HEADER = os.path.join("ATen", "core", "TensorBase.h")

_lock = threading.Lock()
_module = None
_reason = "not loaded yet"
_tried = False


def disabled():
    """ROPEGEN_NO_TORCH_EXT set to anything but empty or 0."""
    return os.environ.get("ROPEGEN_NO_TORCH_EXT", "") not in ("", "0")


def cache_dirs():
    """Where built extensions may be kept, in order: ROPEGEN_TORCH_EXT_DIR alone when set,
    else $XDG_CACHE_HOME, ~/.cache, $XDG_RUNTIME_DIR (each + ropegen/torch-ext), then a
    folder of this user's in the temporary directory."""
    d = os.environ.get("ROPEGEN_TORCH_EXT_DIR")
    if d:
        return [d]
    out = []
    for base in (os.environ.get("XDG_CACHE_HOME"), os.path.join(os.path.expanduser("~"), ".cache"),
                 os.environ.get("XDG_RUNTIME_DIR")):
        if base and os.path.isabs(base):
            out.append(os.path.join(base, "ropegen", "torch-ext"))
    import tempfile
    uid = os.getuid() if hasattr(os, "getuid") else 0
    out.append(os.path.join(tempfile.gettempdir(), f"ropegen-torch-ext-{uid}"))
    return out


def _private_dir(path):
    """Creates `path` (mode 0700) and checks that this user owns it and nobody else may
    write to it: a shared object is loaded from there. None, or why not."""
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        st = os.stat(path)
    except OSError as e:
        return f"cannot create {path}: {e}"
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        return f"{path} is not owned by this user"
    if st.st_mode & 0o022:
        return f"{path} is writable by other users"
    return None


def _plan(torch):
    """(compile command without output, cache name) or raise _Skip with the reason."""
    if os.name != "posix":
        raise _Skip("the C++ fast path is built on POSIX systems only")
    cxx = os.environ.get("CXX") or "c++"
    cxx_path = shutil.which(cxx)
    if cxx_path is None:
        raise _Skip(f"no C++ compiler ({cxx}; set CXX to choose one)")
    py_include = sysconfig.get_paths().get("include") or ""
    if not os.path.exists(os.path.join(py_include, "Python.h")):
        raise _Skip(f"Python's C headers are missing ({py_include}/Python.h; Debian: python3-dev)")
    torch_dir = os.path.dirname(os.path.abspath(torch.__file__))
    include, lib = os.path.join(torch_dir, "include"), os.path.join(torch_dir, "lib")
    extra = shlex.split(os.environ.get("ROPEGEN_TORCH_EXT_CXXFLAGS", ""))
    dirs = [include]
    for i, f in enumerate(extra):  # -I/dir, -I /dir, -isystem /dir
        if f.startswith("-I") and len(f) > 2:
            dirs.append(f[2:])
        elif f in ("-I", "-isystem") and i + 1 < len(extra):
            dirs.append(extra[i + 1])
    if not any(os.path.exists(os.path.join(d, _HEADER)) for d in dirs):
        raise _Skip(f"PyTorch's C++ headers are missing ({os.path.join(include, _HEADER)}; Debian: libtorch-dev)")
    abi = int(bool(getattr(torch._C, "_GLIBCXX_USE_CXX11_ABI", True)))
    cmd = [cxx_path, "-O2", "-std=c++17", "-shared", "-fPIC", "-fvisibility=hidden", "-w",
           f"-D_GLIBCXX_USE_CXX11_ABI={abi}", "-I" + include, "-I" + py_include] + extra + [SOURCE]
    cmd += ["-L" + lib, "-lc10", "-Wl,-rpath," + lib]
    with open(SOURCE, "rb") as f:
        source = f.read()
    h = hashlib.sha256()
    for part in (source, torch.__version__, os.path.realpath(torch_dir), str(getattr(torch.version, "cuda", None)),
                 str(getattr(torch.version, "hip", None)), sys.version, sysconfig.get_config_var("EXT_SUFFIX") or "",
                 os.path.realpath(cxx_path), " ".join(c for c in cmd if c != SOURCE)):
        h.update(part if isinstance(part, bytes) else part.encode())
        h.update(b"\0")
    return cmd, f"{MODULE}-{h.hexdigest()[:20]}"


class _Skip(Exception):
    pass


def _load_file(path):
    loader = importlib.machinery.ExtensionFileLoader(MODULE, path)
    spec = importlib.util.spec_from_file_location(MODULE, path, loader=loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    if getattr(mod, "VERSION", None) != VERSION:
        raise _Skip(f"{path} has interface {getattr(mod, 'VERSION', None)}, expected {VERSION}")
    return mod


# Run in a child process on a built module before any process uses it: the module reads
# PyTorch's tensor objects by their layout, and a PyTorch laid out otherwise must crash the
# child (which then marks the entry failed), never the caller.
_CHECK = r"""
import importlib.machinery, importlib.util, sys
import torch
path, name, layout = sys.argv[1], sys.argv[2], int(sys.argv[3])
loader = importlib.machinery.ExtensionFileLoader(name, path)
mod = importlib.util.module_from_spec(importlib.util.spec_from_file_location(name, path, loader=loader))
loader.exec_module(mod)
mod.set_layout(layout)
base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
ts = [base, base[:, 1:5], base.t(), torch.zeros(3, 5, dtype=torch.bfloat16)[1:],
      torch.nn.Parameter(torch.ones(7)), torch.zeros((), dtype=torch.int64)]
if torch.cuda.is_available():
    ts.append(torch.zeros(5, 8, device="cuda")[:, 2:])
for t in ts:
    got, want = mod.probe(t), (t.data_ptr(), tuple(t.shape), tuple(t.stride()))
    if got != want:
        sys.exit(f"read {got} from a tensor that is {want}")
"""


LAYOUTS = ("MaybeOwned<Tensor>", "Tensor")  # how PyTorch's tensor object holds its tensor: fast.cpp's set_layout


def _check_in_child(so, layout):
    """None when a child process reads fresh tensors through `so` (tensor objects read as
    LAYOUTS[layout]) as Python sees them; else why not."""
    try:
        out = subprocess.run([sys.executable, "-c", _CHECK, so, MODULE, str(layout)], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"its check process did not run: {e}"
    if out.returncode == 0:
        return None
    how = f"signal {-out.returncode}" if out.returncode < 0 else f"exit {out.returncode}"
    return (f"it cannot read this PyTorch's tensor objects as {LAYOUTS[layout]} (its check process ended with "
            f"{how}): " + out.stdout.decode(errors="replace")[-2000:])


def _load_checked(so, checked):
    """The module at `so`, set to the layout its check found (the number in `checked`)."""
    mod = _load_file(so)
    with open(checked) as f:
        layout = int(f.read().split()[0])
    mod.set_layout(layout)
    return mod


def _build(torch):
    cmd, name = _plan(torch)
    why = []
    for folder in cache_dirs():
        bad = _private_dir(folder)
        if not bad:
            break
        why.append(bad)
    else:
        raise _Skip(f"no usable cache folder: {'; '.join(why)} (ROPEGEN_TORCH_EXT_DIR)")
    so, failed = os.path.join(folder, name + ".so"), os.path.join(folder, name + ".failed.log")
    checked = os.path.join(folder, name + ".checked")  # written once a child process read tensors through it
    if os.path.exists(so) and os.path.exists(checked):
        return _load_checked(so, checked)
    if os.path.exists(failed):
        raise _Skip(f"its build failed before; the log is {failed} (remove it to try again)")
    import fcntl
    with open(os.path.join(folder, name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one build per entry; the others wait, then load it
        if not os.path.exists(so) and not os.path.exists(failed):
            tmp = os.path.join(folder, f".{name}.{os.getpid()}.tmp.so")
            t0 = time.monotonic()
            try:
                out = subprocess.run(cmd + ["-o", tmp], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     timeout=600)
                ok, log = out.returncode == 0, out.stdout.decode(errors="replace")
            except (OSError, subprocess.TimeoutExpired) as e:
                ok, log = False, str(e)
            if ok:
                os.replace(tmp, so)
                if os.environ.get("ROPEGEN_VERBOSE") == "1":
                    print(f"ropegen: built the PyTorch fast path {so} in {time.monotonic() - t0:.1f} s",
                          file=sys.stderr)
            else:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
                with open(failed, "w") as f:
                    f.write(" ".join(shlex.quote(c) for c in cmd + ["-o", tmp]) + "\n\n" + log)
                warnings.warn(f"ropegen: building the PyTorch fast path failed (log: {failed}); calls take the "
                              f"ctypes path", RuntimeWarning, stacklevel=4)
                raise _Skip(f"its build failed; the log is {failed} (remove it to try again)")
        if os.path.exists(failed):
            raise _Skip(f"its build or check failed before; the log is {failed} (remove it to try again)")
        if not os.path.exists(checked):
            bad = []
            for layout in range(len(LAYOUTS)):  # the first layout a child process reads right
                why = _check_in_child(so, layout)
                if why is None:
                    with open(checked, "w") as f:
                        f.write(f"{layout} tensor objects hold a {LAYOUTS[layout]}: read as Python reads them\n")
                    break
                bad.append(why)
            else:
                with open(failed, "w") as f:
                    f.write("\n\n".join(bad) + "\n")
                first = " / ".join(b.split(":")[0] for b in bad)
                warnings.warn(f"ropegen: the PyTorch fast path is off: {first} (log: {failed})", RuntimeWarning,
                              stacklevel=4)
                raise _Skip(f"{first}; the log is {failed}")
    return _load_checked(so, checked)


def module():
    """The extension module, built or loaded on first use; None when unavailable
    (reason() says why)."""
    global _module, _reason, _tried
    if _tried:
        return _module
    with _lock:
        if not _tried:
            torch = sys.modules.get("torch")
            try:
                if disabled():
                    raise _Skip("ROPEGEN_NO_TORCH_EXT is set")
                if torch is None:
                    raise _Skip("PyTorch is not imported")
                _module, _reason = _build(torch), None
            except _Skip as e:
                _module, _reason = None, str(e)
            except Exception as e:  # a load error: the ctypes path still works
                _module, _reason = None, f"{type(e).__name__}: {e}"
                warnings.warn(f"ropegen: the PyTorch fast path is off: {_reason}", RuntimeWarning, stacklevel=3)
            _tried = True
    return _module


def reason():
    """Why the fast path is not in use (None when it is)."""
    module()
    return _reason


def disable(why):
    """Turns the fast path off for kernels made from now on (a Launcher refused a key)."""
    global _module, _reason, _tried
    with _lock:
        _module, _reason, _tried = None, why, True
    warnings.warn(f"ropegen: the PyTorch fast path is off: {why}", RuntimeWarning, stacklevel=3)


def launcher(kernel, launch_address, tensor_types, raw_stream):
    """A Launcher for `kernel` (None without the extension): it calls the C function at
    `launch_address` with the kernel's handle; `raw_stream(index)` gives PyTorch's current
    stream of a GPU (a host kernel launches without one)."""
    mod = module()
    if mod is None or not tensor_types or not kernel._handle:
        return None
    stream_fn = None
    if kernel.device[0] != "cpu":
        stream_fn = getattr(sys.modules["torch"]._C, "_cuda_getCurrentRawStream", None) or raw_stream
    return mod.Launcher(launch_address, kernel._handle.value, tuple(tensor_types), stream_fn)
