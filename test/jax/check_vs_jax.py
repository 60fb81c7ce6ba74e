#!/usr/bin/env python3
"""jax-oracle: checks models compiled by `rnc compile` against a JAX reference
(python/rnc_py/jax_model.py) built from the same graph.

For each model: compile with --max-batch 8 (or --max-batch N), rnc_init, write random BN running
statistics, read every parameter, then compare rnc and JAX on
  eval0     logits of a full batch (max batch) with the running statistics;
  step1     a train step on a full batch: loss, correct count, every gradient
            (GRADIENT tensors), every parameter, momentum buffer and BN buffer
            after the step (SGD lr 0.1, momentum 0.9, weight decay 5e-4);
  step2     a second step on a ragged batch (5 < max_batch), JAX starting from
            the state rnc holds after step1, which exercises the momentum term;
  eval2     logits of a ragged batch (3) after the two steps.
Metric, per tensor b (JAX) and a (rnc) of one quantity (e.g. all the
gradients of step1):  rel_err = max|a - b| / max(max|b|, 0.1 * G, 1e-6),
where G is the largest |b| over all tensors of that quantity; a quantity fails
when any tensor has rel_err >= 1e-4 (both sides float32; with --x64 the JAX
side runs in float64). For a single tensor (logits, loss) this is
max|a-b| / max(max|b|, 1e-6). The 0.1 * G floor is there because float32
round-off in a gradient is set by the scale of the gradients flowing into it,
not by its own size: the bias gradient of a conv followed by batch_norm is 0 in
exact arithmetic (noise ~1e-8 either side), and a BN scale gradient that is a
sum with heavy cancellation can be 1e-3 of its terms; a correct float32 result
then differs from float64 by ~1e-6 * G, which the floor turns into ~1e-5, while
a wrong formula still gives rel_err ~1 on any tensor bigger than ~1e-4 * G.
With --tol T the bound is T instead (the bf16 check, jax-oracle-bf16, states
its own: see test/jax/CMakeLists.txt).
One line per (model, quantity) with the largest error and its tensor, then a
summary; the exit status is 1 on any failure.
Usage: check_vs_jax.py [--rnc build/bin/rnc] [--out-dir DIR] [--tol T]
                       [--compile-arg=--no-fusion ...] [MODEL.json ...]
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "python"))

import numpy as np  # noqa: E402

TOL = 1e-4
MAX_BATCH, RAGGED_STEP, RAGGED_EVAL = 8, 5, 3
SGD = dict(lr=0.1, momentum=0.9, weight_decay=5e-4)
DEFAULT_MODELS = [os.path.join(ROOT, "test/jax/models", f) for f in (
    "d2l_residual.json", "d2l_residual_1x1.json", "resnext_block.json",
    "preact_block.json", "pools.json", "pool_stem_2x2.json",
    "winograd_block.json", "resnext_rows_block.json",
    "rows_s2_block.json")] + [
    os.path.join(ROOT, "models/tiny.json")]


def rel_err(a, b, scale):
    """max|a-b| / max(max|b|, 0.1*scale, 1e-6); see the header."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape or not np.isfinite(a).all():
        return float("inf")
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), 0.1 * scale, 1e-6))


class Report:
    def __init__(self, verbose, tol=TOL):
        self.verbose, self.tol, self.lines, self.failed = verbose, tol, 0, []

    def compare(self, model, quantity, pairs):
        """pairs: {tensor name: (rnc value, jax value)}."""
        scale = max(float(np.max(np.abs(np.asarray(b)))) for _, b in pairs.values())
        errs = {k: rel_err(a, b, scale) for k, (a, b) in pairs.items()}
        worst = max(errs, key=errs.get)
        ok = errs[worst] < self.tol
        self.line(model, quantity, ok, f"rel_err {errs[worst]:.2e}  ({len(errs)} tensors, worst {worst}; G {scale:.2e})")
        for k, e in errs.items():
            if self.verbose or e >= self.tol:
                a, b = (np.asarray(v) for v in pairs[k])
                print(f"    {k:<40} rel_err {e:.2e}  max|jax| {np.max(np.abs(b)):.3e}"
                      f"  max|diff| {np.max(np.abs(a - b)) if a.shape == b.shape else 'shape'}")

    def line(self, model, quantity, ok, text):
        self.lines += 1
        print(f"{model:<18} {quantity:<18} {text}  {'ok' if ok else 'FAIL'}", flush=True)
        if not ok:
            self.failed.append(f"{model} {quantity}")


