"""One view of any array the binding accepts: PyTorch tensors, DLPack producers,
__cuda_array_interface__ (CuPy, Numba) and __array_interface__ (NumPy, host memory)."""
import ctypes
import sys

from ._lib import ArgumentError

# (DLPack type code, bits) -> ropegen dtype name
_DL_DTYPES = {(2, 32): "f32", (2, 16): "f16", (4, 16): "bf16", (0, 32): "i32", (0, 64): "i64",
              (2, 64): "f64", (0, 8): "i8", (0, 16): "i16", (1, 8): "u8", (1, 64): "u64"}
# numpy typestr kind+size (little-endian or not applicable) -> ropegen dtype name
_TYPESTR = {"f4": "f32", "f2": "f16", "i4": "i32", "i8": "i64", "f8": "f64", "i2": "i16", "i1": "i8", "u1": "u8", "u8": "u64"}
_DL_CPU, _DL_CUDA, _DL_CUDA_HOST, _DL_CUDA_MANAGED = 1, 2, 3, 13

_TORCH_DTYPES = None
_CPU = ("cpu", None)


def torch_module():
    """torch if it is already imported (the binding never imports it for a NumPy user)."""
    return sys.modules.get("torch")


def torch_dtypes(torch):
    global _TORCH_DTYPES
    if _TORCH_DTYPES is None:
        _TORCH_DTYPES = {torch.float32: "f32", torch.float16: "f16", torch.bfloat16: "bf16", torch.int32: "i32",
                         torch.int64: "i64", torch.float64: "f64", torch.int16: "i16", torch.int8: "i8",
                         torch.uint8: "u8"}
        # fp8 caches and q outputs (torch >= 2.1 has these types), nvfp4/mxfp4 caches as e2m1
        # code pairs and mxfp4's e8m0 scales (torch >= 2.8); uint8 tensors work everywhere.
        for name, ours in (("float8_e4m3fn", "fp8_e4m3"), ("float8_e5m2", "fp8_e5m2"),
                           ("float8_e4m3fnuz", "fp8_e4m3fnuz"), ("float8_e5m2fnuz", "fp8_e5m2fnuz"),
                           ("float4_e2m1fn_x2", "e2m1x2"), ("float8_e8m0fnu", "e8m0")):
            if hasattr(torch, name):
                _TORCH_DTYPES[getattr(torch, name)] = ours
    return _TORCH_DTYPES


_FAST_TYPES = None


def fast_tensor_types():
    """The PyTorch tensor types whose calls Kernel may resolve once per key (plain tensors
    and parameters; subclasses such as fake or functional tensors always take the full
    path), or an empty set before torch is imported."""
    global _FAST_TYPES
    if _FAST_TYPES is None:
        torch = sys.modules.get("torch")
        nn = getattr(torch, "nn", None)
        if nn is None or not hasattr(nn, "Parameter"):
            return ()
        _FAST_TYPES = frozenset((torch.Tensor, nn.Parameter))
    return _FAST_TYPES


class View:
    """What the checks need: address, shape, strides in elements, dtype name, device
    ("cpu", None) or ("cuda", index or None), whether it may be written, and the object
    that keeps the memory alive."""
    __slots__ = ("ptr", "shape", "strides", "dtype", "device", "readonly", "owner", "itemsize", "is_torch")

    def __init__(self, ptr, shape, strides, dtype, device, readonly, owner, itemsize, is_torch=False):
        self.ptr, self.shape, self.strides, self.dtype = ptr, tuple(shape), tuple(strides), dtype
        self.device, self.readonly, self.owner, self.itemsize, self.is_torch = device, readonly, owner, itemsize, is_torch


def _contiguous_strides(shape):
    out, acc = [], 1
    for d in reversed(shape):
        out.append(acc)
        acc *= d
    return tuple(reversed(out))


