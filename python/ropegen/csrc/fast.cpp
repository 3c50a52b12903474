// ropegen's optional C++ fast path for eager calls with PyTorch tensors (issue 28).
//
// Built by python/ropegen/_torch_ext.py with the system C++ compiler against PyTorch's
// headers, cached per PyTorch build; without them the package runs on ctypes alone.
//
// Python stays the one place that checks arguments and resolves a call: the first call of a
// key (the argument names, then each tensor's shape, strides, dtype and device: _Probe in
// _kernel.py) runs the full checks and builds the resolved argument block (_Resolved). It
// then hands that key to a Launcher here (add): the names, the key's shapes and strides, the
// tensors of that call (their dtype and device, and a check that this file reads tensors the
// way PyTorch lays them out), the block's bytes, and where each address goes. A repeat call
// (launch) compares the call's names and tensors with the keys added so far; on a match it
// copies the block, writes the addresses (checking their alignment) and calls
// ropegen_kernel_launch through the function pointer the ctypes binding uses, on PyTorch's
// current stream of the key's device. Anything else (another key, a non-tensor, a tensor
// subclass, a misaligned address) returns False: Python then takes its own path, whose
// checks and errors are the only ones.
//
// Only ATen's and c10's headers are needed (no pybind11, no CUDA or HIP headers), so one
// source serves CPU, CUDA and ROCm builds of PyTorch.
#include <Python.h>

#include <ATen/core/TensorBase.h>
#include <c10/util/MaybeOwned.h>

#include <cstdint>
#include <cstring>
#include <exception>
#include <vector>

