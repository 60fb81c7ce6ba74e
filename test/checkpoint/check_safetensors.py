"""rnc checkpoints and the Python safetensors package, both directions.

1. A resnet18 checkpoint written by `rnc-run train --checkpoint` is read by
   safetensors.numpy: without the "optimizer." entries its names, dtypes and
   shapes are exactly those of torchvision's resnet18 state_dict (built here
   from torchvision's architecture, with the 1-channel stem rnc compiled).
2. Files written by safetensors.numpy (F32, F64 and F16) from the weights of
   a tiny checkpoint are read back by `rnc-run eval`: F32 and F64 give the
   same test accuracy as the original checkpoint (F64 holds the float32
   values exactly); F16 loads.
3. A file with one tensor of the wrong shape, or one missing, is refused
   with a one-line error naming the file and the tensor.
Exit status 0 only if every check passes.
"""
import argparse
import os
import re
import sys

import numpy as np
from safetensors.numpy import load_file, save_file

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "python"))
from rnc_py import checks  # noqa: E402
from rnc_py.checks import check  # noqa: E402


def run(*args, expect_ok=True):
    return checks.run(*args, expect_ok=expect_ok)


def torchvision_resnet18(in_channels=1, classes=1000):
    """torchvision.models.resnet18().state_dict(): names -> (dtype, shape)."""
    sd = {}

    def conv(name, o, i, k):
        sd[name + ".weight"] = ("F32", [o, i, k, k])

    def bn(name, c):
        for p in ("weight", "bias", "running_mean", "running_var"):
            sd["%s.%s" % (name, p)] = ("F32", [c])
        sd[name + ".num_batches_tracked"] = ("I64", [])

    conv("conv1", 64, in_channels, 7)
    bn("bn1", 64)
    inplanes = 64
    for layer, planes in enumerate([64, 128, 256, 512], start=1):
        for b in range(2):
            pre = "layer%d.%d" % (layer, b)
            conv(pre + ".conv1", planes, inplanes, 3)
            bn(pre + ".bn1", planes)
            conv(pre + ".conv2", planes, planes, 3)
            bn(pre + ".bn2", planes)
            if b == 0 and inplanes != planes:
                conv(pre + ".downsample.0", planes, inplanes, 1)
                bn(pre + ".downsample.1", planes)
            inplanes = planes
    sd["fc.weight"] = ("F32", [classes, 512])
    sd["fc.bias"] = ("F32", [classes])
    return sd


def accuracy(out):
    m = re.search(r"test accuracy ([0-9.]+)% \((\d+) / (\d+)\)", out)
    return m.group(0) if m else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rnc", required=True)
    ap.add_argument("--rnc-run", required=True)
    ap.add_argument("--models", required=True)
    ap.add_argument("--out-dir", required=True)
    a = ap.parse_args()
    os.makedirs(a.out_dir, exist_ok=True)
    d = lambda name: os.path.join(a.out_dir, name)
    small = ["--epochs", "1", "--train-limit", "16", "--test-limit", "16",
             "--batch-size", "8"]

    # 1. torchvision names.
    run(a.rnc, "compile", os.path.join(a.models, "resnet18.json"), "--input",
        "1x32x32", "--max-batch", "8", "-o", d("r18.so"))
    run(a.rnc_run, "train", d("r18.so"), *small, "--checkpoint", d("r18.safetensors"))
    tensors = load_file(d("r18.safetensors"))
    weights = {k: v for k, v in tensors.items() if not k.startswith("optimizer.")}
    got = {k: ({np.float32: "F32", np.int64: "I64"}.get(v.dtype.type, str(v.dtype)),
               list(v.shape)) for k, v in weights.items()}
    want = torchvision_resnet18()
    check(got == want, "resnet18 checkpoint has torchvision's %d state_dict entries "
          "(names, dtypes, shapes)" % len(want))
    if got != want:
        print("  only in rnc:", sorted(set(got) - set(want))[:5])
        print("  only in torchvision:", sorted(set(want) - set(got))[:5])
        print("  differing:", [k for k in got if k in want and got[k] != want[k]][:5])
    optim = [k for k in tensors if k.startswith("optimizer.")]
    check(len(optim) == sum(1 for k in want if want[k][0] == "F32" and
                            not re.search(r"running_(mean|var)$", k)),
          "one optimizer.<param>.momentum_buffer per trained parameter (%d)" % len(optim))
    check(int(weights["bn1.num_batches_tracked"]) == 2,
          "num_batches_tracked counts the steps trained (2 of batch 8)")

    # 2. Files written by safetensors, read by rnc.
    run(a.rnc, "compile", os.path.join(a.models, "tiny.json"), "-o", d("tiny.so"))
    run(a.rnc_run, "train", d("tiny.so"), "--epochs", "1", "--train-limit", "512",
        "--test-limit", "16", "--batch-size", "64", "--checkpoint", d("tiny.safetensors"))
    base = accuracy(run(a.rnc_run, "eval", d("tiny.so"), "--checkpoint",
                        d("tiny.safetensors"), "--test-limit", "1000").stdout)
    tiny = {k: v for k, v in load_file(d("tiny.safetensors")).items()
            if not k.startswith("optimizer.")}
    for dtype in ("float32", "float64", "float16"):
        path = d("from-python-%s.safetensors" % dtype)
        save_file({k: (v.astype(dtype) if v.dtype == np.float32 else v)
                   for k, v in tiny.items()}, path)
        p = run(a.rnc_run, "eval", d("tiny.so"), "--checkpoint", path,
                "--test-limit", "1000", expect_ok=False)
        acc = accuracy(p.stdout)
        if dtype == "float16":
            check(p.returncode == 0 and acc is not None,
                  "rnc-run eval reads a float16 file written by safetensors (%s)" % acc)
        else:
            check(p.returncode == 0 and acc == base,
                  "rnc-run eval of a %s file written by safetensors: '%s' == '%s'"
                  % (dtype, acc, base))

    # 3. Wrong shape, missing tensor.
    bad = dict(tiny)
    name = next(k for k in bad if k.endswith("conv1.weight"))
    bad[name] = np.zeros([1] + list(bad[name].shape), np.float32)
    save_file(bad, d("bad-shape.safetensors"))
    p = run(a.rnc_run, "eval", d("tiny.so"), "--checkpoint", d("bad-shape.safetensors"),
            expect_ok=False)
    err = p.stderr.strip()
    check(p.returncode != 0 and err.count("\n") == 0 and "bad-shape.safetensors" in err
          and ("tensor '%s' has shape" % name) in err, "wrong shape refused: " + err)
    del bad[name]
    save_file(bad, d("missing.safetensors"))
    p = run(a.rnc_run, "eval", d("tiny.so"), "--checkpoint", d("missing.safetensors"),
            expect_ok=False)
    err = p.stderr.strip()
    check(p.returncode != 0 and ("has no tensor '%s'" % name) in err,
          "missing tensor refused: " + err)

    return checks.summary()


if __name__ == "__main__":
    sys.exit(main())
