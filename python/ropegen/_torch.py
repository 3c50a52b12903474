"""PyTorch operators: one per set of arguments a kernel writes, so each declares exactly
the mutations it makes (torch.compile functionalizes them; CUDA graphs capture the launch).

ropegen::launch__q__k_cache__v_cache(str spec, Tensor? positions, ..., Tensor(a!)? q, ...)
takes the kernel's canonical spec and the tensors by their field names in the argument
block. The tensor parameters are the pointer fields of the library's layout table
(ropegen_kernel_args_layout, header order), so every kernel has an operator and a pointer
field added to kernel_args.h is a parameter with no change here.

A layers = many kernel has an operator of its own per (mutated fields, per-layer fields):
ropegen::launch_layers__q__k_cache__v_cache__per__k_cache__v_cache(str spec, ...,
Tensor(a!)? q, ..., Tensor(b!)[]? k_cache, Tensor(c!)[]? v_cache, ...): each argument a layer
owns (its describe "layer_offset") is a list with one tensor per layer (Tensor[]?, with an
alias set of its own when written), q, k and v are one tensor each with the layers outermost,
the record array `layers` is no parameter (the implementation builds it from the lists'
addresses, Kernel._record_array).

Each operator is defined with torch.library.Library and given one Python implementation
for the CPU and one for the CUDA dispatch key (ROCm PyTorch's GPUs use it too), and a fake
implementation for tracing: register_fake (PyTorch 2.4+), impl_abstract (2.2, 2.3), else a
Meta implementation. That is the dispatcher's shortest path to Python: torch.library.custom_op
adds Python layers (autograd, in-place version bumps) around the same function on every
call, which costs more than the launch (python/bench_overhead.py measures both). Nothing
here has a gradient: no argument of a ropegen kernel is differentiable through it.

Importing this module sets the operator hook of ropegen._registry; it never touches
another module's globals."""
import threading
import weakref

import torch

from . import _registry
from ._kernel import _grid_ints
from ._lib import Error, library

# The pointer fields of ropegen_kernel_args, in header order: the operator's tensor
# parameters, from the library's own table.
OP_ARGS = library().pointer_fields

HAS_LIBRARY = hasattr(torch.library, "Library")
_ops = {}  # mutated names -> callable operator
_lock = threading.Lock()
_library = None
_kernels = {}  # (spec, device kind, index) -> weak reference to the kernel the operator launches


def _kernel(spec, kind, index):
    ref = _kernels.get((spec, kind, index))
    k = ref() if ref is not None else None
    if k is None:
        k = _registry.kernel_for(spec, (kind, index))
        if len(_kernels) >= 1024:
            _kernels.clear()
        _kernels[(spec, kind, index)] = weakref.ref(k)
    return k


# The integer fields the caller gives (not derived from tensor shapes): positions = grid's
# height and width, when the library has them (ABI 7). The operator takes them as ints.
OP_INTS = tuple(n for n in ("grid_h", "grid_w") if n in library().kinds)


def _run_cpu(spec, tensors, grid=None):
    if not tensors:
        raise Error("ropegen operator called without tensors", "ROPEGEN_ERROR_LAUNCH", 1)
    _kernel(spec, "cpu", None)._launch_items(tensors, None, grid)


def _each(tensors):
    """The tensors of an operator call, a per-layer list's one by one."""
    for t in tensors.values():
        if isinstance(t, (list, tuple)):
            yield from t
        else:
            yield t


def _run_cuda(spec, tensors, grid=None):
    """The CUDA dispatch key runs when any tensor is on a GPU: the kernel of the first GPU
    tensor's device (the launch checks name any tensor elsewhere)."""
    index = -1
    for t in _each(tensors):
        index = t.get_device()
        if index >= 0:
            break
    if index < 0:
        raise Error("ropegen operator: no tensor on a GPU", "ROPEGEN_ERROR_LAUNCH", 1)
    _kernel(spec, "cuda", index)._launch_items(tensors, None, grid)


def _device_of(tensors):
    d = next(_each(tensors)).device
    return ("cpu", None) if d.type == "cpu" else (d.type, d.index)


