"""The kernels the PyTorch operator can launch, and the operator hook.

Imports nothing else of the package, so both sides use it without a cycle:

  _kernel   registers each kernel it creates (register), sets the factory that makes a
            kernel for a spec on a device (set_factory), and asks for the hook (hook) to
            give a kernel its operator and to route calls through it while tracing.
  _torch    sets the hook when it is imported (set_hook); its operator implementations
            find the kernel for a spec here (kernel_for, lookup).

Without PyTorch the hook stays None and kernels launch through ctypes only."""
import threading
import weakref

_lock = threading.RLock()
# (canonical spec, device kind, device index) -> Kernel. Weak: the registry never keeps a
# user's context alive.
_kernels = weakref.WeakValueDictionary()
_factory = None  # (spec, device) -> Kernel from the device's default context
_hook = None


def register(kernel):
    """The first kernel for (spec, device) is the one the operator launches there."""
    with _lock:
        _kernels.setdefault((kernel.spec,) + tuple(kernel.device), kernel)


def kernels():
    """The registered kernels (a snapshot)."""
    with _lock:
        return list(_kernels.values())


def lookup(spec, device):
    """The kernel registered for `spec` on `device` (kind, index), one registered for the
    device kind without an index, or None. A meta device matches any kernel of the spec
    (meta tensors name no device)."""
    with _lock:
        k = _kernels.get((spec,) + tuple(device)) or _kernels.get((spec, device[0], None))
        if k is None and device[0] == "meta":
            k = next((v for key, v in list(_kernels.items()) if key[0] == spec), None)
        return k


def set_factory(factory):
    global _factory
    _factory = factory


def kernel_for(spec, device):
    """The kernel the operator launches for `spec` on `device`: the registered one, else a
    new one from the default context of that device."""
    k = _kernels.get((spec,) + tuple(device))
    if k is None and device[1] is not None:
        k = _kernels.get((spec, device[0], None))
    if k is None:
        k = _factory(spec, device)
    return k


class Hook:
    """What an operator layer provides (PyTorch: ropegen._torch)."""

    def attach(self, kernel):
        """The kernel's operator, or None."""
        return None

    def is_compiling(self):
        """True while a tracer (torch.compile) runs the caller's code."""
        return False

    def call(self, kernel, arrays, grid=None):
        """kernel(**arrays[, grid]) through its operator."""
        raise NotImplementedError


def set_hook(hook):
    global _hook
    _hook = hook


def hook():
    return _hook
