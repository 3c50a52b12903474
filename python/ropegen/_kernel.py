"""Contexts, kernels, argument checks from the kernel's own description, and launches."""
import array
import ctypes
import json
import re
import threading

from . import _arrays, _registry
from ._arrays import View, view
from ._lib import ArgumentError, Error, library

_lib = library()
_lock = threading.RLock()
_contexts = {}  # (runtime, device) -> Context, the default-options contexts

# Fields of the argument block filled from something other than a described pointer
# argument: the header, num_tokens, and the size of a contiguous hnd cache.
_TOKENS, _MAX_SEQ = "num_tokens", "max_seq"
# The limits (ABI version 3), passed in every checks mode: the kernel skips a token whose slot
# is past the caches or whose position is outside the cos/sin table.
_CACHE_SLOTS, _TABLE_ROWS = "cache_slots", "table_rows"
# The tensors laid out by cache slot: the caches and the scales a quantized cache writes beside
# them. The slot limit is the smallest of theirs, so no slot is written past any of them.
_CACHE_FIELDS = ("k_cache", "v_cache", "k_cache_scales", "v_cache_scales")


def _device_str(device):
    kind, index = device
    return kind if index is None else f"{kind}:{index}"


def _prod(xs):
    p = 1
    for x in xs:
        p *= x
    return p


def _fmt_shape(shape):
    return "[" + ", ".join("num_tokens" if d == "tokens" else "any" if d is None else str(d) for d in shape) + "]"


def _gpu_runtime():
    """The C API runtime of PyTorch's GPU devices: "hip" on ROCm PyTorch (torch.version.hip
    set; its devices are still named cuda), else "cuda"."""
    torch = _arrays.torch_module()
    version = getattr(torch, "version", None) if torch is not None else None
    return "hip" if getattr(version, "hip", None) else "cuda"


def parse_device(device):
    """(runtime, device index) for the C API, and the device arrays must be on:
    None -> the current GPU device if PyTorch sees one, else "auto"; "cpu"/"host";
    "cuda", "cuda:N", N, torch.device. A GPU device is runtime "cuda", or "hip" under ROCm
    PyTorch (whose devices are named cuda too)."""
    if device is None:
        torch = _arrays.torch_module()
        if torch is not None and torch.cuda.is_available():
            return _gpu_runtime(), torch.cuda.current_device()
        return "auto", -1
    if isinstance(device, int):
        return _gpu_runtime(), device
    text = str(device)
    if text in ("cpu", "host"):
        return "host", -1
    if text == "cuda":
        torch = _arrays.torch_module()
        return _gpu_runtime(), (torch.cuda.current_device() if torch is not None and torch.cuda.is_available() else 0)
    if text.startswith("cuda:") and text[5:].isdigit():
        return _gpu_runtime(), int(text[5:])
    raise Error(f"device {device!r}: expected None, 'cpu', 'cuda', 'cuda:N', an index or a torch.device", None, 1)


class Context:
    """A device (or the host) and its JIT. Options left None keep the environment's
    ROPEGEN_* values (docs/env.md)."""

    def __init__(self, runtime="auto", device=-1, cache_dir=None, cache_path=None, compiler=None, dump_dir=None,
                 no_compile=None, verbose=None):
        from ._lib import _ContextOptions
        enc = lambda s: None if s is None else str(s).encode()
        opts = _ContextOptions(ctypes.sizeof(_ContextOptions), enc(cache_dir), enc(cache_path), enc(compiler),
                               enc(dump_dir), -1 if no_compile is None else int(bool(no_compile)),
                               -1 if verbose is None else int(bool(verbose)))
        if runtime in ("hip", "auto"):
            hip_lib_dirs()
        if runtime in ("cuda", "hip"):
            _prime_torch_cuda(device)
        handle = ctypes.c_void_p()
        _lib.check(_lib.lib.ropegen_context_create_with_options(runtime.encode(), int(device), ctypes.byref(opts),
                                                                ctypes.byref(handle)),
                   f"context (runtime {runtime}, device {device})")
        self._handle = handle
        buf = ctypes.create_string_buffer(64)
        _lib.check(_lib.lib.ropegen_context_target(handle, buf, 64), "context target")
        self.target = buf.value.decode()
        self.runtime = runtime
        if self.target == "host":
            self.device = ("cpu", None)
        else:
            self.device = ("cuda", device if device >= 0 else None)
        self._kernels = {}

    def kernel(self, spec=None, **fields):
        text = spec_text(spec, **fields)
        with _lock:
            k = self._kernels.get(text)
            if k is None:
                k = Kernel(self, text)
                self._kernels[text] = k
            return k

    def synchronize(self):
        _lib.check(_lib.lib.ropegen_synchronize(self._handle), "synchronize")

    # ropegen_tune_options.set: which plans are timed.
    _TUNE_SETS = {"auto": 0, "quick": 1, "full": 2}

    def tune(self, spec=None, *, buckets=None, reps=0, plans="auto", store=True, stream=None, **fields):
        """Times the candidate plans of a spec per token bucket on this context's device and,
        with store, keeps each bucket's winner in the user cache directory: kernels asked for
        afterwards pick their plan by num_tokens (ropegen_tune, docs/cache.md). Returns one
        dict per bucket: tokens, default_plan and best_plan ((tokens_per_block, head_groups)),
        default_us, best_us, candidates. plans: "auto", "quick" or "full"."""
        from ._lib import _TuneOptions, _TuneResult
        text = spec_text(spec, **fields)
        if plans not in self._TUNE_SETS:
            raise ValueError(f"plans must be one of {', '.join(self._TUNE_SETS)}, not {plans!r}")
        if buckets is not None:
            buckets = [int(b) for b in buckets]
        n = len(buckets) if buckets is not None else 5
        arr = (ctypes.c_longlong * max(n, 1))(*(buckets or []))
        opts = _TuneOptions(ctypes.sizeof(_TuneOptions), arr if buckets is not None else None,
                            n if buckets is not None else 0, int(reps), self._TUNE_SETS[plans], int(bool(store)),
                            _stream_address(stream) if stream is not None else None)
        results = (_TuneResult * n)()
        count = ctypes.c_size_t()
        _lib.check(_lib.lib.ropegen_tune(self._handle, text.encode(), ctypes.byref(opts), results, n,
                                         ctypes.byref(count)), f"tune {text!r}")
        with _lock:
            self._kernels.pop(text, None)  # the next kernel() gets the tuned plans
        return [{"tokens": r.tokens, "default_plan": (r.default_tokens_per_block, r.default_head_groups),
                 "default_us": r.default_us, "best_plan": (r.best_tokens_per_block, r.best_head_groups),
                 "best_us": r.best_us, "candidates": r.candidates} for r in results[:count.value]]

    def __del__(self):
        # Kernels and their context form a cycle (ctx._kernels, kernel.context), which the
        # garbage collector finalizes in any order: kernels go first, whichever runs first.
        h = getattr(self, "_handle", None)
        if h and _lib is not None:
            for k in list(getattr(self, "_kernels", {}).values()):
                k._destroy()
            self._handle = None
            _lib.lib.ropegen_context_destroy(h)

    def __repr__(self):
        return f"ropegen.Context(target={self.target!r}, device={_device_str(self.device)!r})"


