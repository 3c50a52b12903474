// The empty kernel: the time of a launch (and of a graph node) with no work.
RG_KERNEL(32) rg_empty(ropegen_kernel_args) {}
