"""ctypes wrapper of runtime/rnc_abi.h: loads a compiled model.so, checks its
ABI version before touching any other symbol, and moves tensors in and out as
numpy arrays. Every failing call raises RncError with rnc_last_error()."""
import ctypes as C

import numpy as np

ABI_VERSION = 2
PARAM, BUFFER, OPTIMIZER, GRADIENT = 0, 1, 2, 3
KIND_NAMES = {PARAM: "param", BUFFER: "buffer", OPTIMIZER: "optimizer", GRADIENT: "gradient"}


class RncError(RuntimeError):
    pass


class _TensorInfo(C.Structure):
    _fields_ = [("name", C.c_char_p), ("kind", C.c_int32), ("rank", C.c_int32),
                ("shape", C.c_int64 * 4), ("numel", C.c_int64)]


class _ModelInfo(C.Structure):
    _fields_ = [("abi_version", C.c_uint32), ("rnc_version", C.c_char_p),
                ("model_name", C.c_char_p), ("spec_hash", C.c_char_p), ("target", C.c_char_p),
                ("input_c", C.c_int32), ("input_h", C.c_int32), ("input_w", C.c_int32),
                ("num_classes", C.c_int32), ("max_batch", C.c_int32), ("num_tensors", C.c_int32)]


class _Sgd(C.Structure):
    _fields_ = [("lr", C.c_float), ("momentum", C.c_float), ("weight_decay", C.c_float)]


class _StepResult(C.Structure):
    _fields_ = [("loss", C.c_float), ("correct", C.c_int32)]


_F32P = C.POINTER(C.c_float)
_I32P = C.POINTER(C.c_int32)
_U8P = C.POINTER(C.c_uint8)


class _Resize(C.Structure):
    _fields_ = [("height", C.c_int32), ("width", C.c_int32),
                ("taps_y", C.c_int32), ("taps_x", C.c_int32),
                ("first_y", _I32P), ("count_y", _I32P), ("weights_y", _I32P),
                ("first_x", _I32P), ("count_x", _I32P), ("weights_x", _I32P)]


def _f32(a):
    """A C-contiguous float32 copy (or view) of `a` and its data pointer."""
    a = np.ascontiguousarray(a, dtype=np.float32)
    return a, a.ctypes.data_as(_F32P)