def hip_lib_dirs():
    """Points ROPEGEN_HIP_LIB_DIR at PyTorch's lib folder when PyTorch is installed, so the HIP
    runtime opens the libamdhip64 and libhiprtc that torch ships (or has loaded) rather than a
    second system copy, also when ropegen is imported before torch. A folder the user set comes
    first; torch is located, not imported. Returns the variable's value (None if unset)."""
    import importlib.util
    import os
    try:
        spec = importlib.util.find_spec("torch")
    except (ImportError, ValueError):
        spec = None
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    lib = next((os.path.join(f, "lib") for f in folders if os.path.isdir(os.path.join(f, "lib"))), None)
    current = os.environ.get("ROPEGEN_HIP_LIB_DIR")
    if lib is not None:
        parts = [p for p in (current or "").split(os.pathsep) if p]
        if os.path.realpath(lib) not in {os.path.realpath(p) for p in parts}:
            os.environ["ROPEGEN_HIP_LIB_DIR"] = os.pathsep.join(parts + [lib])
    return os.environ.get("ROPEGEN_HIP_LIB_DIR")


def _prime_torch_cuda(device):
    """With PyTorch present, let it make the device's primary context current first, so
    ropegen and PyTorch share one context (ropegen's CUDA and HIP runtimes work in the
    current one)."""
    torch = _arrays.torch_module()
    if torch is not None and torch.cuda.is_available():
        idx = device if device >= 0 else torch.cuda.current_device()
        with torch.cuda.device(idx):
            torch.zeros(1, device=f"cuda:{idx}")


def context(device=None):
    """The default-options context for a device, created once per (runtime, device)."""
    key = parse_device(device)
    with _lock:
        ctx = _contexts.get(key)
        if ctx is None:
            ctx = Context(*key)
            _contexts[key] = ctx
        return ctx


def spec_text(spec=None, **fields):
    """The one-line spec: `spec` text followed by `key=value` for each keyword."""
    parts = [spec.strip()] if spec else []
    for key, value in fields.items():
        if isinstance(value, bool):
            raise Error(f"spec field {key}: expected a number or a word, got {value!r}", "ROPEGEN_ERROR_PARSE", 1)
        parts.append(f"{key}={value}")
    if not parts:
        raise Error("empty spec: give spec text or fields, e.g. ropegen.kernel(head_dim=128)", "ROPEGEN_ERROR_PARSE", 1)
    return " ".join(parts)


def kernel(spec=None, *, context=None, device=None, **fields):
    """A kernel for a spec (text, keyword fields, or both), compiled or from the cache.
    `context` or `device` picks where it runs (default: the current CUDA device if PyTorch
    sees one, else what the C API's "auto" finds)."""
    if context is not None and device is not None:
        raise Error("give context= or device=, not both", None, 1)
    ctx = context if context is not None else globals()["context"](device)
    return ctx.kernel(spec, **fields)