def check_model(spec, args, rep):
    from rnc_py import abi
    from rnc_py.jax_model import JaxModel, load_graph

    graph = load_graph(spec, rnc=args.rnc)
    name = graph.get("name", os.path.basename(spec))
    jm = JaxModel(graph, dtype=np.float64 if args.x64 else np.float32,
                  conv_operands=args.conv_operands)
    so = os.path.join(args.out_dir, name + ".so")
    t0 = time.time()
    r = subprocess.run([args.rnc, "compile", spec, "-o", so, "--max-batch", str(args.max_batch)]
                       + args.compile_arg,
                       capture_output=True, text=True)
    if r.returncode != 0:
        rep.line(name, "compile", False, f"rnc compile exit {r.returncode}: {r.stderr.strip()[-400:]}")
        return
    print(f"{name}: compiled in {time.time() - t0:.1f} s", flush=True)

    with abi.Model(so) as m:
        # The tensor table must list exactly the JAX model's tensors.
        want = {k: (abi.PARAM, s) for k, s in jm.param_shapes.items()}
        want.update({k: (abi.BUFFER, s) for k, s in jm.buffer_shapes.items()})
        want.update({k + ".momentum_buffer": (abi.OPTIMIZER, s) for k, s in jm.param_shapes.items()})
        want.update({k + ".grad": (abi.GRADIENT, s) for k, s in jm.param_shapes.items()})
        diff = sorted(set(want.items()) ^ set(m.tensors.items()))
        info_ok = (m.input_shape == jm.input_shape and m.num_classes == jm.num_classes
                   and m.max_batch == args.max_batch)
        rep.line(name, "tensor table", not diff and info_ok,
                 f"{len(m.tensors)} tensors, input {m.input_shape}, {m.num_classes} classes, "
                 f"max_batch {m.max_batch}" + (f"; differs: {diff[:6]}" if diff else ""))
        if diff:
            return

        rng = np.random.default_rng(args.seed)
        m.init(args.seed)
        for k, s in jm.buffer_shapes.items():
            v = rng.uniform(0.5, 2.0, s) if k.endswith("running_var") else rng.normal(0, 0.5, s)
            m.write(k, v.astype(np.float32))
        params, buffers = m.read_all(abi.PARAM), m.read_all(abi.BUFFER)
        moms = {k: m.read(k + ".momentum_buffer") for k in params}
        rep.line(name, "init", all(not v.any() for v in moms.values()),
                 "momentum buffers zero after rnc_init")

        def batch(n):
            x = rng.standard_normal((n,) + jm.input_shape).astype(np.float32)
            return x, rng.integers(0, jm.num_classes, n).astype(np.int32)

        jeval, jstep = jm.jit_eval(), jm.jit_train_step()

        def compare_eval(tag, n):
            x, _ = batch(n)
            rep.compare(name, f"{tag}.logits", {"logits": (m.eval(x), jeval(params, buffers, x))})

        def compare_step(tag, n):
            x, y = batch(n)
            loss, correct = m.train_step(x, y, **SGD)
            j = jstep(params, buffers, moms, x, y, SGD["lr"], SGD["momentum"], SGD["weight_decay"])
            rep.compare(name, f"{tag}.loss", {"loss": (loss, j["loss"])})
            rep.line(name, f"{tag}.correct", correct == int(j["correct"]),
                     f"rnc {correct}, jax {int(j['correct'])} of {n}")
            rep.compare(name, f"{tag}.grad", {k + ".grad": (m.read(k + ".grad"), g)
                                               for k, g in j["grads"].items()})
            rep.compare(name, f"{tag}.param", {k: (m.read(k), v) for k, v in j["params"].items()})
            rep.compare(name, f"{tag}.momentum", {k + ".momentum_buffer": (m.read(k + ".momentum_buffer"), v)
                                                   for k, v in j["moms"].items()})
            rep.compare(name, f"{tag}.bn_buffers", {k: (m.read(k), v) for k, v in j["buffers"].items()})
            # The next check starts from the state rnc holds now.
            params.update(m.read_all(abi.PARAM))
            buffers.update(m.read_all(abi.BUFFER))
            moms.update({k: m.read(k + ".momentum_buffer") for k in params})

        compare_eval("eval0", args.max_batch)
        compare_step("step1", args.max_batch)
        compare_step("step2", RAGGED_STEP)
        compare_eval("eval2", RAGGED_EVAL)


