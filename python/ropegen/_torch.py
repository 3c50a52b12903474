"""PyTorch operators: one per set of arguments a kernel writes, so each declares exactly
the mutations it makes (torch.compile functionalizes them; CUDA graphs capture the launch).

  torch >= 2.4: torch.library.custom_op + register_fake
  older:        torch.library.Library("ropegen", "DEF") with a schema of mutable alias
                annotations (Tensor(a!)?), implementations for CPU, CUDA and Meta
  neither:      no operator; calls launch eagerly

ropegen::launch__q__k_cache__v_cache(str spec, Tensor? positions, ..., Tensor(a!)? q, ...)
takes the kernel's canonical spec and the tensors by their C names."""
import sys
import threading

import torch

from . import _kernel
from ._lib import Error

# The pointer arguments of ropegen_kernel_args, in header order: the operator's schema.
# A kernel argument not listed here can be launched eagerly (Kernel.launch) but not through
# the operator; _kernel checks that every name the library describes is a field.
OP_ARGS = ("positions", "slot_mapping", "q", "k", "v", "cos", "sin", "k_cache", "v_cache", "q_out", "k_out", "seq_lens")

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
    k = _kernel.kernel_for(spec, _device_of(tensors))
    k.launch(**tensors)


def _fake(spec, tensors):
    """Shape, dtype and stride checks on fake tensors (no addresses): errors surface while
    tracing, as they would eagerly."""
    tensors = {n: t for n, t in tensors.items() if t is not None}
    dev = _device_of(tensors)
    k = _kernel._registry.get((spec,) + dev) or _kernel._registry.get((spec, dev[0], None))
    meta = dev[0] == "meta"
    if k is None and meta:  # meta tensors have no device to match: any kernel of this spec
        k = next((v for key, v in list(_kernel._registry.items()) if key[0] == spec), None)
    if k is not None:
        k._plan(k._views(dict(tensors), need_ptr=False), check_device=not meta)


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
    letters = iter("abcdefghijklmnopqrstuvwxyz")
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
    """The operator for kernels that write `mutated` (a tuple of argument names)."""
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


def call_op(kernel, arrays):
    """kernel(...) through its operator (what torch.compile traces)."""
    table = arrays.pop("cos_sin_cache", None)
    if table is not None:
        h = kernel._half_rot
        if h is None:
            raise Error(f"argument 'cos_sin_cache': this kernel ({kernel.spec}) reads no cos/sin table",
                        "ROPEGEN_ERROR_LAUNCH", 1)
        arrays["cos"], arrays["sin"] = table[:, :h], table[:, h:2 * h]
    return kernel.op(kernel.spec, **arrays)


def attach(kernel):
    """Gives a kernel its operator (kernel.op) when every argument it takes is in the
    schema, and lets Kernel.__call__ route through it while torch.compile traces."""
    if all(n in OP_ARGS for n in kernel.arguments):
        kernel.op = operator(kernel.mutated)
    if _kernel._call_op is None:
        compiler = getattr(torch, "compiler", None)
        if compiler is not None and hasattr(compiler, "is_compiling"):
            _kernel._is_compiling = compiler.is_compiling
        elif hasattr(getattr(torch, "_dynamo", None), "is_compiling"):
            _kernel._is_compiling = torch._dynamo.is_compiling
        _kernel._call_op = call_op