namespace {

// PyTorch's Python tensor object (torch/csrc/autograd/python_variable.h), whose header needs
// pybind11. Only the start is declared: the object header, then the tensor, held either as a
// MaybeOwned<Tensor> (a flag, then the tensor's one pointer; PyTorch 1.10 on) or as the Tensor
// itself (newer PyTorch). Which one is a run-time choice (set_layout): _torch_ext tries each
// in a child process before any process uses this module, and Launcher.add also checks what it
// reads against what Python read from the same tensors.
struct TensorObjectMaybeOwned {
  PyObject_HEAD
  c10::MaybeOwned<at::TensorBase> cdata;
};
struct TensorObjectPlain {
  PyObject_HEAD
  at::TensorBase cdata;
};

int g_layout = 0;  // 0: MaybeOwned, 1: the Tensor itself

inline const at::TensorBase& unpack(PyObject* obj) {
  if (g_layout == 1) return reinterpret_cast<TensorObjectPlain*>(obj)->cdata;
  return *reinterpret_cast<TensorObjectMaybeOwned*>(obj)->cdata;
}

using LaunchFn = int (*)(const void* kernel, const void* args, void* stream);

constexpr size_t kMaxArgs = 64;          // tensors in one call
constexpr size_t kMaxBlockWords = 1024;  // 8 KiB: the block is a few hundred bytes
constexpr size_t kMaxKeys = 256;         // per kernel, as _Probe keeps per argument names

struct Store {
  uint32_t arg;    // which tensor's address
  uint32_t word;   // which 8-byte word of the block
  int64_t add;     // bytes added to the address (sin: half a row into cos_sin_cache)
  uint64_t mask;   // alignment - 1
};

struct Tensor {
  std::vector<int64_t> sizes, strides;
  c10::ScalarType dtype;
  c10::Device device;
};

struct Key {
  std::vector<PyObject*> names;  // strong references
  std::vector<Tensor> tensors;
  std::vector<uint64_t> block;
  std::vector<Store> stores;
  int device = -1;  // GPU index whose current stream launches; -1: none (host)
};

struct Launcher {
  PyObject_HEAD
  LaunchFn launch;
  void* kernel;
  PyObject* types;      // tuple of the tensor types taken (torch.Tensor, torch.nn.Parameter)
  PyObject* stream_fn;  // index -> PyTorch's current raw stream (None: no stream)
  std::vector<Key>* keys;
  size_t last;
  unsigned long long hits, misses;
};

void clear_keys(std::vector<Key>& keys) {
  for (Key& k : keys)
    for (PyObject* n : k.names) Py_DECREF(n);
  keys.clear();
}

bool taken_type(Launcher* self, PyObject* obj) {
  PyTypeObject* t = Py_TYPE(obj);
  Py_ssize_t n = PyTuple_GET_SIZE(self->types);
  for (Py_ssize_t i = 0; i < n; ++i)
    if (reinterpret_cast<PyObject*>(t) == PyTuple_GET_ITEM(self->types, i)) return true;
  return false;
}

bool same_name(PyObject* a, PyObject* b) {
  if (a == b) return true;
  if (!PyUnicode_CheckExact(a) || !PyUnicode_CheckExact(b)) return false;
  return PyUnicode_Compare(a, b) == 0;
}

bool same_dims(c10::IntArrayRef got, const std::vector<int64_t>& want) {
  return got.size() == want.size() && std::equal(got.begin(), got.end(), want.begin());
}

bool matches(const Key& k, PyObject* const* names, const at::TensorBase* const* ts, size_t n) {
  if (k.names.size() != n) return false;
  for (size_t i = 0; i < n; ++i) {
    if (!same_name(k.names[i], names[i])) return false;
    const Tensor& w = k.tensors[i];
    const at::TensorBase& t = *ts[i];
    if (t.scalar_type() != w.dtype || t.device() != w.device || !same_dims(t.sizes(), w.sizes) ||
        !same_dims(t.strides(), w.strides))
      return false;
  }
  return true;
}

// The call's names and tensors, in the dictionary's order; false for a non-dict, a value that
// is not a tensor of the taken types, or more arguments than kMaxArgs.
bool read_call(Launcher* self, PyObject* arrays, PyObject** names, const at::TensorBase** ts, size_t* n) {
  if (!PyDict_CheckExact(arrays)) return false;
  Py_ssize_t pos = 0, i = 0;
  PyObject *key, *value;
  if (PyDict_GET_SIZE(arrays) > static_cast<Py_ssize_t>(kMaxArgs)) return false;
  while (PyDict_Next(arrays, &pos, &key, &value)) {
    if (!taken_type(self, value)) return false;
    names[i] = key;
    ts[i] = &unpack(value);
    ++i;
  }
  *n = static_cast<size_t>(i);
  return true;
}

int Launcher_init(Launcher* self, PyObject* args, PyObject*) {
  unsigned long long launch, kernel;
  PyObject *types, *stream_fn;
  if (!PyArg_ParseTuple(args, "KKO!O", &launch, &kernel, &PyTuple_Type, &types, &stream_fn)) return -1;
  if (!launch || !kernel) {
    PyErr_SetString(PyExc_ValueError, "Launcher: null launch function or kernel");
    return -1;
  }
  self->launch = reinterpret_cast<LaunchFn>(static_cast<uintptr_t>(launch));
  self->kernel = reinterpret_cast<void*>(static_cast<uintptr_t>(kernel));
  Py_INCREF(types);
  Py_XDECREF(self->types);
  self->types = types;
  Py_INCREF(stream_fn);
  Py_XDECREF(self->stream_fn);
  self->stream_fn = stream_fn;
  if (!self->keys) self->keys = new std::vector<Key>();
  return 0;
}

void Launcher_dealloc(Launcher* self) {
  if (self->keys) {
    clear_keys(*self->keys);
    delete self->keys;
  }
  Py_XDECREF(self->types);
  Py_XDECREF(self->stream_fn);
  Py_TYPE(self)->tp_free(reinterpret_cast<PyObject*>(self));
}

bool int_tuple(PyObject* obj, std::vector<int64_t>* out) {
  if (!PyTuple_Check(obj)) return false;  // torch.Size is a tuple
  Py_ssize_t n = PyTuple_GET_SIZE(obj);
  out->resize(static_cast<size_t>(n));
  for (Py_ssize_t i = 0; i < n; ++i) {
    long long v = PyLong_AsLongLong(PyTuple_GET_ITEM(obj, i));
    if (v == -1 && PyErr_Occurred()) return false;
    (*out)[static_cast<size_t>(i)] = v;
  }
  return true;
}

PyObject* refuse(const char* why) {
  PyErr_SetString(PyExc_ValueError, why);
  return nullptr;
}

// add(arrays, key, ptrs, block, stores, device): the resolved key of a call. `key` is _Probe's
// (shape, strides, dtype, device) per tensor, `ptrs` the addresses Python read, `block` the
// resolved argument block's bytes (addresses zero), `stores` (tensor index, byte offset in
// the block, bytes added, alignment) per address written, `device` the GPU index whose
// current stream a launch uses (None: no stream). ValueError when the tensors do not read
// here as Python read them (the layout this file assumes does not hold): the caller turns
// the fast path off.
PyObject* add(Launcher* self, PyObject* args) {
  PyObject *arrays, *key, *ptrs, *stores, *device;
  Py_buffer block;
  if (!PyArg_ParseTuple(args, "O!O!O!y*O!O", &PyDict_Type, &arrays, &PyTuple_Type, &key, &PyList_Type, &ptrs, &block,
                        &PyTuple_Type, &stores, &device))
    return nullptr;
  struct Release {
    Py_buffer* b;
    ~Release() { PyBuffer_Release(b); }
  } release{&block};
  PyObject* names[kMaxArgs];
  const at::TensorBase* ts[kMaxArgs];
  size_t n = 0;
  if (!read_call(self, arrays, names, ts, &n)) return refuse("add: not a call of plain tensors");
  if (PyTuple_GET_SIZE(key) != static_cast<Py_ssize_t>(4 * n) || PyList_GET_SIZE(ptrs) != static_cast<Py_ssize_t>(n))
    return refuse("add: the key does not have 4 entries per tensor");
  if (block.len <= 0 || block.len % 8 || static_cast<size_t>(block.len) > 8 * kMaxBlockWords)
    return refuse("add: the argument block is not whole 8-byte words");
  Key k;
  k.device = device == Py_None ? -1 : static_cast<int>(PyLong_AsLong(device));
  if (k.device == -1 && PyErr_Occurred()) return nullptr;
  for (size_t i = 0; i < n; ++i) {
    Tensor w{{}, {}, ts[i]->scalar_type(), ts[i]->device()};
    if (!int_tuple(PyTuple_GET_ITEM(key, 4 * i), &w.sizes) || !int_tuple(PyTuple_GET_ITEM(key, 4 * i + 1), &w.strides))
      return PyErr_Occurred() ? nullptr : refuse("add: a shape or strides entry is not a tuple of ints");
    unsigned long long ptr = PyLong_AsUnsignedLongLong(PyList_GET_ITEM(ptrs, i));
    if (PyErr_Occurred()) return nullptr;
    if (!same_dims(ts[i]->sizes(), w.sizes) || !same_dims(ts[i]->strides(), w.strides) ||
        reinterpret_cast<uintptr_t>(ts[i]->data_ptr()) != ptr)
      return refuse("add: a tensor reads differently here than in Python (PyTorch's tensor object layout changed)");
    k.tensors.push_back(std::move(w));
  }
  for (Py_ssize_t j = 0; j < PyTuple_GET_SIZE(stores); ++j) {
    unsigned long long arg, offset, align;
    long long add;
    if (!PyArg_ParseTuple(PyTuple_GET_ITEM(stores, j), "KKLK", &arg, &offset, &add, &align)) return nullptr;
    if (arg >= n || offset % 8 || offset + 8 > static_cast<unsigned long long>(block.len) || !align ||
        (align & (align - 1)))
      return refuse("add: a store is outside the block or its alignment is not a power of two");
    k.stores.push_back({static_cast<uint32_t>(arg), static_cast<uint32_t>(offset / 8), add, align - 1});
  }
  k.block.resize(static_cast<size_t>(block.len) / 8);
  std::memcpy(k.block.data(), block.buf, static_cast<size_t>(block.len));
  std::vector<Key>& keys = *self->keys;
  for (size_t i = 0; i < keys.size(); ++i)
    if (matches(keys[i], names, ts, n)) {  // added again (after Python found it): replace
      for (PyObject* name : keys[i].names) Py_DECREF(name);
      keys.erase(keys.begin() + static_cast<std::ptrdiff_t>(i));
      break;
    }
  if (keys.size() >= kMaxKeys) clear_keys(keys);
  for (size_t i = 0; i < n; ++i) {
    Py_INCREF(names[i]);
    k.names.push_back(names[i]);
  }
  keys.push_back(std::move(k));
  self->last = keys.size() - 1;
  Py_RETURN_NONE;
}

PyObject* Launcher_add(Launcher* self, PyObject* args) {
  try {
    return add(self, args);
  } catch (const std::exception& e) {  // PyTorch could not read a tensor that Python read
    PyErr_Format(PyExc_ValueError, "add: %s", e.what());
    return nullptr;
  }
}

// Finds the key the call matches and writes its block, the call's addresses patched in, to
// `words`; false when no key matches, an address is misaligned, or PyTorch throws (a sparse
// or nested tensor has no strides): Python's path then runs.
bool patch(Launcher* self, PyObject* arrays, uint64_t* words, int* device) noexcept {
  try {
    PyObject* names[kMaxArgs];
    const at::TensorBase* ts[kMaxArgs];
    size_t n = 0;
    std::vector<Key>& keys = *self->keys;
    if (keys.empty() || !read_call(self, arrays, names, ts, &n)) return false;
    const Key* k = nullptr;
    if (self->last < keys.size() && matches(keys[self->last], names, ts, n)) {
      k = &keys[self->last];
    } else {
      for (size_t i = 0; i < keys.size(); ++i)
        if (i != self->last && matches(keys[i], names, ts, n)) {
          k = &keys[i];
          self->last = i;
          break;
        }
    }
    if (!k) return false;
    std::memcpy(words, k->block.data(), 8 * k->block.size());
    uint64_t bad = 0;
    for (const Store& s : k->stores) {
      uint64_t v = static_cast<uint64_t>(reinterpret_cast<uintptr_t>(ts[s.arg]->data_ptr())) + static_cast<uint64_t>(s.add);
      bad |= v & s.mask;
      words[s.word] = v;
    }
    *device = k->device;
    return !bad;  // a misaligned address: Python's checks name it
  } catch (...) {
    return false;
  }
}

// launch(arrays[, stream]): True when launched with status 0, the status (an int) when the
// library refused the launch, False when the call is not one of the added keys (Python's path
// then runs, with its checks and errors). stream: an address, or None for PyTorch's current
// stream of the key's device.
PyObject* Launcher_launch(Launcher* self, PyObject* const* args, Py_ssize_t nargs) {
  if (nargs < 1 || nargs > 2) {
    PyErr_SetString(PyExc_TypeError, "launch(arrays[, stream])");
    return nullptr;
  }
  PyObject* arrays = args[0];
  PyObject* given = nargs > 1 ? args[1] : Py_None;
  if (given != Py_None && !PyLong_CheckExact(given)) {  // Python's path converts (or refuses) it
    ++self->misses;
    Py_RETURN_FALSE;
  }
  // This call's copy of the block (threads each patch their own, as in Python).
  uint64_t words[kMaxBlockWords];
  int device = -1;
  if (!patch(self, arrays, words, &device)) {
    ++self->misses;
    Py_RETURN_FALSE;
  }
  void* stream = nullptr;
  if (given != Py_None) {
    stream = PyLong_AsVoidPtr(given);
    if (PyErr_Occurred()) return nullptr;
  } else if (device >= 0 && self->stream_fn != Py_None) {
    PyObject* index = PyLong_FromLong(device);
    if (!index) return nullptr;
    PyObject* s = PyObject_CallFunctionObjArgs(self->stream_fn, index, nullptr);
    Py_DECREF(index);
    if (!s) return nullptr;
    stream = PyLong_AsVoidPtr(s);
    Py_DECREF(s);
    if (PyErr_Occurred()) return nullptr;
  }
  ++self->hits;
  LaunchFn launch = self->launch;
  void* kernel = self->kernel;
  int status;
  Py_BEGIN_ALLOW_THREADS  // as ctypes does: the host target runs the kernel inside the call
  status = launch(kernel, words, stream);
  Py_END_ALLOW_THREADS
  if (status == 0) Py_RETURN_TRUE;
  return PyLong_FromLong(status);
}

PyObject* Launcher_clear(Launcher* self, PyObject*) {
  clear_keys(*self->keys);
  self->last = 0;
  Py_RETURN_NONE;
}

PyObject* Launcher_stats(Launcher* self, PyObject*) {
  return Py_BuildValue("{s:K,s:K,s:n}", "hits", self->hits, "misses", self->misses, "keys",
                       static_cast<Py_ssize_t>(self->keys->size()));
}

PyMethodDef Launcher_methods[] = {
    {"launch", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(Launcher_launch)), METH_FASTCALL,
     "launch(arrays[, stream]) -> True (launched), a status int (the library refused), False (not a resolved key)"},
    {"add", reinterpret_cast<PyCFunction>(Launcher_add), METH_VARARGS,
     "add(arrays, key, ptrs, block, stores, device): a key resolved by Python's full checks"},
    {"clear", reinterpret_cast<PyCFunction>(Launcher_clear), METH_NOARGS, "forget every key"},
    {"stats", reinterpret_cast<PyCFunction>(Launcher_stats), METH_NOARGS, "{hits, misses, keys}"},
    {nullptr, nullptr, 0, nullptr}};

