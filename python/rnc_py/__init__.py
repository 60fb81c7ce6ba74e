"""rnc_py: Python side of rnc: the ctypes wrapper of a compiled model.so
(abi), the JAX reference model built from the graph form (jax_model) and
the GPU probe of the CUDA tests (gpu)."""
