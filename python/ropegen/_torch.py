"""PyTorch operators: one per set of arguments a kernel writes, so each declares exactly
the mutations it makes (torch.compile functionalizes them; CUDA graphs capture the launch).

  torch >= 2.4: torch.library.custom_op + register_fake
  older:        torch.library.Library("ropegen", "DEF") with a schema of mutable alias
                annotations (Tensor(a!)?), implementations for CPU, CUDA and Meta
  neither:      no operator; calls launch eagerly

ropegen::launch__q__k_cache__v_cache(str spec, Tensor? positions, ..., Tensor(a!)? q, ...)
takes the kernel's canonical spec and the tensors by their field names in the argument
block. The tensor parameters are the pointer fields of the library's layout table
(ropegen_kernel_args_layout, header order), so every kernel has an operator and a pointer
field added to kernel_args.h is a parameter with no change here.

Importing this module sets the operator hook of ropegen._registry; it never touches
another module's globals."""
import threading

import torch

from . import _registry
from ._lib import Error, library

# The pointer fields of ropegen_kernel_args, in header order: the operator's tensor
# parameters, from the library's own table.
OP_ARGS = library().pointer_fields

HAS_CUSTOM_OP = hasattr(torch.library, "custom_op") and hasattr(torch.library, "register_fake")
HAS_LIBRARY = hasattr(torch.library, "Library")
_ops = {}  # mutated names -> callable operator
_lock = threading.Lock()
_library = None


def _device_of(tensors):
    for t in tensors.values():
        if t is not None:
            d = t.device
            return ("cpu", None) if d.type == "cpu" else (d.type, d.index)
    raise Error("ropegen operator called without tensors", "ROPEGEN_ERROR_LAUNCH", 1)


def _run(spec, tensors):
    tensors = {n: t for n, t in tensors.items() if t is not None}
    k = _registry.kernel_for(spec, _device_of(tensors))
    k.launch(**tensors)


def _fake(spec, tensors):
    """Shape, dtype and stride checks on fake tensors (no addresses): errors surface while
    tracing, as they would eagerly."""
    tensors = {n: t for n, t in tensors.items() if t is not None}
    dev = _device_of(tensors)
    k = _registry.lookup(spec, dev)
    if k is not None:
        k._plan(k._views(dict(tensors), need_ptr=False), check_device=dev[0] != "meta")


def _op_name(mutated):
    return "launch" + "".join("__" + n for n in mutated) if mutated else "launch__none"


def _make_custom_op(name, mutated):
    T = "Optional[torch.Tensor]"
    params = ", ".join(f"{n}: {T} = None" for n in OP_ARGS)
    src = (f"def impl(spec: str, {params}) -> None:\n"
           f"    run(spec, dict({', '.join(f'{n}={n}' for n in OP_ARGS)}))\n")
    ns = {"Optional": __import__("typing").Optional, "torch": torch, "__name__": __name__}
    exec(src, dict(ns, run=_run), ns)
    fns = {}
    exec(src, dict(ns, run=_fake), fns)
    op = torch.library.custom_op(f"ropegen::{name}", mutates_args=tuple(mutated))(ns["impl"])
    op.register_fake(fns["impl"])
    return getattr(torch.ops.ropegen, name)


def _make_library_op(name, mutated):
    global _library
    if _library is None:
        _library = torch.library.Library("ropegen", "DEF")
    letters = iter("abcdefghijklmnopqrstuvwxyz")  # one alias set per mutated tensor
    args = ", ".join(f"Tensor({next(letters)}!)? {n}=None" if n in mutated else f"Tensor? {n}=None" for n in OP_ARGS)
    _library.define(f"{name}(str spec, {args}) -> ()")

    def impl(spec, *tensors):
        _run(spec, dict(zip(OP_ARGS, tensors)))

    def meta(spec, *tensors):
        _fake(spec, dict(zip(OP_ARGS, tensors)))

    _library.impl(name, impl, "CPU")
    _library.impl(name, impl, "CUDA")
    try:
        _library.impl(name, meta, "Meta")
        _library.impl(name, meta, "AutogradMeta")  # 1.13 has no autograd fallthrough for Meta
    except Exception:  # a torch without Python Meta kernels: eager CPU/CUDA only
        pass
    return getattr(torch.ops.ropegen, name)


def operator(mutated):
    """The operator for kernels that write `mutated` (a tuple of field names)."""
    with _lock:
        op = _ops.get(mutated)
        if op is None:
            name = _op_name(mutated)
            if HAS_CUSTOM_OP:
                op = _make_custom_op(name, mutated)
            elif HAS_LIBRARY:
                op = _make_library_op(name, mutated)
            else:
                return None
            _ops[mutated] = op
        return op


def _not_compiling():
    return False


def _compiling_probe():
    """PyTorch's own is_compiling, which dynamo folds to True while tracing."""
    compiler = getattr(torch, "compiler", None)
    if compiler is not None and hasattr(compiler, "is_compiling"):
        return compiler.is_compiling
    if hasattr(getattr(torch, "_dynamo", None), "is_compiling"):
        return torch._dynamo.is_compiling
    return _not_compiling


class TorchHook(_registry.Hook):
    def __init__(self):
        self.is_compiling = _compiling_probe()

    def attach(self, kernel):
        """The kernel's operator: every argument a kernel takes is a pointer field, so every
        kernel has one (None only for a torch without torch.library)."""
        if not all(f in OP_ARGS for f in kernel.arguments):
            return None
        return operator(kernel.mutated)

    def call(self, kernel, arrays):
        """kernel(...) through its operator (what torch.compile traces): the family's
        argument names become field names, cos_sin_cache becomes cos and sin."""
        table = arrays.pop("cos_sin_cache", None)
        arrays = kernel._field_names(arrays)
        if table is not None:
            h = kernel._half_rot
            if h is None:
                raise Error(f"argument 'cos_sin_cache': this kernel ({kernel.spec}) reads no cos/sin table",
                            "ROPEGEN_ERROR_LAUNCH", 1)
            arrays["cos"], arrays["sin"] = table[:, :h], table[:, h:2 * h]
        return kernel.op(kernel.spec, **arrays)


_registry.set_hook(TorchHook())
