"""Loading libropegen_c.so and the argument block generated from its layout table."""
import ctypes
import os

_HERE = os.path.dirname(os.path.abspath(__file__))
LIB_NAME = "libropegen_c.so"


class Error(RuntimeError):
    """A ropegen failure: spec, compile, load or launch. `status` is the C status name
    ("ROPEGEN_ERROR_SPEC", ...) or None for errors found by the binding itself; `fault`
    is 1 (the caller's), 2 (the machine's) or 3 (ropegen's own)."""

    def __init__(self, message, status=None, fault=1):
        super().__init__(message)
        self.status = status
        self.fault = fault


class ArgumentError(Error, ValueError):
    """An argument that does not fit the kernel; `argument` names it."""

    def __init__(self, argument, message):
        super().__init__(f"argument '{argument}': {message}", "ROPEGEN_ERROR_LAUNCH", 1)
        self.argument = argument


def _candidates():
    explicit = os.environ.get("ROPEGEN_LIB")
    if explicit:
        return [explicit]
    out = []
    if os.environ.get("ROPEGEN_LIB_DIR"):
        out.append(os.path.join(os.environ["ROPEGEN_LIB_DIR"], LIB_NAME))
    out.append(os.path.join(_HERE, LIB_NAME))  # bundled by setup.py
    return out


def load_library():
    """ROPEGEN_LIB (a file), else ROPEGEN_LIB_DIR/libropegen_c.so, else the copy bundled in
    the package."""
    tried = []
    for path in _candidates():
        if os.path.exists(path):
            return ctypes.CDLL(path), path
        tried.append(path)
    raise ImportError(f"ropegen: {LIB_NAME} not found (tried {', '.join(tried)}); install the package with "
                      f"pip (it bundles the library) or set ROPEGEN_LIB_DIR to the CMake build directory")


CLI_NAME = "ropegen"


def find_cli():
    """The `ropegen` command-line executable: the one beside the library this package
    loads (the CMake build directory holds both; pip bundles both in the package)."""
    tried = []
    for lib in _candidates():
        if os.path.exists(lib):
            path = os.path.join(os.path.dirname(os.path.abspath(lib)), CLI_NAME)
            if os.path.isfile(path) and os.access(path, os.X_OK):
                return path
            tried.append(path)
    raise FileNotFoundError(f"the {CLI_NAME} executable was not found beside {LIB_NAME} (tried "
                            f"{', '.join(tried) or 'no library found: ' + ', '.join(_candidates())}); install the "
                            f"package with pip (it bundles both) or set ROPEGEN_LIB_DIR to the CMake build directory")


class _Field(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("offset", ctypes.c_size_t), ("size", ctypes.c_size_t),
                ("kind", ctypes.c_int)]


# ropegen_field_kind: what a field of the argument block holds.
FIELD_KINDS = {1: "pointer", 2: "integer", 3: "float"}


class _ContextOptions(ctypes.Structure):
    _fields_ = [("size", ctypes.c_size_t), ("cache_dir", ctypes.c_char_p), ("cache_path", ctypes.c_char_p),
                ("compiler", ctypes.c_char_p), ("dump_dir", ctypes.c_char_p), ("no_compile", ctypes.c_int),
                ("verbose", ctypes.c_int)]


class _TuneOptions(ctypes.Structure):
    _fields_ = [("size", ctypes.c_size_t), ("buckets", ctypes.POINTER(ctypes.c_longlong)),
                ("num_buckets", ctypes.c_size_t), ("reps", ctypes.c_int), ("set", ctypes.c_int),
                ("store", ctypes.c_int), ("stream", ctypes.c_void_p)]


class _TuneResult(ctypes.Structure):
    _fields_ = [("tokens", ctypes.c_longlong), ("default_tokens_per_block", ctypes.c_int),
                ("default_head_groups", ctypes.c_int), ("default_us", ctypes.c_double),
                ("best_tokens_per_block", ctypes.c_int), ("best_head_groups", ctypes.c_int),
                ("best_us", ctypes.c_double), ("candidates", ctypes.c_int)]