PyObject* Launcher_new(PyTypeObject* type, PyObject*, PyObject*) {
  Launcher* self = reinterpret_cast<Launcher*>(type->tp_alloc(type, 0));
  if (self) {
    self->launch = nullptr;
    self->kernel = nullptr;
    self->types = nullptr;
    self->stream_fn = nullptr;
    self->keys = nullptr;
    self->last = 0;
    self->hits = self->misses = 0;
  }
  return reinterpret_cast<PyObject*>(self);
}

PyTypeObject LauncherType = {PyVarObject_HEAD_INIT(nullptr, 0)};

// probe(tensor) -> (address, sizes, strides): what this module reads from a tensor object.
// _torch_ext runs it in a child process on fresh tensors before the module serves any call:
// a PyTorch whose tensor objects are laid out otherwise crashes the child, not the caller.
PyObject* probe(PyObject*, PyObject* obj) {
  const at::TensorBase& t = unpack(obj);
  PyObject* sizes = PyTuple_New(static_cast<Py_ssize_t>(t.dim()));
  PyObject* strides = PyTuple_New(static_cast<Py_ssize_t>(t.dim()));
  if (!sizes || !strides) {
    Py_XDECREF(sizes);
    Py_XDECREF(strides);
    return nullptr;
  }
  for (int64_t i = 0; i < t.dim(); ++i) {
    PyTuple_SET_ITEM(sizes, i, PyLong_FromLongLong(t.sizes()[i]));
    PyTuple_SET_ITEM(strides, i, PyLong_FromLongLong(t.strides()[i]));
  }
  return Py_BuildValue("(KNN)", static_cast<unsigned long long>(reinterpret_cast<uintptr_t>(t.data_ptr())), sizes,
                       strides);
}