class Model:
    """One loaded model.so and one rnc_model instance created from it."""

    def __init__(self, path):
        self.path, self._m = str(path), None
        lib = C.CDLL(self.path)
        lib.rnc_abi_version.restype = C.c_uint32
        version = lib.rnc_abi_version()
        if version != ABI_VERSION:
            raise RncError(f"{self.path}: ABI version {version}, this wrapper speaks {ABI_VERSION}")
        lib.rnc_info.restype = C.POINTER(_ModelInfo)
        lib.rnc_tensor.restype = C.POINTER(_TensorInfo)
        lib.rnc_tensor.argtypes = [C.c_int32]
        lib.rnc_create.restype = C.c_void_p
        lib.rnc_destroy.argtypes = [C.c_void_p]
        lib.rnc_last_error.restype = C.c_char_p
        lib.rnc_last_error.argtypes = [C.c_void_p]
        lib.rnc_init.argtypes = [C.c_void_p, C.c_uint64]
        lib.rnc_train_step.argtypes = [C.c_void_p, _F32P, _I32P, C.c_int32,
                                       C.POINTER(_Sgd), C.POINTER(_StepResult)]
        lib.rnc_eval.argtypes = [C.c_void_p, _F32P, C.c_int32, _F32P]
        lib.rnc_read_tensor.argtypes = [C.c_void_p, C.c_char_p, _F32P, C.c_int64]
        lib.rnc_write_tensor.argtypes = [C.c_void_p, C.c_char_p, _F32P, C.c_int64]
        # Outside the ABI, cuda models only (kernels/cuda/model_abi.cuh).
        self._repeat = getattr(lib, "rnc_cuda_repeat_step", None)
        if self._repeat is not None:
            self._repeat.argtypes = [C.c_void_p, C.c_int32, C.POINTER(_Sgd), C.POINTER(_StepResult)]
        # Optional in the ABI (runtime/rnc_abi.h): absent from older models.
        self._set_dataset = getattr(lib, "rnc_set_dataset", None)
        self._step_indexed = getattr(lib, "rnc_train_step_indexed", None)
        if self._set_dataset is not None and self._step_indexed is not None:
            self._set_dataset.argtypes = [C.c_void_p, _F32P, _I32P, C.c_int64]
            self._step_indexed.argtypes = [C.c_void_p, _I32P, C.c_int32,
                                           C.POINTER(_Sgd), C.POINTER(_StepResult)]
        self._set_dataset_u8 = getattr(lib, "rnc_set_dataset_u8", None)
        if self._set_dataset_u8 is not None:
            self._set_dataset_u8.argtypes = [C.c_void_p, _U8P, _F32P, _I32P, C.c_int64]
        self._step_augmented = getattr(lib, "rnc_train_step_augmented", None)
        if self._step_augmented is not None:
            self._step_augmented.argtypes = [C.c_void_p, _I32P, _I32P, C.c_int32,
                                             C.POINTER(_Sgd), C.POINTER(_StepResult)]
        self._set_dataset_u8_resized = getattr(lib, "rnc_set_dataset_u8_resized", None)
        if self._set_dataset_u8_resized is not None:
            self._set_dataset_u8_resized.argtypes = [C.c_void_p, _U8P, C.POINTER(_Resize),
                                                     _F32P, _I32P, C.c_int64]
        self._lib = lib

        i = lib.rnc_info().contents
        self.info = {f: getattr(i, f) for f, _ in _ModelInfo._fields_}
        for f in ("rnc_version", "model_name", "spec_hash", "target"):
            self.info[f] = (self.info[f] or b"").decode()
        self.input_shape = (i.input_c, i.input_h, i.input_w)
        self.num_classes = i.num_classes
        self.max_batch = i.max_batch
        self.tensors = {}  # name -> (kind, shape), in the model's order
        for k in range(i.num_tensors):
            t = lib.rnc_tensor(k).contents
            self.tensors[t.name.decode()] = (t.kind, tuple(t.shape[:t.rank]))

        self._m = lib.rnc_create()
        if not self._m:
            # rnc_last_error(NULL): why, from a cpu model (runtime/rnc_abi.h).
            why = (lib.rnc_last_error(None) or b"").decode()
            raise RncError(f"{self.path}: rnc_create failed: "
                           + (why if why and why != "model is null" else "out of memory?"))

    def close(self):
        if self._m:
            self._lib.rnc_destroy(self._m)
            self._m = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()

    def _check(self, rc, what):
        if rc != 0:
            msg = self._lib.rnc_last_error(self._m)
            raise RncError(f"{self.path}: {what}: {msg.decode() if msg else 'unknown error'}")

    def names(self, kind):
        return [n for n, (k, _) in self.tensors.items() if k == kind]

    def init(self, seed):
        self._check(self._lib.rnc_init(self._m, seed), "rnc_init")

    def read(self, name):
        shape = self.tensors[name][1]
        out = np.empty(shape, np.float32)
        self._check(self._lib.rnc_read_tensor(self._m, name.encode(), out.ctypes.data_as(_F32P),
                                              out.size), f"rnc_read_tensor {name}")
        return out

    def write(self, name, value):
        value, ptr = _f32(value)
        self._check(self._lib.rnc_write_tensor(self._m, name.encode(), ptr, value.size),
                    f"rnc_write_tensor {name}")

    def read_all(self, kind=None):
        return {n: self.read(n) for n, (k, _) in self.tensors.items() if kind is None or k == kind}

    def _images(self, images, batch=None):
        images, ptr = _f32(images)
        if images.ndim != 4 or images.shape[1:] != self.input_shape or (
                batch is not None and batch != images.shape[0]):
            raise RncError(f"{self.path}: images {images.shape}, expected "
                           f"[{batch or 'N'}, {', '.join(map(str, self.input_shape))}]")
        return images, ptr

    def train_step(self, images, labels, lr, momentum=0.0, weight_decay=0.0):
        """One SGD step on the batch; returns (mean loss, correct count)."""
        labels = np.ascontiguousarray(labels, dtype=np.int32)
        images, iptr = self._images(images, len(labels))
        opt = _Sgd(lr, momentum, weight_decay)
        res = _StepResult()
        self._check(self._lib.rnc_train_step(self._m, iptr, labels.ctypes.data_as(_I32P),
                                             len(labels), C.byref(opt), C.byref(res)),
                    "rnc_train_step")
        return res.loss, res.correct

    @property
    def has_dataset(self):
        """Whether the model has rnc_set_dataset and rnc_train_step_indexed."""
        return self._set_dataset is not None and self._step_indexed is not None

    def set_dataset(self, images, labels):
        """Copies the samples into the model (a cuda model: device memory)
        for train_step_indexed; an empty set frees it."""
        if not self.has_dataset:
            raise RncError(f"{self.path}: no rnc_set_dataset (a model compiled by an older rnc)")
        labels = np.ascontiguousarray(labels, dtype=np.int32)
        images, iptr = self._images(images, len(labels))
        self._check(self._set_dataset(self._m, iptr, labels.ctypes.data_as(_I32P), len(labels)),
                    "rnc_set_dataset")

    @property
    def has_dataset_u8(self):
        """Whether the model also has rnc_set_dataset_u8."""
        return self.has_dataset and self._set_dataset_u8 is not None

    def set_dataset_u8(self, pixels, lut, labels):
        """The dataset as 8-bit pixels [count, H, W, C] and the table lut
        [C, 256]: sample value lut[c, pixel], normalized by the model as it
        gathers a batch (a quarter of set_dataset's memory)."""
        if not self.has_dataset_u8:
            raise RncError(f"{self.path}: no rnc_set_dataset_u8 (a model compiled by an older rnc)")
        c, h, w = self.input_shape
        labels = np.ascontiguousarray(labels, dtype=np.int32)
        pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
        lut = np.ascontiguousarray(lut, dtype=np.float32)
        if pixels.shape != (len(labels), h, w, c) or lut.shape != (c, 256):
            raise RncError(f"{self.path}: set_dataset_u8: pixels {pixels.shape} and lut "
                           f"{lut.shape}; the model needs ({len(labels)}, {h}, {w}, {c}) and ({c}, 256)")
        self._check(self._set_dataset_u8(self._m, pixels.ctypes.data_as(_U8P),
                                         lut.ctypes.data_as(_F32P),
                                         labels.ctypes.data_as(_I32P), len(labels)),
                    "rnc_set_dataset_u8")

    @property
    def has_dataset_u8_resized(self):
        """Whether the model also has rnc_set_dataset_u8_resized."""
        return self.has_dataset_u8 and self._set_dataset_u8_resized is not None

    def set_dataset_u8_resized(self, pixels, table, lut, labels):
        """set_dataset_u8 of pixels [count, h, w, C] at their stored size,
        resized to the model's input while gathered by `table`: a dict of
        int32 arrays first_y, count_y [H], weights_y [H, taps_y], first_x,
        count_x [W], weights_x [W, taps_x] (runtime/rnc_abi.h, rnc_resize)."""
        if not self.has_dataset_u8_resized:
            raise RncError(f"{self.path}: no rnc_set_dataset_u8_resized (a model compiled by an older rnc)")
        c, h, w = self.input_shape
        labels = np.ascontiguousarray(labels, dtype=np.int32)
        pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
        lut = np.ascontiguousarray(lut, dtype=np.float32)
        t = {k: np.ascontiguousarray(v, dtype=np.int32) for k, v in table.items()}
        want = {"first_y": (h,), "count_y": (h,), "first_x": (w,), "count_x": (w,)}
        bad = [k for k, shape in want.items() if t[k].shape != shape]
        bad += [k for k, n in (("weights_y", h), ("weights_x", w))
                if t[k].ndim != 2 or t[k].shape[0] != n]
        if (pixels.ndim != 4 or pixels.shape[0] != len(labels) or pixels.shape[3] != c
                or lut.shape != (c, 256) or bad):
            raise RncError(f"{self.path}: set_dataset_u8_resized: pixels {pixels.shape}, lut "
                           f"{lut.shape}, table {', '.join(bad) or 'ok'}; the model needs "
                           f"({len(labels)}, h, w, {c}), ({c}, 256) and a table for {h}x{w}")
        ptr = {k: v.ctypes.data_as(_I32P) for k, v in t.items()}
        r = _Resize(pixels.shape[1], pixels.shape[2], t["weights_y"].shape[1],
                    t["weights_x"].shape[1], ptr["first_y"], ptr["count_y"], ptr["weights_y"],
                    ptr["first_x"], ptr["count_x"], ptr["weights_x"])
        self._check(self._set_dataset_u8_resized(self._m, pixels.ctypes.data_as(_U8P),
                                                 C.byref(r), lut.ctypes.data_as(_F32P),
                                                 labels.ctypes.data_as(_I32P), len(labels)),
                    "rnc_set_dataset_u8_resized")

    def train_step_indexed(self, index, lr, momentum=0.0, weight_decay=0.0):
        """One SGD step on samples `index` of the dataset set_dataset gave:
        the same as train_step on them, without copying any image."""
        if not self.has_dataset:
            raise RncError(f"{self.path}: no rnc_train_step_indexed (a model compiled by an older rnc)")
        index = np.ascontiguousarray(index, dtype=np.int32)
        opt = _Sgd(lr, momentum, weight_decay)
        res = _StepResult()
        self._check(self._step_indexed(self._m, index.ctypes.data_as(_I32P), len(index),
                                       C.byref(opt), C.byref(res)),
                    "rnc_train_step_indexed")
        return res.loss, res.correct

    @property
    def has_augmented_step(self):
        """Whether the model has rnc_train_step_augmented."""
        return self.has_dataset and self._step_augmented is not None

    def train_step_augmented(self, index, aug, lr, momentum=0.0, weight_decay=0.0):
        """train_step_indexed on an 8-bit dataset with sample i augmented as
        aug[i] says: int32 rows (shift_y, shift_x, flip, erase_top,
        erase_left, erase_height, erase_width), runtime/rnc_abi.h's
        rnc_augment."""
        if not self.has_augmented_step:
            raise RncError(f"{self.path}: no rnc_train_step_augmented (a model compiled by an older rnc)")
        index = np.ascontiguousarray(index, dtype=np.int32)
        aug = np.ascontiguousarray(aug, dtype=np.int32)
        if aug.shape != (len(index), 7):
            raise RncError(f"{self.path}: train_step_augmented: aug {aug.shape}, "
                           f"needs ({len(index)}, 7)")
        opt = _Sgd(lr, momentum, weight_decay)
        res = _StepResult()
        self._check(self._step_augmented(self._m, index.ctypes.data_as(_I32P),
                                         aug.ctypes.data_as(_I32P), len(index),
                                         C.byref(opt), C.byref(res)),
                    "rnc_train_step_augmented")
        return res.loss, res.correct

    @property
    def can_repeat_step(self):
        return self._repeat is not None

    def repeat_step(self, batch, lr, momentum=0.0, weight_decay=0.0):
        """cuda only: one SGD step on the batch the last train_step uploaded,
        which is still on the GPU (no host copy; for benchmarks)."""
        if self._repeat is None:
            raise RncError(f"{self.path}: no rnc_cuda_repeat_step (not a cuda model, or an older one)")
        opt = _Sgd(lr, momentum, weight_decay)
        res = _StepResult()
        self._check(self._repeat(self._m, batch, C.byref(opt), C.byref(res)), "rnc_cuda_repeat_step")
        return res.loss, res.correct

    def eval(self, images):
        images, iptr = self._images(images)
        logits = np.empty((images.shape[0], self.num_classes), np.float32)
        self._check(self._lib.rnc_eval(self._m, iptr, images.shape[0], logits.ctypes.data_as(_F32P)),
                    "rnc_eval")
        return logits