def _fake(spec, tensors, grid=None):
    """Shape, dtype and stride checks on fake tensors (no addresses): errors surface while
    tracing, as they would eagerly (layers = many: each layer's, as its launch checks them)."""
    if not any(True for _ in _each(tensors)):
        raise Error("ropegen operator called without tensors", "ROPEGEN_ERROR_LAUNCH", 1)
    dev = _device_of(tensors)
    k = _registry.lookup(spec, dev)
    if k is None:
        return
    if k._layered:
        k._layer_plan(dict(tensors), need_ptr=False, check_device=dev[0] != "meta")
    else:
        k._plan(k._views(dict(tensors), need_ptr=False), check_device=dev[0] != "meta")


def _layer_op_name(mutated, own):
    return "launch_layers" + "".join("__" + n for n in mutated) + "__per" + "".join("__" + n for n in own)


def _op_name(mutated):
    return "launch" + "".join("__" + n for n in mutated) if mutated else "launch__none"


def _implementation(run, params=None):
    """impl(spec, positions=None, ..., k_norm_weight=None[, grid_h=0, grid_w=0]): the
    operator's parameters by position or name (`params`, default OP_ARGS); calls
    run(spec, {field: tensor or list}, grid) with the tensors given (grid: (grid_h, grid_w)
    when either is set, else None)."""
    params = OP_ARGS if params is None else params
    ints = "".join(f", {n}=0" for n in OP_INTS)
    grid = "(grid_h, grid_w) if grid_h or grid_w else None" if OP_INTS else "None"
    src = (f"def impl(spec, {', '.join(f'{n}=None' for n in params)}{ints}):\n    t = {{}}\n"
           + "".join(f"    if {n} is not None:\n        t['{n}'] = {n}\n" for n in params)
           + f"    run(spec, t, {grid})\n")
    ns = {"run": run}
    exec(compile(src, "<ropegen operator>", "exec"), ns)
    return ns["impl"]


def _register_fake(name, fn):
    """The fake implementation torch.compile traces with; False on a PyTorch without one."""
    qualname = f"ropegen::{name}"
    if hasattr(torch.library, "register_fake"):
        torch.library.register_fake(qualname, fn, lib=_library)
    elif hasattr(torch.library, "impl_abstract"):
        torch.library.impl_abstract(qualname, fn, lib=_library)
    else:
        return False
    return True


def _make_op(name, mutated, own=None):
    """own: None, or a layers = many operator's per-layer fields (Tensor[]? lists; the record
    array `layers` is no parameter)."""
    global _library
    if _library is None:
        _library = torch.library.Library("ropegen", "DEF")
    letters = iter("abcdefghijklmnopqrstuvwxyz")  # one alias set per mutated tensor or list
    params = OP_ARGS if own is None else tuple(n for n in OP_ARGS if n != "layers")
    own = own or ()

    def param(n):
        kind = "Tensor" + (f"({next(letters)}!)" if n in mutated else "")
        return f"{kind}[]? {n}=None" if n in own else f"{kind}? {n}=None"

    args = ", ".join(param(n) for n in params)
    args += "".join(f", int {n}=0" for n in OP_INTS)
    _library.define(f"{name}(str spec, {args}) -> ()")
    _library.impl(name, _implementation(_run_cpu, params), "CPU")
    _library.impl(name, _implementation(_run_cuda, params), "CUDA")
    fake = _implementation(_fake, params)
    if not _register_fake(name, fake):
        try:
            _library.impl(name, fake, "Meta")
            _library.impl(name, fake, "AutogradMeta")  # 1.13 has no autograd fallthrough for Meta
        except Exception:  # a torch without Python Meta kernels: eager CPU/CUDA only
            pass
    return getattr(torch.ops.ropegen, name)


def operator(mutated, own=None):
    """The operator for kernels that write `mutated` (a tuple of field names); own: a layers
    = many kernel's per-layer fields (in OP_ARGS order), each taken as a list per layer."""
    key = mutated if own is None else (mutated, own)
    with _lock:
        op = _ops.get(key)
        if op is None:
            if not HAS_LIBRARY:
                return None
            name = _op_name(mutated) if own is None else _layer_op_name(mutated, own)
            op = _make_op(name, mutated, own)
            _ops[key] = op
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
        if kernel._layered:
            return operator(kernel.mutated, tuple(f for f in OP_ARGS if f in kernel._layer_own))
        return operator(kernel.mutated)

    def call(self, kernel, arrays, grid=None):
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
        if kernel._layered:  # the schema's Tensor[] takes lists
            arrays = {n: list(t) if isinstance(t, tuple) else t for n, t in arrays.items()}
        if grid is not None:
            arrays.update(_grid_ints(grid))
        return kernel.op(kernel.spec, **arrays)


_registry.set_hook(TorchHook())
