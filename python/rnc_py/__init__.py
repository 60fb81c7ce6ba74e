"""rnc_py: Python side of rnc: the ctypes wrapper of a compiled model.so
(abi), the JAX reference model built from the graph form (jax_model),
the GPU probe of the CUDA tests (gpu), and the helpers of the Python test
scripts (checks)."""
