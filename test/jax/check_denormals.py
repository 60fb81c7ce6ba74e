#!/usr/bin/env python3
"""cpu-denormals: a compiled cpu model flushes denormal floats to zero while
its step and eval run (kernels/cpu/fp_env.h), and leaves the caller's
floating-point modes as they were.

The check: `rnc compile` models/tiny.json; set the linear layer's weights to
1e-39 (a denormal float32) and its bias to 0, and evaluate a batch whose
pooled features are positive. Each logit is then a sum of products of a
denormal weight and a feature of order 1:
  - flushed (the default): the weights read as zero, every logit is exactly 0;
  - RNC_FLUSH_DENORMALS=0: IEEE arithmetic, logits nonzero and below 1e-30.
After rnc_eval and rnc_train_step, numpy in the calling thread must still
make a denormal (1e-30 * 1e-10 = 1e-40 in float32, not 0): the scope gave the
caller its MXCSR back. Each mode runs in a child process, since the model reads
RNC_FLUSH_DENORMALS when it is created.
Usage: check_denormals.py --rnc build/bin/rnc --out-dir DIR
"""
import argparse
import os
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "python"))

import numpy as np  # noqa: E402

DENORMAL = np.float32(1e-39)


def caller_makes_denormals():
    """numpy's float32 multiply in this thread, under this thread's MXCSR."""
    a = np.array([1e-30], np.float32) * np.float32(1e-10)
    return a[0] != 0


def child(so):
    """Prints one line: the largest |logit| and whether the caller's modes held."""
    from rnc_py import abi
    with abi.Model(so) as m:
        m.init(0)
        fc_w = [n for n in m.names(abi.PARAM) if len(m.tensors[n][1]) == 2]
        if len(fc_w) != 1:
            sys.exit(f"expected one linear layer in the model, found {fc_w}")
        fc_b = fc_w[0][:-len("weight")] + "bias"
        m.write(fc_w[0], np.full(m.tensors[fc_w[0]][1], DENORMAL, np.float32))
        m.write(fc_b, np.zeros(m.tensors[fc_b][1], np.float32))
        rng = np.random.default_rng(0)
        images = rng.uniform(0.5, 1.5, (4, *m.input_shape)).astype(np.float32)
        logits = m.eval(images)
        after_eval = caller_makes_denormals()
        m.train_step(images, np.arange(4, dtype=np.int32) % m.num_classes, lr=0.01)
        after_step = caller_makes_denormals()
        print(f"{float(np.max(np.abs(logits))):.3e} {int(after_eval)} {int(after_step)}")


def run_mode(so, flush):
    env = dict(os.environ)
    env.pop("RNC_FLUSH_DENORMALS", None)
    if not flush:
        env["RNC_FLUSH_DENORMALS"] = "0"
    out = subprocess.run([sys.executable, __file__, "--child", so], env=env,
                         capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"child ({'flush' if flush else 'RNC_FLUSH_DENORMALS=0'}) failed:\n"
                 f"{out.stdout}{out.stderr}")
    big, after_eval, after_step = out.stdout.split()
    return float(big), after_eval == "1", after_step == "1"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rnc", default=os.path.join(ROOT, "build/bin/rnc"))
    ap.add_argument("--out-dir")
    ap.add_argument("--child")
    args = ap.parse_args()
    if args.child:
        child(args.child)
        return 0
    if not caller_makes_denormals():
        sys.exit("this Python already flushes denormals: the check cannot tell")
    os.makedirs(args.out_dir, exist_ok=True)
    so = os.path.join(args.out_dir, "tiny.so")
    subprocess.run([args.rnc, "compile", os.path.join(ROOT, "models/tiny.json"), "-o", so,
                    "--max-batch", "4"], check=True)
    failures = []
    big, ev, st = run_mode(so, flush=True)
    print(f"flushed (default):      max |logit| {big:.3e} (want 0), caller's denormals "
          f"after eval {ev}, after step {st} (want True, True)")
    if big != 0.0:
        failures.append("denormal weights were not read as zero")
    if not (ev and st):
        failures.append("the model left FTZ/DAZ on in the calling thread")
    big, ev, st = run_mode(so, flush=False)
    print(f"RNC_FLUSH_DENORMALS=0:  max |logit| {big:.3e} (want >0, <1e-30), caller's "
          f"denormals after eval {ev}, after step {st} (want True, True)")
    if not 0.0 < big < 1e-30:
        failures.append("RNC_FLUSH_DENORMALS=0 did not keep IEEE denormals")
    if not (ev and st):
        failures.append("the caller's denormals were lost with RNC_FLUSH_DENORMALS=0")
    for f in failures:
        print(f"FAILED: {f}")
    print("cpu-denormals:", "FAILED" if failures else "passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