def _from_interface(name, obj, iface, device):
    typestr = iface["typestr"]
    if typestr[0] == ">" and typestr[2:] != "1":
        raise ArgumentError(name, f"big-endian data ({typestr}) is not supported")
    dtype = _TYPESTR.get(typestr[1:], typestr)
    itemsize = int(typestr[2:])
    shape = tuple(iface["shape"])
    ptr, readonly = iface["data"]
    if iface.get("strides") is None:
        strides = _contiguous_strides(shape)
    else:
        if any(s % itemsize for s in iface["strides"]):
            raise ArgumentError(name, f"strides {iface['strides']} (bytes) are not multiples of the element size {itemsize}")
        strides = tuple(s // itemsize for s in iface["strides"])
    if device[0] == "cuda" and device[1] is None:
        try:  # CuPy arrays know their device
            device = ("cuda", int(obj.device.id))
        except Exception:
            pass
    return View(ptr or 0, shape, strides, dtype, device, bool(readonly), obj, itemsize)


class _DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class _DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class _DLTensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("device", _DLDevice), ("ndim", ctypes.c_int32), ("dtype", _DLDataType),
                ("shape", ctypes.POINTER(ctypes.c_int64)), ("strides", ctypes.POINTER(ctypes.c_int64)),
                ("byte_offset", ctypes.c_uint64)]


_capsule_get = ctypes.pythonapi.PyCapsule_GetPointer
_capsule_get.restype = ctypes.c_void_p
_capsule_get.argtypes = [ctypes.py_object, ctypes.c_char_p]


def _from_dlpack(name, obj):
    try:
        capsule = obj.__dlpack__(stream=None)
    except TypeError:
        capsule = obj.__dlpack__()
    # The capsule stays unconsumed (name "dltensor"), so its destructor frees it with the
    # View that keeps it.
    t = _DLTensor.from_address(_capsule_get(capsule, b"dltensor"))
    code, bits = t.dtype.code, t.dtype.bits
    if t.dtype.lanes != 1:
        raise ArgumentError(name, f"DLPack vector types ({t.dtype.lanes} lanes) are not supported")
    dtype = _DL_DTYPES.get((code, bits), f"dlpack(code={code},bits={bits})")
    itemsize = max(bits // 8, 1)
    shape = tuple(t.shape[i] for i in range(t.ndim))
    strides = tuple(t.strides[i] for i in range(t.ndim)) if t.strides else _contiguous_strides(shape)
    dt = t.device.device_type
    if dt in (_DL_CPU, _DL_CUDA_HOST):
        device = ("cpu", None)
    elif dt in (_DL_CUDA, _DL_CUDA_MANAGED):
        device = ("cuda", int(t.device.device_id))
    else:
        device = (f"dlpack-device-{dt}", int(t.device.device_id))
    return View((t.data or 0) + t.byte_offset, shape, strides, dtype, device, False, (obj, capsule), itemsize)


def view(name, obj, need_ptr=True):
    """The View of `obj`; ArgumentError naming `name` for anything else."""
    torch = torch_module()
    if torch is not None and isinstance(obj, torch.Tensor):
        if obj.is_cuda:
            device = ("cuda", obj.get_device())
        elif obj.is_cpu:
            device = _CPU
        else:  # meta, mps, ...: named, so the device check can say what it got
            device = (obj.device.type, obj.device.index)
        dtype = _TORCH_DTYPES.get(obj.dtype) if _TORCH_DTYPES else None
        if dtype is None:
            dtype = torch_dtypes(torch).get(obj.dtype, str(obj.dtype).replace("torch.", ""))
        return View(obj.data_ptr() if need_ptr else 0, obj.shape, obj.stride(), dtype, device, False, obj,
                    obj.element_size(), True)
    iface = getattr(obj, "__cuda_array_interface__", None)
    if iface is not None:
        return _from_interface(name, obj, iface, ("cuda", None))
    if hasattr(obj, "__dlpack__") and not hasattr(obj, "__array_interface__"):
        return _from_dlpack(name, obj)
    iface = getattr(obj, "__array_interface__", None)
    if iface is not None:
        return _from_interface(name, obj, iface, ("cpu", None))
    if hasattr(obj, "__dlpack__"):
        return _from_dlpack(name, obj)
    raise ArgumentError(name, f"expected a tensor or array (PyTorch, DLPack, __cuda_array_interface__ or "
                              f"__array_interface__), got {type(obj).__name__}")