def cpu_has_bf16():
    try:
        with open("/proc/cpuinfo") as f:
            return any(line.startswith("flags") and "avx512_bf16" in line.split() for line in f)
    except OSError:
        return False


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("models", nargs="*", default=DEFAULT_MODELS)
    ap.add_argument("--rnc", default=os.path.join(ROOT, "build/bin/rnc"))
    ap.add_argument("--out-dir", help="where the compiled .so files go (default: a temp folder)")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--max-batch", type=int, default=MAX_BATCH,
                    help="the compiled max batch: eval0 and step1 run it (the CPU's tiled conv "
                         "kernels take batches of at least two tiles of images, 12 to 32)")
    ap.add_argument("--compile-arg", action="append", default=[],
                    help="extra `rnc compile` flag, e.g. --compile-arg=--no-fusion (repeatable)")
    ap.add_argument("--x64", action="store_true", help="run the JAX reference in float64")
    ap.add_argument("--conv-operands", choices=("exact", "bf16"), default="exact",
                    help="bf16: the JAX convolutions multiply bf16-rounded operands, as "
                         "--precision bf16 on the cpu target does (python/rnc_py/jax_model.py)")
    ap.add_argument("--tol", type=float, default=TOL,
                    help=f"the bound on every rel_err (default {TOL:g}, float32 against float32)")
    ap.add_argument("--needs-cpu-bf16", action="store_true",
                    help="report SKIPPED and exit 77 on a CPU without AVX512-BF16 (for "
                         "--compile-arg=--precision --compile-arg=bf16)")
    ap.add_argument("-v", "--verbose", action="store_true", help="one line per tensor")
    args = ap.parse_args()
    if args.needs_cpu_bf16 and not cpu_has_bf16():
        print("SKIPPED: this CPU lacks AVX512-BF16 (/proc/cpuinfo has no avx512_bf16), "
              "which --precision bf16 on the cpu target needs")
        return 77
    import jax
    if args.x64:
        jax.config.update("jax_enable_x64", True)
    args.out_dir = args.out_dir or tempfile.mkdtemp(prefix="rnc-jax-")
    os.makedirs(args.out_dir, exist_ok=True)
    print(f"jax {jax.__version__} on {jax.devices()[0].platform}, {'float64' if args.x64 else 'float32'}"
          f"{', bf16 conv operands' if args.conv_operands == 'bf16' else ''}; "
          f"metric max|rnc-jax| / max(max|jax|, 0.1*G, 1e-6) < {args.tol:g}; .so files in {args.out_dir}",
          flush=True)

    rep = Report(args.verbose, args.tol)
    for spec in args.models:
        try:
            check_model(spec, args, rep)
        except Exception as e:  # one broken model must not hide the others
            rep.line(os.path.basename(spec), "error", False, f"{type(e).__name__}: {e}")
    print(f"jax-oracle: {len(args.models)} models, {rep.lines} checks, {len(rep.failed)} failed"
          + (": " + ", ".join(rep.failed) if rep.failed else ""))
    return 1 if rep.failed else 0


if __name__ == "__main__":
    sys.exit(main())