# The oldest ABI version this binding's launch code knows how to fill. It fills the header
# (size, abi_version) and num_tokens, the integer fields it knows by name when the table
# has them (max_seq, cache_slots, table_rows, <field>_head_stride), the pointer and stride
# fields a kernel's description names, and leaves every other field zero. Later versions
# only append groups whose zero is the default (kernel_args.h), so they are accepted: a
# field added to the header needs no change here. An older library is refused at import.
MIN_ABI = 4
_INTEGERS_BY_NAME = ("size", "abi_version", "num_tokens", "max_seq", "cache_slots", "table_rows", "q_head_stride",
                     "k_head_stride", "v_head_stride")
_INT_TYPES = {1: ctypes.c_uint8, 2: ctypes.c_uint16, 4: ctypes.c_uint32, 8: ctypes.c_int64}
_FLOAT_TYPES = {4: ctypes.c_float, 8: ctypes.c_double}


def generate_args_struct(fields, size, abi):
    """A ctypes Structure with the library's fields at the library's offsets (padding
    where the table leaves gaps), checked against offsets and total size. Fields are
    (name, offset, size[, kind]); pointers and integers are integers of their size
    (pointers are stored as addresses), floats are c_float or c_double."""
    members, at, pad = [], 0, 0
    for f in sorted(fields, key=lambda f: f[1]):
        name, offset, fsize = f[:3]
        kind = f[3] if len(f) > 3 else "integer"
        if offset < at:
            raise ImportError(f"ropegen: argument field '{name}' at offset {offset} overlaps the previous field")
        if offset > at:
            members.append((f"_pad{pad}", ctypes.c_uint8 * (offset - at)))
            pad += 1
        types = _FLOAT_TYPES if kind == "float" else _INT_TYPES
        if kind == "pointer" and fsize != ctypes.sizeof(ctypes.c_void_p):
            raise ImportError(f"ropegen: pointer field '{name}' has size {fsize}, not "
                              f"{ctypes.sizeof(ctypes.c_void_p)}")
        if fsize not in types or kind not in ("pointer", "integer", "float"):
            raise ImportError(f"ropegen: argument field '{name}' ({kind}, {fsize} bytes) is not one this binding can "
                              f"hold")
        members.append((name, types[fsize]))
        at = offset + fsize
    if size < at:
        raise ImportError(f"ropegen: the argument block is {size} bytes, but its fields end at {at}")
    if size > at:
        members.append((f"_pad{pad}", ctypes.c_uint8 * (size - at)))
    # _pack_ = 1: placement comes from the padding members alone, never from ctypes' rules.
    cls = type("KernelArgs", (ctypes.Structure,), {"_pack_": 1, "_fields_": members,
                                                    "__doc__": "ropegen_kernel_args, generated from the library's layout"})
    for f in fields:
        name, offset, fsize = f[:3]
        d = getattr(cls, name)
        if d.offset != offset or d.size != fsize:
            raise ImportError(f"ropegen: generated field '{name}' is at {d.offset}+{d.size}, library says {offset}+{fsize}")
    if ctypes.sizeof(cls) != size:
        raise ImportError(f"ropegen: generated argument block is {ctypes.sizeof(cls)} bytes, library says {size}")
    cls.abi_version_expected = abi
    cls.field_names = tuple(f[0] for f in fields)
    return cls


