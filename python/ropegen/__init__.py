"""ropegen: JIT-compiled RoPE + KV-cache kernels, through the C API (ctypes).

    import ropegen
    k = ropegen.kernel("head_dim=128 q_heads=32 kv_heads=8 dtype=bf16")   # or kernel(head_dim=128, ...)
    k(q=q, k=k_in, v=v, k_cache=kc, v_cache=vc, positions=pos, slot_mapping=slots, cos_sin_cache=table)

Arguments are named as in ropegen_kernel_args (include/ropegen/kernel_args.h) and checked
against the kernel's own description before the launch; a mismatch raises ropegen.Error
(ropegen.ArgumentError, also a ValueError) naming the argument. With PyTorch imported, each
kernel has a custom operator (kernel.op) that torch.compile traces without graph breaks; its
tensor parameters are the pointer fields of the library's layout table, so every kernel has one
(layers = many: each argument a layer owns is a Tensor[] list, one tensor per layer).
Where PyTorch's C++ headers and a compiler are present, repeat calls with PyTorch tensors launch from a
small C++ extension built on first use (ropegen._torch_ext; ROPEGEN_NO_TORCH_EXT=1 turns it off).
`from ropegen import vllm` (PyTorch needed) has operators with vLLM's signatures: rotary_embedding,
reshape_and_cache_flash and the fused rotary_embedding_and_cache.
"""
from ._lib import ArgumentError, Error
from ._kernel import Context, Kernel, context, kernel, parse_device, spec_text
from ._kernel import _lib as _library

__version__ = _library.version
library_path = _library.path
KernelArgs = _library.KernelArgs  # generated from ropegen_kernel_args_layout()
abi_version = _library.abi_version
args_layout = tuple(_library.layout)  # (name, offset, size) per field, as the library reports
args_kinds = dict(_library.kinds)  # field name -> "pointer", "integer" or "float" (ropegen_field_kind)
pointer_fields = _library.pointer_fields  # the tensor arguments, header order: the operator's parameters

__all__ = ["ArgumentError", "Context", "Error", "Kernel", "KernelArgs", "abi_version", "args_kinds", "args_layout",
           "context", "kernel", "library_path", "parse_device", "pointer_fields", "spec_text"]
