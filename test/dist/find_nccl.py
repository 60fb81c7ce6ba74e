"""Prints the folder of the newest libnccl.so.2 on this machine (the CUDA
toolkit's, the system's, or a PyPI nvidia-nccl wheel's, such as PyTorch
brings), or nothing; what it found goes to stderr. For the GPU check's nccl
stage (scripts/gpu-check.sh): NCCL 2.30+ can put two ranks on one GPU."""
import ctypes
import glob
import os
import site
import sys

dirs = ["/usr/local/cuda/lib64", "/usr/local/cuda/lib", "/usr/lib/x86_64-linux-gnu"]
for p in site.getsitepackages() + [site.getusersitepackages()]:
    dirs += glob.glob(os.path.join(p, "nvidia", "nccl*", "lib"))
best = (0, "")
for d in dirs:
    f = os.path.join(d, "libnccl.so.2")
    if not os.path.exists(f):
        continue
    try:
        v = ctypes.c_int()
        ctypes.CDLL(f).ncclGetVersion(ctypes.byref(v))
        print("found NCCL %d at %s" % (v.value, f), file=sys.stderr)
        best = max(best, (v.value, d))
    except OSError as e:
        print("cannot load %s: %s" % (f, e), file=sys.stderr)
print(best[1])