class Library:
    """The loaded C library with prototypes, its layout and the generated block."""

    def __init__(self):
        lib, self.path = load_library()
        self.lib = lib
        P, S, I = ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t
        lib.ropegen_last_error.restype = ctypes.c_char_p
        lib.ropegen_last_error.argtypes = []
        lib.ropegen_version_string.restype = ctypes.c_char_p
        lib.ropegen_status_string.restype = ctypes.c_char_p
        lib.ropegen_status_string.argtypes = [S]
        lib.ropegen_status_fault.restype = S
        lib.ropegen_status_fault.argtypes = [S]
        lib.ropegen_kernel_args_layout.restype = ctypes.POINTER(_Field)
        lib.ropegen_kernel_args_layout.argtypes = [ctypes.POINTER(I), ctypes.POINTER(I), ctypes.POINTER(ctypes.c_uint)]
        lib.ropegen_context_create_with_options.restype = S
        lib.ropegen_context_create_with_options.argtypes = [ctypes.c_char_p, S, ctypes.POINTER(_ContextOptions),
                                                            ctypes.POINTER(P)]
        lib.ropegen_context_destroy.restype = None
        lib.ropegen_context_destroy.argtypes = [P]
        lib.ropegen_context_target.restype = S
        lib.ropegen_context_target.argtypes = [P, ctypes.c_char_p, I]
        lib.ropegen_kernel_create.restype = S
        lib.ropegen_kernel_create.argtypes = [P, ctypes.c_char_p, ctypes.POINTER(P)]
        lib.ropegen_kernel_destroy.restype = None
        lib.ropegen_kernel_destroy.argtypes = [P]
        lib.ropegen_kernel_describe.restype = S
        lib.ropegen_kernel_describe.argtypes = [P, ctypes.c_char_p, I, ctypes.POINTER(I)]
        lib.ropegen_kernel_launch.restype = S
        lib.ropegen_kernel_launch.argtypes = [P, P, P]
        lib.ropegen_synchronize.restype = S
        lib.ropegen_synchronize.argtypes = [P]
        # Device memory of the context (layers = many: the kernel's per-layer records).
        lib.ropegen_alloc.restype = S
        lib.ropegen_alloc.argtypes = [P, I, ctypes.POINTER(P)]
        lib.ropegen_free.restype = S
        lib.ropegen_free.argtypes = [P, P]
        lib.ropegen_copy_to_device.restype = S
        lib.ropegen_copy_to_device.argtypes = [P, P, P, I]
        lib.ropegen_tune.restype = S
        lib.ropegen_tune.argtypes = [P, ctypes.c_char_p, ctypes.POINTER(_TuneOptions), ctypes.POINTER(_TuneResult), I,
                                     ctypes.POINTER(I)]

        n, size, abi = I(), I(), ctypes.c_uint()
        table = lib.ropegen_kernel_args_layout(ctypes.byref(n), ctypes.byref(size), ctypes.byref(abi))
        self.layout = [(table[i].name.decode(), table[i].offset, table[i].size) for i in range(n.value)]
        self.kinds = {}
        for i in range(n.value):
            kind = FIELD_KINDS.get(table[i].kind)
            if kind is None:
                raise ImportError(f"ropegen: argument field '{self.layout[i][0]}' has kind {table[i].kind}, which "
                                  f"this binding does not know")
            self.kinds[self.layout[i][0]] = kind
        # The tensor arguments a kernel may take: the pointer fields, in header order.
        self.pointer_fields = tuple(f[0] for f in self.layout if self.kinds[f[0]] == "pointer")
        self.args_size = size.value
        self.abi_version = abi.value
        if self.abi_version < MIN_ABI:
            raise ImportError(f"ropegen: {self.path} has kernel argument ABI version {self.abi_version}; this "
                              f"binding needs {MIN_ABI} or later")
        names = [f[0] for f in self.layout]
        if names[:2] != ["size", "abi_version"] or "num_tokens" not in names:
            raise ImportError(f"ropegen: the argument block must start with size and abi_version and hold num_tokens "
                              f"(fields: {', '.join(names)})")
        for name in _INTEGERS_BY_NAME:
            if name in self.kinds and self.kinds[name] != "integer":
                raise ImportError(f"ropegen: argument field '{name}' is a {self.kinds[name]}; this binding fills it as "
                                  f"an integer")
        self.KernelArgs = generate_args_struct([f + (self.kinds[f[0]],) for f in self.layout], self.args_size,
                                               self.abi_version)
        self.version = lib.ropegen_version_string().decode()

    def new_args(self):
        a = self.KernelArgs()
        a.size = self.args_size
        a.abi_version = self.abi_version
        return a

    def check(self, status, what):
        if status != 0:
            name = self.lib.ropegen_status_string(status).decode()
            message = self.lib.ropegen_last_error().decode()
            raise Error(f"{what}: {message} ({name})", name, self.lib.ropegen_status_fault(status))


_library = None


def library():
    """The library, loaded once (on first use: importing ropegen loads it)."""
    global _library
    if _library is None:
        _library = Library()
    return _library