class Kernel:
    """A loaded kernel. Call it with the arguments named as in ropegen_kernel_args, or as
    the kernel's description names them (a family's own name for a field).

    arguments: the description of each argument, keyed by the block field it is passed in;
    names: field -> the kernel's name for it; mutated: the fields it writes; op: its
    PyTorch operator (None without PyTorch), whose tensor parameters are field names."""

    def __init__(self, ctx, text):
        self.context = ctx
        handle = ctypes.c_void_p()
        _lib.check(_lib.lib.ropegen_kernel_create(ctx._handle, text.encode(), ctypes.byref(handle)), f"kernel '{text}'")
        self._handle = handle
        needed = ctypes.c_size_t()
        _lib.check(_lib.lib.ropegen_kernel_describe(handle, None, 0, ctypes.byref(needed)), "describe")
        buf = ctypes.create_string_buffer(needed.value)
        _lib.check(_lib.lib.ropegen_kernel_describe(handle, buf, needed.value, None), "describe")
        self.description = json.loads(buf.value.decode())
        self.spec = self.description["spec"]
        self.op_name = self.description.get("op")
        self.target = self.description.get("target", ctx.target)
        self.device = ctx.device
        self._set_arguments(self.description["arguments"])
        self.op = None
        if _arrays.torch_module() is not None:
            from . import _torch  # noqa: F401  (sets the operator hook in _registry)
        hook = _registry.hook()
        if hook is not None:
            self.op = hook.attach(self)  # layers = many: an operator with Tensor[] per-layer lists
        # The C++ fast path (_torch_ext, built when PyTorch's headers and a compiler are
        # present): its Launcher holds the keys resolved here and launches their repeat calls.
        # fast_reason: None while it does, else why this kernel's calls take the Python path.
        self._launcher = self._fast = None
        self.fast_reason = "PyTorch is not imported"
        if self._layered:
            # Its Launcher patches the addresses of one tensor per argument into one block; a
            # layers = many call takes lists and a record array in device memory built from
            # their addresses (_record_array), which it does not hold.
            self.fast_reason = ("layers = many: the C++ fast path takes one tensor per argument, not the "
                                "per-layer lists and their record array; calls take the Python path")
        elif _arrays.torch_module() is not None:
            from . import _torch_ext
            self._launcher = _torch_ext.launcher(self, _launch_address, _arrays.fast_tensor_types(), _raw_stream)
            if self._launcher is not None:
                self._fast = self._launcher.launch
                self.fast_reason = None
            else:
                self.fast_reason = _torch_ext.reason() or "no Launcher for this kernel"
        _registry.register(self)

    def _set_arguments(self, described):
        """The kernel's arguments from its description, keyed by the argument block's field
        each one is passed in: an argument's "field", else its name (a family may read a
        field under its own name, e.g. MLA's k_pe in k). Calls take either name."""
        fields = set(_lib.KernelArgs.field_names)
        self.arguments, self.names, self._aliases = {}, {}, {}
        for a in described:
            name = a["name"]
            field = a.get("field", name)
            for f in (field, a.get("stride")):
                if f and f not in fields:
                    raise Error(f"kernel describes argument field '{f}', which the library's layout lacks", None, 3)
            if _lib.kinds[field] != "pointer" or field in self.arguments:
                raise Error(f"kernel describes argument '{name}' in field '{field}', which is "
                            + ("not a pointer" if _lib.kinds[field] != "pointer" else "described twice"), None, 3)
            self.arguments[field] = a
            self.names[field] = name
            if name != field:
                self._aliases[name] = field
        self.mutated = tuple(f for f, a in self.arguments.items() if a["access"] in ("write", "read_write"))
        block = re.search(r"cache=paged\(block=(\d+)", self.spec)
        self._cache_block = int(block.group(1)) if block else 1  # slots per block of a paged cache
        tables = [f for f in ("cos", "sin") if f in self.arguments]
        self._half_rot = self.arguments["cos"]["shape"][1] if tables else None
        self._probes = {}  # argument names -> _Probe: the resolved calls (see _launch_items)
        # layers = many: the arguments each layer owns (its record's members) and those moved
        # by a layer stride (q, k, v); the record arrays built so far, by their words.
        self._layer_own = {f: a["layer_offset"] for f, a in self.arguments.items() if "layer_offset" in a}
        self._layer_moved = {f: a["layer_stride"] for f, a in self.arguments.items() if a.get("layer_stride")}
        self._layered = "layers" in self.arguments
        self._records = {}  # record words -> _Records
        self._layer_resolved = {}  # layers = many: call key -> _LayerResolved (False: never patched)

    def _label(self, field):
        """How errors name the argument passed in `field`: the kernel's name for it."""
        return self.names.get(field, field)

    def _field_names(self, arrays):
        """Keyword arguments keyed by field: the kernel's own name for an argument (k_pe)
        and its field name (k) both work; giving both is an error. None values are dropped."""
        out = {}
        for name, obj in arrays.items():
            if obj is None:
                continue
            field = self._aliases.get(name, name)
            if field in out:
                raise ArgumentError(name, f"given twice: as '{self.names[field]}' and as its field '{field}'")
            out[field] = obj
        return out

    def _destroy(self):
        h = getattr(self, "_handle", None)
        self._handle = None
        ctx = getattr(getattr(self, "context", None), "_handle", None)
        for r in (getattr(self, "_records", None) or {}).values():
            if ctx and _lib is not None and r.owner is None:
                _lib.lib.ropegen_free(ctx, r.ptr)
        self._records = {}
        self._launcher = self._fast = None
        if h and _lib is not None:
            _lib.lib.ropegen_kernel_destroy(h)

    def __del__(self):
        self._destroy()

    def __repr__(self):
        return f"ropegen.Kernel({self.spec!r}, target={self.target!r})"

    # ---- argument checks -------------------------------------------------------------
    def _device_ok(self, dev):
        if dev[0] != self.device[0]:
            return False
        return self.device[1] is None or dev[1] is None or dev[1] == self.device[1]

    def _expect_device(self):
        if self.device[0] == "cpu":
            return "host memory (CPU tensors or NumPy arrays): the kernel's target is host"
        return f"{_device_str(self.device)} memory: the kernel's target is {self.target}"

    def _plan(self, views, check_device=True, skip=()):
        """Checks shapes, dtypes, devices, strides and access; returns the integer fields
        (num_tokens, stride fields, max_seq). Alignment needs addresses: _check_addresses.
        `skip`: arguments not checked here (layers = many: the record array)."""
        takes = ", ".join(self.names[f] for f in self.arguments if f not in skip)
        for name in views:
            if name not in self.arguments or name in skip:
                if name in _lib.KernelArgs.field_names:
                    raise ArgumentError(name, f"this kernel ({self.op_name}) does not take it; it takes {takes}")
                raise ArgumentError(name, f"unknown argument; this kernel takes {takes}"
                                          + (" (or cos_sin_cache)" if self._half_rot else ""))
        ints = {}
        tokens_from = None
        for field, a in self.arguments.items():
            if field in skip:
                continue
            name = self.names[field]  # errors name the argument as the kernel does
            v = views.get(field)
            if v is None:
                if a["required"]:
                    raise ArgumentError(name, f"missing: {a['why']}")
                continue
            if check_device and not self._device_ok(v.device):
                raise ArgumentError(name, f"is in {_device_str(v.device)} memory, expected {self._expect_device()}")
            # u64 (checks = bounds' error words): int64 memory holds the same bits (torch has no uint64).
            # Byte formats (fp8 caches and q_out, e2m1 code pairs, e8m0 scales): the format's
            # tensor type where PyTorch has it, or the raw bytes as uint8.
            if v.dtype != a["dtype"] and not (a["dtype"] == "u64" and v.dtype == "i64") \
                    and not (a["dtype"].startswith(("fp8", "e2m1x2", "e8m0")) and v.dtype == "u8"):
                raise ArgumentError(name, f"has dtype {v.dtype}, expected {a['dtype']}")
            if v.readonly and a["access"] in ("write", "read_write"):
                raise ArgumentError(name, f"is read-only, but the kernel writes it ({a['access']})")
            want, dims, strides = a["shape"], v.shape, v.strides
            if len(dims) == len(want):
                ok = all(w in ("tokens", None) or d == w for d, w in zip(dims, want))
            elif len(dims) == 2 and len(want) > 2 and all(isinstance(w, int) for w in want[1:]):
                ok = dims[1] == _prod(want[1:])  # rows flattened: [tokens, heads * head_dim]
            else:
                ok = False
            if not ok:
                raise ArgumentError(name, f"has shape {list(dims)}, expected {_fmt_shape(want)}"
                                          + (" or [num_tokens, " + str(_prod(want[1:])) + "]"
                                             if len(want) > 2 and want[0] == "tokens" else ""))
            # num_tokens is the token dimension every argument shares (positions of mrope/imrope:
            # [3, tokens], its second), so no argument holds fewer tokens than the kernel reads.
            for i, w in enumerate(want[:len(dims)]):
                if w != "tokens":
                    continue
                if tokens_from is None:
                    tokens_from = name
                    ints[_TOKENS] = dims[i]
                elif dims[i] != ints[_TOKENS]:
                    raise ArgumentError(name, f"has {dims[i]} tokens, but {tokens_from} has {ints[_TOKENS]}")
            if a.get("dim_strides"):
                # An argument addressed by run-time strides (a cache with order = strided): each
                # dimension's stride goes to its field (k_cache and v_cache share them), a
                # dimension without one must be contiguous. A stacked tensor passes its K and V
                # halves as views ([N, 2, B, H, D] -> kv[:, 0], kv[:, 1]).
                multiple = a.get("stride_multiple", 1)
                for i, f in enumerate(a["dim_strides"]):
                    st = strides[i]
                    if f is None:
                        if dims[i] != 1 and st != 1:
                            raise ArgumentError(name, f"has strides {list(strides)} for shape {list(dims)}; dimension "
                                                      f"{i} must be contiguous (stride 1)")
                        continue
                    st = st if dims[i] != 1 else 0  # one entry: any stride; 0 is the default
                    if dims[i] != 1 and (st <= 0 or st % multiple):
                        raise ArgumentError(name, f"stride {st} of dimension {i} ({f}) must be a positive multiple of "
                                                  f"{multiple} elements (the kernel's vector width)")
                    if ints.get(f, st) != st:
                        other = next(self.names[g] for g, b in self.arguments.items()
                                     if f in (b.get("dim_strides") or ()) and g in views and g != field)
                        raise ArgumentError(name, f"stride {st} of dimension {i} differs from {other}'s {ints[f]}; "
                                                  f"both share {f}")
                    ints[f] = st
            stride_field, min_stride, multiple = a.get("stride"), a.get("min_stride"), a.get("stride_multiple", 1)
            if stride_field is None and len(want) > 1 and isinstance(want[0], int) \
                    and _lib.kinds.get(f"{field}_stride") == "integer":
                # A fixed number of rows ([3, tokens] positions of mrope/imrope): the ABI's
                # <field>_stride is the distance between rows, at least one row.
                stride_field = f"{field}_stride"
            first = 1 if stride_field else 0
            # q, k, v given as [tokens, heads, head_dim] with padded heads (vLLM's layout):
            # the head stride goes to <name>_head_stride.
            head_field = f"{field}_head_stride"
            padded = (stride_field and len(dims) == 3 and len(want) == 3 and head_field in _lib.KernelArgs.field_names
                      and dims[1] > 1 and strides[2] == 1 and strides[1] != dims[2])
            if padded:
                ints[head_field] = strides[1]
                first = 2
            acc = 1
            if a.get("dim_strides"):
                first = len(dims)  # checked above
            for i in range(len(dims) - 1, first - 1, -1):
                if dims[i] != 1 and strides[i] != acc:
                    what = "inner dimensions" if stride_field else "all dimensions"
                    raise ArgumentError(name, f"has strides {list(strides)} for shape {list(dims)}; its {what} must "
                                              f"be contiguous (row-major), expected stride {acc} in dimension {i}")
                acc *= dims[i]
            if padded:
                acc = strides[1] * dims[1]
            if stride_field:
                s = strides[0] if dims[0] != 1 else max(strides[0], acc)
                least = acc if min_stride is None else min_stride
                if s < least:
                    raise ArgumentError(name, f"row stride {s} ({stride_field}) is below the minimum "
                                              f"{least} elements" + (" (one row)" if min_stride is None else ""))
                if s % multiple:
                    raise ArgumentError(name, f"row stride {s} ({stride_field}) must be a multiple of "
                                              f"{multiple} elements (the kernel's vector width)")
                if ints.get(stride_field, s) != s:
                    other = next(self.names[f] for f, b in self.arguments.items()
                                 if b.get("stride") == stride_field and f in views)
                    raise ArgumentError(name, f"row stride {s} differs from {other}'s {ints[stride_field]}; both "
                                              f"share {stride_field}")
                ints[stride_field] = s
            # A contiguous hnd cache ([kv_heads, max_seq, head_dim]) passes its slot count.
            if field in _CACHE_FIELDS and len(want) == 3 and want[1] is None and _MAX_SEQ in _lib.KernelArgs.field_names:
                if ints.get(_MAX_SEQ, dims[1]) != dims[1]:
                    raise ArgumentError(name, f"has {dims[1]} slots per head, but k_cache has {ints[_MAX_SEQ]}")
                ints[_MAX_SEQ] = dims[1]
            # The limits, in every checks mode: the slots the caches hold (the smaller cache's)
            # and the positions the table holds. A cache or table with none is refused: a
            # limit of 0 would mean no limit.
            if field in _CACHE_FIELDS and _CACHE_SLOTS in _lib.KernelArgs.field_names:
                slots = self._cache_slots(a, dims)
                if slots == 0:
                    raise ArgumentError(name, f"has shape {list(dims)}: it holds no cache slot")
                ints[_CACHE_SLOTS] = min(slots, ints.get(_CACHE_SLOTS, slots))
            if field in ("cos", "sin") and _TABLE_ROWS in _lib.KernelArgs.field_names:
                if dims[0] == 0:
                    raise ArgumentError(name, f"has shape {list(dims)}: it holds no position")
                ints[_TABLE_ROWS] = min(dims[0], ints.get(_TABLE_ROWS, dims[0]))
        if tokens_from is None:
            ints[_TOKENS] = 0
        return ints

    def _cache_slots(self, a, dims):
        """Slots a cache of shape `dims` holds: its elements over one slot's (the fixed
        dimensions of its description, less the block of a paged cache), e.g. [kv_heads,
        max_seq, head_dim] -> max_seq, [blocks, block, kv_heads, head_dim] -> blocks * block."""
        fixed = _prod(d for d in a["shape"] if isinstance(d, int))
        return _prod(dims) // fixed * self._cache_block if fixed else 0

    def _check_addresses(self, views):
        for field, v in views.items():
            align = self.arguments[field]["align"]
            if v.ptr % align:
                raise ArgumentError(self._label(field), f"address {v.ptr:#x} is not aligned to {align} bytes (the "
                                                        f"kernel's vector width); offset views of a larger buffer "
                                                        f"must start on that boundary")

    def _views(self, arrays, need_ptr=True):
        """Views of the arrays keyed by field (arrays may name them as the kernel does)."""
        views = {}
        table = arrays.pop("cos_sin_cache", None)
        for field, obj in self._field_names(arrays).items():
            views[field] = view(self._label(field), obj, need_ptr)
        if table is not None:
            if self._half_rot is None:
                raise ArgumentError("cos_sin_cache", f"this kernel ({self.spec}) reads no cos/sin table")
            if "cos" in views or "sin" in views:
                raise ArgumentError("cos_sin_cache", "give either cos_sin_cache or cos and sin")
            t = view("cos_sin_cache", table, need_ptr)
            h = self._half_rot
            if len(t.shape) != 2 or t.shape[1] != 2 * h:
                raise ArgumentError("cos_sin_cache", f"has shape {list(t.shape)}, expected [max_position, {2 * h}] "
                                                     f"(rotary_dim columns: cos then sin)")
            for name, off in (("cos", 0), ("sin", h * t.itemsize)):
                views[name] = View(t.ptr + off if need_ptr else 0, (t.shape[0], h), t.strides, t.dtype, t.device,
                                   t.readonly, t.owner, t.itemsize, t.is_torch)
        return views

    def _launch_items(self, arrays, stream, grid=None):
        """Launches with `arrays` (name -> array, as the caller named them). A call whose
        arrays are all PyTorch tensors is keyed by their names, then (shapes, strides,
        dtypes, devices); the first call of a key gets the full checks (_views, _plan,
        _check_addresses) and resolves the argument block; a repeat call reads each tensor's
        address, checks its alignment and patches the block's pointers. Any other call gets
        the full checks. With the C++ fast path, each resolved key (without grid) is handed
        to the kernel's Launcher, which launches its repeat calls; what it does not take
        (another key, a misaligned address, anything not a plain tensor) comes here."""
        if self._layered:
            return self._launch_layers(arrays, stream, grid)
        fast = self._fast if grid is None else None
        if fast is not None:
            done = fast(arrays, stream)
            if done is True:
                return
            if done is not False:
                _lib.check(done, f"launch {self.spec}")
                return
        names = tuple(arrays)
        probe = self._probes.get(names)
        if probe is None:
            if len(self._probes) >= 64:
                self._probes.clear()
            probe = self._probes[names] = _Probe(names)
        got = probe.read(arrays, _arrays.fast_tensor_types())
        key = None
        if got is not None:
            key, ptrs = got
            if grid is not None:  # positions = grid: the grid's height and width are part of the block
                key = (key, grid)
            last_key, r = probe.last
            if key != last_key:
                r = probe.resolved.get(key)
                if r:
                    probe.last = (key, r)
            if r:
                buf = r.buffer()
                if r.fill(buf[0], ptrs):  # False: a misaligned address (the full path names it)
                    if fast is not None:  # a key the Launcher no longer holds (it keeps fewer)
                        self._fast_add(arrays, key, ptrs, r)
                    self._launch_resolved(buf[1], stream, r.device)
                    return
        items = [(n, t) for n, t in arrays.items() if t is not None]
        views = self._views(dict(items))
        ints = self._plan(views)
        if grid is not None:
            ints.update(_grid_ints(grid))
        self._check_addresses(views)
        a = _lib.new_args()
        for name, v in views.items():
            setattr(a, name, v.ptr)
        for name, value in ints.items():
            setattr(a, name, value)
        if stream is None:
            stream = self._current_stream(views)
        if key is not None and key not in probe.resolved:
            if len(probe.resolved) >= 256:
                probe.resolved.clear()
                probe.last = (None, None)
            r = _Resolved.make(self, [n for n, _ in items], ints, [t for _, t in items])
            probe.resolved[key] = r or False  # False: this layout is always checked in full
            if r and fast is not None:
                self._fast_add(arrays, key, got[1], r)
        _lib.check(_launch(self._handle, ctypes.byref(a), stream), f"launch {self.spec}")

    def _launch_resolved(self, block, stream, device):
        """A resolved call's launch (single-layer and layered): on the given stream, else the
        current one of the resolved arrays' GPU (None: the host); the error text is built only
        when the launch fails."""
        if stream is None and device is not None:
            stream = _raw_stream(device)
        status = _launch(self._handle, block, stream)
        if status:
            _lib.check(status, f"launch {self.spec}")

    def _layer_plan(self, arrays, need_ptr=True, check_device=True):
        """layers = many: the checks of one launch over the layers. q, k and v (the arguments
        moved by a layer stride) are each one array with the layers outermost ([layers,
        tokens, ...]); every argument a layer owns (its caches, scales, norm weights, biases,
        outputs) is a list or tuple of one array per layer; the rest (positions, slots,
        cos/sin) are shared. Each layer's arguments get the checks of a single-layer launch.
        Returns (the layers' views and ints, the launch's ints with the layer strides and
        num_layers). need_ptr=False: fake tensors (the operator's fake implementation)."""
        arrays = self._field_names(arrays)
        if "layers" in arrays:
            raise ArgumentError("layers", "is built from the per-layer lists (k_cache=[...], ...); do not pass it")
        count = None
        for f, obj in arrays.items():
            if f in self._layer_own:
                if not isinstance(obj, (list, tuple)):
                    raise ArgumentError(self._label(f), "layers = many: give a list with one array per layer")
                if count is not None and len(obj) != count:
                    raise ArgumentError(self._label(f), f"has {len(obj)} layers, but another list has {count}")
                count = len(obj)
            elif isinstance(obj, (list, tuple)):
                raise ArgumentError(self._label(f), "is shared by the layers (or moved by a layer stride): give one "
                                                    "array, not a list")
        if not count or count > 65535:
            raise ArgumentError("k_cache", f"layers = many: {count or 0} layers given (lists of 1 .. 65535 arrays)")
        strides = {}
        for f in self._layer_moved:
            obj = arrays.get(f)
            if obj is None:
                continue
            whole = view(self._label(f), obj, need_ptr)
            if len(whole.shape) < 2 or whole.shape[0] != count:
                raise ArgumentError(self._label(f), f"has shape {list(whole.shape)}; layers = many takes [{count} "
                                                    f"layers, tokens, ...] (the layers outermost)")
            strides[self._layer_moved[f]] = whole.strides[0]
        layers = []
        for l in range(count):
            given = {f: (obj[l] if f in self._layer_own or f in self._layer_moved else obj) for f, obj in arrays.items()}
            views = self._views(given, need_ptr)
            ints = self._plan(views, check_device, skip=("layers",))
            if need_ptr:
                self._check_addresses(views)
            layers.append((views, ints))
        ints = dict(layers[0][1])
        for _, other in layers[1:]:
            for name, value in other.items():
                if name == _CACHE_SLOTS:  # the smallest layer's caches bound every layer
                    ints[name] = min(value, ints[name])
                elif ints.get(name) != value:
                    raise ArgumentError(name, f"differs between the layers ({ints.get(name)} and {value}); one "
                                              f"launch gives every layer the same")
        ints.update(strides)
        ints["num_layers"] = count
        return layers, ints

    def _launch_layers(self, arrays, stream, grid):
        """layers = many: one launch over the layers (_layer_plan checks the arguments). The
        records (ropegen_layer_args) go to device memory once per set of addresses
        (_record_array) and are kept while the kernel lives. A call whose arrays (and every
        list's) are PyTorch tensors is keyed like a single-layer call (names, then each
        tensor's shape, strides, dtype and device, a list's one by one, and grid): its first
        call gets the full checks and resolves the block (_LayerResolved); a repeat call reads
        the addresses, checks their alignment and patches the block and the record words.
        The C++ fast path does not take these calls (Kernel.fast_reason)."""
        key = _layer_key(arrays, _arrays.fast_tensor_types(), grid) if grid is None or type(grid) is tuple else None
        r = self._layer_resolved.get(key) if key is not None else None
        if r:
            got = r.fill(arrays)
            if got is not None:  # None: a misaligned address (the full path names it)
                buf, record = got
                buf[0][r.layers_word] = self._record_array(record, r.gpu)
                self._launch_resolved(buf[1], stream, r.gpu)
                return
        layers, ints = self._layer_plan(arrays)
        words = self.arguments["layers"]["shape"][1]
        record = (ctypes.c_uint64 * (words * len(layers)))()
        for l, (lv, _) in enumerate(layers):
            for f, offset in self._layer_own.items():
                if f in lv:
                    record[l * words + offset // 8] = lv[f].ptr
        views = layers[0][0]
        if grid is not None:
            ints.update(_grid_ints(grid))
        a = _lib.new_args()
        for name, value in ints.items():
            setattr(a, name, value)
        template = bytes(a)
        for name, v in views.items():
            if name not in self._layer_own:
                setattr(a, name, v.ptr)
        gpu = None
        if self.device[0] != "cpu":
            gpu = next((v.device[1] for v in views.values() if v.is_torch), None)
        a.layers = self._record_array(bytes(record), gpu)
        if key is not None and key not in self._layer_resolved:
            if len(self._layer_resolved) >= 256:
                self._layer_resolved.clear()
            self._layer_resolved[key] = _LayerResolved.make(self, arrays, template, ints, gpu) or False
        if stream is None:
            stream = self._current_stream(views)
        _lib.check(_launch(self._handle, ctypes.byref(a), stream), f"launch {self.spec}")

    # Record arrays kept per kernel, beyond those a CUDA graph captured (which stay).
    _MAX_RECORDS = 64

    def _record_array(self, record, gpu):
        """The device address of `record` (bytes: the layers' ropegen_layer_args words),
        copied to device memory on the first call with its set of addresses and kept: a
        repeat call copies nothing, so eager calls, the operator and a CUDA graph capture
        launch the kernel alone. `gpu`: the PyTorch GPU the tensors are on (the array is then
        a PyTorch tensor), else None (ropegen_alloc). A record array a capture used is kept
        while the kernel lives (the graph reads it on every replay); the others are dropped
        past _MAX_RECORDS sets. The copy is a host-to-device copy, which a capture would record
        with a host buffer of this call (stale or freed at replay): a set of addresses first
        seen while the current stream is capturing is refused, naming the warm-up call that
        builds it."""
        capturing = self._capturing()
        r = self._records.get(record)
        if r is not None:
            if capturing:
                r.captured = True
            return r.ptr
        if capturing:
            raise ArgumentError("layers", "layers = many: these per-layer tensors' record array "
                                          "(ropegen_layer_args) is not in device memory yet, and its host-to-device "
                                          "copy cannot be captured in a CUDA graph: make one eager call with the same "
                                          "tensors before the capture (a warm-up run); the graph then reads the kept "
                                          "array")
        if len(self._records) >= self._MAX_RECORDS:
            ctx = self.context._handle
            for k, old in list(self._records.items()):
                if not old.captured:
                    del self._records[k]
                    if old.owner is None:
                        _lib.lib.ropegen_free(ctx, old.ptr)
        if gpu is not None:
            # PyTorch's memory and a copy on its current stream of the device, waited for: the
            # array is complete before this launch, on any stream, and the block is not one a
            # kernel still queued on this stream reads.
            torch = _arrays.torch_module()
            owner = torch.empty(len(record) // 8, dtype=torch.int64, device=f"cuda:{gpu}")
            owner.copy_(torch.frombuffer(bytearray(record), dtype=torch.int64))
            r = _Records(owner.data_ptr(), owner)
        else:
            p = ctypes.c_void_p()
            _lib.check(_lib.lib.ropegen_alloc(self.context._handle, len(record), ctypes.byref(p)),
                       "layers = many: the record array")
            r = _Records(p.value, None)
            try:
                _lib.check(_lib.lib.ropegen_copy_to_device(self.context._handle, p, record, len(record)),
                           "layers = many: the record array")
            except Error:
                _lib.lib.ropegen_free(self.context._handle, p)
                raise
        self._records[record] = r
        return r.ptr

    def _capturing(self):
        """Whether PyTorch's current stream (of the current device) is capturing a CUDA graph."""
        if self.device[0] == "cpu":
            return False
        torch = _arrays.torch_module()
        probe = getattr(getattr(torch, "cuda", None), "is_current_stream_capturing", None) if torch else None
        return bool(probe and torch.cuda.is_available() and probe())

    def _fast_add(self, arrays, key, ptrs, r):
        """Hands a resolved key to the C++ Launcher. It reads the tensors itself and
        compares them with the key and addresses Python read; where they differ (a PyTorch
        whose tensor object it cannot read) it refuses, and the fast path is turned off."""
        try:
            self._launcher.add(arrays, key, ptrs, r.template, r.stores, r.device)
        except ValueError as e:
            from . import _torch_ext
            self._launcher = self._fast = None
            _torch_ext.disable(str(e))

    def _resolved_calls(self):
        """The argument blocks resolved so far, one per call key (False: a key whose block
        is never patched)."""
        return [r for p in list(self._probes.values()) for r in list(p.resolved.values())]

    def _current_stream(self, views):
        if self.device[0] == "cpu":
            return None
        for v in views.values():
            if v.is_torch:
                return _raw_stream(v.device[1])
        import sys
        cupy = sys.modules.get("cupy")
        if cupy is not None:
            return cupy.cuda.get_current_stream().ptr
        return None

    # ---- calls -----------------------------------------------------------------------
    def launch(self, stream=None, grid=None, **arrays):
        """Checks every argument against the kernel's description and launches, without
        the PyTorch operator: on `stream` (an address, torch.cuda.Stream or cupy stream),
        else PyTorch's (or CuPy's) current stream of the arrays' device, else the default.
        A repeat call with tensors of the same shapes, strides, dtypes and devices reuses
        the checked argument block and only sets the addresses. positions = grid(...) kernels
        take grid=(height, width) of the token grid."""
        self._launch_items(arrays, _stream_address(stream), grid)

    def __call__(self, stream=None, grid=None, **arrays):
        """k(q=..., k=..., v=..., k_cache=..., v_cache=..., positions=..., slot_mapping=...,
        cos=..., sin=... | cos_sin_cache=...[, grid=(height, width)]). Under torch.compile the
        call is the custom operator ropegen::launch_*; eagerly it launches directly (the same
        checks)."""
        if stream is None:
            if self.op is not None and _registry._hook.is_compiling():
                return _registry._hook.call(self, arrays, grid)
            self._launch_items(arrays, None, grid)
        else:
            self._launch_items(arrays, _stream_address(stream), grid)


def _grid_ints(grid):
    """grid=(height, width) as the argument block's grid_h, grid_w (the launch checks their
    range and whether the spec reads them)."""
    try:
        h, w = grid
        h, w = int(h), int(w)
    except (TypeError, ValueError):
        raise ArgumentError("grid", f"expected (height, width) of the token grid, got {grid!r}") from None
    if not hasattr(_lib.KernelArgs, "grid_h"):
        raise ArgumentError("grid", f"the library {_lib.library().path} has no grid_h/grid_w (kernel argument ABI 7)")
    return {"grid_h": h, "grid_w": w}


def _stream_address(stream):
    """None, or the address of `stream`: an int, torch.cuda.Stream, CuPy stream or c_void_p."""
    if stream is None or isinstance(stream, int):
        return stream
    for attr in ("cuda_stream", "ptr", "value"):  # torch.cuda.Stream, cupy Stream, c_void_p
        if hasattr(stream, attr):
            return getattr(stream, attr)
    raise Error(f"stream {stream!r}: expected an address, a torch.cuda.Stream or a CuPy stream", None, 1)


_launch = _lib.lib.ropegen_kernel_launch
_launch_address = ctypes.cast(_launch, ctypes.c_void_p).value  # the same function, for the C++ fast path


_current_raw_stream = None  # torch._C._cuda_getCurrentRawStream once PyTorch is seen


def _raw_stream(index):
    """PyTorch's current stream on GPU `index`, as an address (CUDA or HIP)."""
    global _current_raw_stream
    get = _current_raw_stream
    if get is None:
        torch = _arrays.torch_module()
        get = getattr(torch._C, "_cuda_getCurrentRawStream", None)
        if get is None:  # an older PyTorch: through the Stream object
            return torch.cuda.current_stream(index).cuda_stream
        _current_raw_stream = get
    return get(index if index is not None else _arrays.torch_module().cuda.current_device())


class _Records:
    """A layers = many record array in device memory: its address, the PyTorch tensor that
    owns it (None: ropegen_alloc's, freed with the kernel) and whether a CUDA graph capture
    used it (then it is kept while the kernel lives)."""
    __slots__ = ("ptr", "owner", "captured")

    def __init__(self, ptr, owner):
        self.ptr, self.owner, self.captured = ptr, owner, False


def _layer_key(arrays, fast, grid):
    """A layers = many call's key: the names, then each tensor's shape, strides, dtype and
    device (a list's one by one), and grid; None unless every array is a tensor of `fast`."""
    parts = [grid]
    for n, t in arrays.items():
        if t is None:
            parts.append(n)
        elif isinstance(t, (list, tuple)):
            sub = [n]
            for x in t:
                if type(x) not in fast:
                    return None
                sub.append((x.shape, x.stride(), x.dtype, x.device))
            parts.append(tuple(sub))
        elif type(t) in fast:
            parts.append((n, t.shape, t.stride(), t.dtype, t.device))
        else:
            return None
    return tuple(parts)


class _LayerResolved:
    """A layers = many call key's argument block (every integer field set, pointers zero)
    and where each address goes: a shared or layer-moved tensor's into the block (q, k, v
    give layer 0's), a per-layer list's tensors into the record words of their layers.
    `fill(arrays)` gives (this thread's block: its words and the ctypes array, the record
    bytes), or None when an address is misaligned."""
    __slots__ = ("template", "shared", "own", "size", "words", "layers_word", "gpu", "_local")

    @staticmethod
    def make(kernel, arrays, template, ints, gpu):
        """None when the layout does not allow word patching, or when a layer stride moves
        q, k or v by bytes that are not a multiple of its alignment (then each layer's
        address is checked on the full path)."""
        if len(template) % 8 or _lib.KernelArgs.layers.offset % 8:
            return None
        r = _LayerResolved()
        r.template, r.shared, r.own, r.gpu = template, [], [], gpu
        r.words = kernel.arguments["layers"]["shape"][1]
        r.layers_word = _lib.KernelArgs.layers.offset // 8
        count = ints["num_layers"]
        r.size = r.words * count
        for name, t in arrays.items():
            if t is None:
                continue
            for field, add in _arg_parts(kernel, name, t):
                align = kernel.arguments[field]["align"]
                if field in kernel._layer_own:
                    r.own.append((name, kernel._layer_own[field] // 8, align))
                    continue
                offset = getattr(_lib.KernelArgs, field).offset
                if offset % 8:
                    return None
                if field in kernel._layer_moved and (t.stride(0) * t.element_size()) % align:
                    return None
                r.shared.append((name, offset // 8, add, align))
        r._local = threading.local()
        return r

    def fill(self, arrays):
        b = _thread_block(self._local, self.template)
        w = b[0]
        for name, word, add, align in self.shared:
            p = arrays[name].data_ptr() + add
            if p & (align - 1):
                return None
            w[word] = p
        rec = array.array("Q", bytes(8 * self.size))
        words = self.words
        for name, word, align in self.own:
            for l, t in enumerate(arrays[name]):
                p = t.data_ptr()
                if p & (align - 1):
                    return None
                rec[l * words + word] = p
        return b, rec.tobytes()


class _Probe:
    """The calls of one kernel made with one sequence of argument names: `read(arrays,
    types)`, generated for the names, gives the call's key (each tensor's shape, strides,
    dtype and device) and addresses, or None when an array is not a tensor of `types`;
    `resolved` maps keys to their _Resolved (False: never patched), `last` is the most
    recent (key, _Resolved), compared before the map is hashed."""
    __slots__ = ("read", "resolved", "last")

    def __init__(self, names):
        ts = [f"t{i}" for i in range(len(names))]
        body = "".join(f"    {t} = d[{n!r}]\n" for t, n in zip(ts, names))
        test = " and ".join(f"type({t}) in fast" for t in ts) or "True"
        key = "".join(f"{t}.shape, {t}.stride(), {t}.dtype, {t}.device, " for t in ts)
        ptrs = ", ".join(f"{t}.data_ptr()" for t in ts)
        src = (f"def read(d, fast):\n{body}    if {test}:\n        return ({key}), [{ptrs}]\n    return None\n")
        ns = {}
        exec(compile(src, "<ropegen call key>", "exec"), ns)
        self.read, self.resolved, self.last = ns["read"], {}, (None, None)


class _Resolved:
    """The argument block of one call key, resolved by the full checks: the block's bytes
    with every integer field set and the pointers zero, and `fill(words, ptrs)`, generated
    for the key, which checks each address's alignment and writes it into its 8-byte word
    (cos_sin_cache gives two: cos, and sin half a row further). Each thread patches its
    own copy of the block."""
    __slots__ = ("template", "fill", "device", "stores", "_local")

    @staticmethod
    def make(kernel, names, ints, tensors):
        """None when the layout does not allow word patching (a block size or pointer offset
        that is not a multiple of 8)."""
        a = _lib.new_args()
        for name, value in ints.items():
            setattr(a, name, value)
        template = bytes(a)
        if len(template) % 8:
            return None
        words = []  # (tensor index, byte offset in the block, bytes added, alignment)
        for i, name in enumerate(names):
            for field, add in _arg_parts(kernel, name, tensors[i]):
                offset = getattr(_lib.KernelArgs, field).offset
                if offset % 8:
                    return None
                words.append((i, offset, add, kernel.arguments[field]["align"]))
        checks, stores = [], []
        for i, offset, add, align in words:
            value = f"p[{i}] + {add}" if add else f"p[{i}]"
            checks.append(f"(({value}) & {align - 1})")
            stores.append(f"    w[{offset // 8}] = {value}")
        src = (f"def fill(w, p):\n    if {' | '.join(checks) or '0'}:\n        return False\n"
               + "\n".join(stores) + ("\n" if stores else "") + "    return True\n")
        ns = {}
        exec(compile(src, f"<ropegen fill {kernel.spec}>", "exec"), ns)
        r = _Resolved()
        r.template, r.fill, r._local, r.stores = template, ns["fill"], threading.local(), tuple(words)
        r.device = None
        if kernel.device[0] != "cpu":
            r.device = next(t.get_device() for t in tensors)
        return r

    def buffer(self):
        """This thread's copy of the block: (its 8-byte words, the ctypes array to pass)."""
        return _thread_block(self._local, self.template)


def _arg_parts(kernel, name, t):
    """The block fields an array's address goes to, each with the bytes added to it:
    cos_sin_cache gives two (cos, and sin half a row further), any other array its field."""
    if name == "cos_sin_cache":
        return (("cos", 0), ("sin", kernel._half_rot * t.element_size()))
    return ((kernel._aliases.get(name, name), 0),)


def _thread_block(local, template):
    """This thread's copy of a resolved argument block, made on first use: (its 8-byte
    words, the ctypes array to pass). Each thread patches its own copy."""
    b = getattr(local, "b", None)
    if b is None:
        raw = bytearray(template)
        b = local.b = (memoryview(raw).cast("q"), (ctypes.c_char * len(raw)).from_buffer(raw))
    return b


def _default_kernel(spec, device):
    """A kernel for `spec` from the default context of `device` (kind, index)."""
    return context("cpu" if device[0] == "cpu" else f"cuda:{device[1] or 0}").kernel(spec)


# What the PyTorch operator launches when no kernel of its spec is registered on a device.
_registry.set_factory(_default_kernel)
