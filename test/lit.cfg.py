# lit configuration of the rnc tests: suffixes, excluded folders, tools.
# -*- Python -*-

import os
import sys

import lit.formats
from lit.llvm import llvm_config
from lit.llvm.subst import ToolSubst

config.name = "RNC"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".test"]

# `Inputs` and `corpus` folders hold files that tests read, not tests.
config.excludes = ["Inputs", "corpus", "CMakeLists.txt", "lit.cfg.py"]
# test/dist (mpirun) has a ctest of its own, dist-mpi: `--param rnc_dist=1`.
if lit_config.params.get("rnc_dist") != "1":
    config.excludes.append("dist")

config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.rnc_obj_root, "test")

llvm_config.with_system_environment(["HOME", "INCLUDE", "LIB", "TMP", "TEMP"])

# FileCheck, `| not`, `| count` from LLVM and %python (the running python3).
llvm_config.use_default_substitutions()

# rnc's tools come first on PATH, then LLVM's (for `not` and `count` at the
# start of a RUN line).
llvm_config.with_environment(
    "PATH", [config.rnc_tools_dir, config.llvm_tools_dir], append_path=True
)

tools = [
    ToolSubst("rnc-opt", unresolved="fatal"),
    ToolSubst("rnc-translate", unresolved="fatal"),
    ToolSubst("rn-builders-test", unresolved="fatal"),
    # The driver is built by tools/rnc once it exists; tests that run it
    # say `REQUIRES: rnc`.
    ToolSubst("rnc", unresolved="ignore"),
]
llvm_config.add_tool_substitutions(tools, [config.rnc_tools_dir])
if os.path.exists(os.path.join(config.rnc_tools_dir, "rnc")):
    config.available_features.add("rnc")

config.substitutions.append(
    ("%models", os.path.join(config.rnc_src_root, "models"))
)

# `cpu-bf16`: this CPU has AVX512-BF16 (rnc compile --precision bf16 --target
# cpu); tests that need it report UNSUPPORTED without it.
try:
    with open("/proc/cpuinfo") as f:
        if any(l.startswith("flags") and "avx512_bf16" in l.split() for l in f):
            config.available_features.add("cpu-bf16")
except OSError:
    pass

# `nvcc`: the CUDA toolkit rnc compile --target cuda builds with.
# `cuda-gpu`: the NVIDIA driver sees a GPU (tests that run CUDA models).
if os.path.exists("/usr/local/cuda/bin/nvcc") or os.environ.get("RNC_NVCC"):
    config.available_features.add("nvcc")
sys.path.insert(0, os.path.join(config.rnc_src_root, "python"))
from rnc_py.gpu import gpu_reason  # noqa: E402

if gpu_reason() is None:
    config.available_features.add("cuda-gpu")