PyObject* set_layout(PyObject*, PyObject* arg) {
  const long v = PyLong_AsLong(arg);
  if (v == -1 && PyErr_Occurred()) return nullptr;
  if (v != 0 && v != 1) {
    PyErr_SetString(PyExc_ValueError, "layout must be 0 (MaybeOwned) or 1 (the Tensor itself)");
    return nullptr;
  }
  g_layout = static_cast<int>(v);
  Py_RETURN_NONE;
}

PyMethodDef module_methods[] = {
    {"probe", probe, METH_O, "probe(tensor) -> (address, sizes, strides) as this module reads them"},
    {"set_layout", set_layout, METH_O, "set_layout(0 | 1): PyTorch's tensor object holds a MaybeOwned or a Tensor"},
    {nullptr, nullptr, 0, nullptr}};

PyModuleDef module_def = {PyModuleDef_HEAD_INIT, "_ropegen_fast",
                          "ropegen's C++ fast path for repeat calls with PyTorch tensors", -1, module_methods};

}  // namespace

PyMODINIT_FUNC PyInit__ropegen_fast(void) {
  LauncherType.tp_name = "_ropegen_fast.Launcher";
  LauncherType.tp_basicsize = sizeof(Launcher);
  LauncherType.tp_flags = Py_TPFLAGS_DEFAULT;
  LauncherType.tp_doc = "Launcher(launch_fn, kernel, tensor_types, stream_fn): one kernel's resolved keys";
  LauncherType.tp_new = Launcher_new;
  LauncherType.tp_init = reinterpret_cast<initproc>(Launcher_init);
  LauncherType.tp_dealloc = reinterpret_cast<destructor>(Launcher_dealloc);
  LauncherType.tp_methods = Launcher_methods;
  if (PyType_Ready(&LauncherType) < 0) return nullptr;
  PyObject* m = PyModule_Create(&module_def);
  if (!m) return nullptr;
  Py_INCREF(&LauncherType);
  if (PyModule_AddObject(m, "Launcher", reinterpret_cast<PyObject*>(&LauncherType)) < 0) {
    Py_DECREF(&LauncherType);
    Py_DECREF(m);
    return nullptr;
  }
  if (PyModule_AddIntConstant(m, "VERSION", 3) < 0) {
    Py_DECREF(m);
    return nullptr;
  }
  return m;
}
