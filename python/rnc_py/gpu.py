"""Is there a CUDA GPU here? The NVIDIA driver (libcuda.so.1) is asked
directly, as rnc-run does (runtime/Device.cpp), so no CUDA toolkit or
framework is needed to find out."""
import ctypes


def gpu_reason():
    """None when the driver sees a GPU, else why not, in a few words."""
    try:
        cuda = ctypes.CDLL("libcuda.so.1")
    except OSError:
        return "no NVIDIA driver: libcuda.so.1 not found"
    if cuda.cuInit(0) != 0:
        return "the NVIDIA driver does not start (cuInit failed)"
    count = ctypes.c_int(0)  # not written on failure: check the return code
    if cuda.cuDeviceGetCount(ctypes.byref(count)) != 0 or count.value < 1:
        return "the driver sees no GPU"
    return None
