#!/usr/bin/env python3
"""Whole-step numerics of the cuda target against the cpu target (which the
jax-oracle test checks against JAX), and a short training run on the GPU.

For each model and precision: the model is compiled for cpu and for cuda,
both instances are initialised with the same seed (the init rules run on the
host for both targets, so the weights must be *identical*), then on one fixed
random batch it compares, tensor by tensor, printing the largest difference:
eval logits (BN running statistics), the loss and correct count of a training
step, every parameter gradient, the parameters, momentum buffers and BN
running statistics after the update; then a second step with a ragged batch
(a second CUDA graph) and the same comparisons again; then a third on the
batch in reverse order, which the cuda model gathers from the batch kept on
the device (rnc_set_dataset, rnc_train_step_indexed: a third graph); then a
fourth, the same from random 8-bit pixels and a random table
(rnc_set_dataset_u8: the model normalizes while it gathers), which the cpu
model gets as the floats lut[c, pixel]; then a fifth from random pixels at
another size and a random resize table (rnc_set_dataset_u8_resized: the
model resizes while it gathers), which the cpu model gets resized here, by
numpy, as runtime/rnc_abi.h defines the arithmetic (--self-test thus checks
the cpu target's resizing against that definition); then a sixth on that
dataset with random augmentations (rnc_train_step_augmented: shifts past
the edges, flips, erased rectangles), which the cpu model gets augmented by
numpy. --repeat-check: at bf16 (the default precision) it then checks
run-to-run determinism: a fresh cuda instance, initialised with the same seed, takes
the first two steps twice (two instances one after the other), and the
losses and every state tensor must be the same bits both times (no float
atomics in the kernels: kernels/cuda/README.md, "Determinism").

Tolerance: the relative error ||cuda - cpu|| / ||cpu|| of each tensor (0 when
both are 0) must stay within TOLERANCE[precision]. fp32 differs from the cpu
only in summation order; tf32 keeps 10 mantissa bits and bf16 7 in the
convolution and linear operands (fp32 accumulation), so their gradients move
by about 2^-10 and 2^-7 relative, compounded over the depth of the net.

--train: trains the main job (fashion_resnet, 4 epochs, batch 128; see
tools/rnc-run/MainJob.h) on the GPU with rnc-run and requires the final test
accuracy to reach the cpu run's (92.5% recorded in README.md) within 1 point.

--so-dir DIR takes the models from DIR, built elsewhere (scripts/gpu-bundle.sh),
instead of compiling them: <name>-<target>-<precision>.so (the cpu ones are
<name>-cpu-fp32.so), and for --train fashion_resnet-cuda-bf16.so, which is
trained with the main job's hyperparameters given as flags. Then neither rnc
nor LLVM is needed: a GPU machine with python3 and numpy runs it.

--self-test compares each cpu .so with itself where the cuda one would be,
needing no GPU: it tests this script, not the cuda target.

Without a CUDA GPU it prints one line starting with SKIPPED and exits 77
(ctest reports the test as skipped, never as passed).
"""
import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "python"))

TOLERANCE = {"fp32": 1e-4, "tf32": 5e-3, "bf16": 3e-2}
# name: (input, max batch, ragged batch); the steps use at most max batch.
# tiny at 3 channels, so that every layout change (NCHW images, [H][W][C]
# pixels, NHWC on the device) is checked with more than one channel.
MODELS = {"tiny": ("3x12x12", 16, 5), "d2l_resnext18": ("1x32x32", 16, 7),
          "resnet50": ("3x224x224", 4, 3)}
DEFAULT_MODELS = "tiny,d2l_resnext18"
CPU_ACCURACY = 0.925  # README.md: the main job on the cpu, 4 epochs
ACCURACY_SLACK = 0.01
MAIN_JOB = "fashion_resnet"
# tools/rnc-run/MainJob.h, as flags (a given MODEL.so gets rnc-run's defaults)
MAIN_JOB_FLAGS = ["--epochs", "4", "--batch-size", "128", "--lr", "0.1", "--momentum", "0.9",
                  "--weight-decay", "5e-4", "--lr-schedule", "cosine", "--seed", "0"]
SGD = dict(lr=0.05, momentum=0.9, weight_decay=5e-4)


def so_name(name, target, precision):
    return f"{name}-{target}-{precision if target == 'cuda' else 'fp32'}.so"


def model_file(args, name, target, precision, input_, max_batch):
    """The .so: from --so-dir, or compiled into --out-dir."""
    if args.self_test:
        target = "cpu"
    if args.so_dir:
        so = os.path.join(args.so_dir, so_name(name, target, precision))
        if not os.path.exists(so):
            raise FileNotFoundError(f"{so}: not in --so-dir (scripts/gpu-bundle.sh builds it)")
        return so
    return compile_model(args.rnc, name, target, precision, args.out_dir, input_, max_batch)


def compile_model(rnc, name, target, precision, out_dir, input_, max_batch):
    so = os.path.join(out_dir, so_name(name, target, precision))
    cmd = [rnc, "compile", name, "-o", so, "--input", input_, "--max-batch", str(max_batch)]
    if target == "cuda":
        cmd += ["--target", "cuda", "--precision", precision]
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)
    return so


def rel_err(a, b):
    import numpy as np
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if not np.all(np.isfinite(a)):
        return float("inf")
    denom = np.linalg.norm(b)
    diff = np.linalg.norm(a - b)
    return 0.0 if diff == 0 else diff / (denom if denom > 0 else 1.0)


class Report:
    def __init__(self, label, tol):
        self.label, self.tol, self.failures, self.worst = label, tol, [], (0.0, "")

    def check(self, what, cuda, cpu):
        e = rel_err(cuda, cpu)
        if e > self.worst[0]:
            self.worst = (e, what)
        if not e <= self.tol:
            self.failures.append(f"{what}: relative error {e:.3g} > {self.tol:g}")

    def summary(self):
        state = "ok" if not self.failures else f"{len(self.failures)} FAILED"
        print(f"{self.label}: {state}; largest relative error {self.worst[0]:.3g} "
              f"({self.worst[1]}), tolerance {self.tol:g}")
        for f in self.failures[:20]:
            print("   ", f)
        return not self.failures


def random_resize(rng, stored, out):
    """A random valid rnc_resize table from `stored` (h, w) to `out` (H, W):
    per output row/column 1..taps taps anywhere inside the stored side, and
    weights that overshoot both ends of 0..255 now and then (the clamps)."""
    import numpy as np
    table = {}
    for axis, n_in, n_out in (("y", stored[0], out[0]), ("x", stored[1], out[1])):
        taps = min(3, n_in)
        count = rng.integers(1, taps + 1, n_out)
        first = rng.integers(0, n_in - count + 1)
        weights = rng.integers(-(1 << 20), (1 << 23) // taps, (n_out, taps))
        weights[np.arange(taps)[None, :] >= count[:, None]] = 0
        table.update({f"first_{axis}": first, f"count_{axis}": count,
                      f"weights_{axis}": weights})
    return {k: v.astype(np.int32) for k, v in table.items()}


def resize_numpy(pixels, t):
    """pixels [N, h, w, C] through table t, as runtime/rnc_abi.h defines it:
    the horizontal pass on every stored row, rounded and clamped to 8 bits,
    then the vertical pass on those."""
    import numpy as np

    def clip8(v):
        return np.where(v >= 256 << 22, 255, np.where(v <= 0, 0, v >> 22))

    def one_pass(a, first, weights, axis):
        # a [N, rows, cols, C]; the pass reads along `axis` (1 or 2).
        n = a.shape[axis]
        acc = np.full(a.shape[:axis] + (len(first),) + a.shape[axis + 1:], 1 << 21, np.int64)
        for k in range(weights.shape[1]):
            src = np.take(a, np.minimum(first + k, n - 1), axis=axis).astype(np.int64)
            w = weights[:, k].astype(np.int64)
            acc += src * (w[None, :, None, None] if axis == 1 else w[None, None, :, None])
        return clip8(acc)

    h = one_pass(pixels, t["first_x"], t["weights_x"], 2)
    return one_pass(h, t["first_y"], t["weights_y"], 1).astype(np.uint8)


def random_augment(rng, n, shape):
    """n random rnc_augment rows (shift_y, shift_x, flip, erase_top,
    erase_left, erase_height, erase_width) for an input of `shape` (H, W):
    shifts up to 3 past either edge, a flip and an erased rectangle on about
    half of the samples each."""
    import numpy as np
    h, w = shape
    a = np.zeros((n, 7), np.int32)
    a[:, 0] = rng.integers(-3, 4, n)
    a[:, 1] = rng.integers(-3, 4, n)
    a[:, 2] = rng.integers(0, 2, n)
    erase = rng.integers(0, 2, n).astype(bool)
    eh, ew = rng.integers(1, h + 1, n), rng.integers(1, w + 1, n)
    a[:, 3] = np.where(erase, rng.integers(0, h - eh + 1), 0)
    a[:, 4] = np.where(erase, rng.integers(0, w - ew + 1), 0)
    a[:, 5] = np.where(erase, eh, 0)
    a[:, 6] = np.where(erase, ew, 0)
    return a


def augment_numpy(pixels, lut, aug):
    """Normalized NCHW floats of pixels [N, H, W, C] augmented as runtime/
    rnc_abi.h defines rnc_augment: shifted (outside: pixel 0), flipped,
    normalized through lut [C, 256], then the rectangle erased to 0.0."""
    import numpy as np
    n, h, w, c = pixels.shape
    out = np.empty((n, c, h, w), np.float32)
    ys, xs = np.arange(h)[:, None], np.arange(w)[None, :]
    for i, (dy, dx, flip, et, el, eh, ew) in enumerate(aug):
        sy = ys + dy
        sx = (w - 1 - xs if flip else xs) + dx
        inside = (sy >= 0) & (sy < h) & (sx >= 0) & (sx < w)
        p = pixels[i, np.clip(sy, 0, h - 1), np.clip(sx, 0, w - 1)]  # [H, W, C]
        p = np.where(inside[:, :, None], p, 0)
        v = lut[np.arange(c), p].transpose(2, 0, 1)
        v[:, et:et + eh, el:el + ew] = 0.0
        out[i] = v
    return out


def compare_model(args, name, precision):
    import numpy as np
    from rnc_py.abi import Model, GRADIENT, PARAM, BUFFER, OPTIMIZER

    input_, max_batch, ragged = MODELS[name]
    rep = Report(f"{name} {precision}", TOLERANCE[precision])
    try:
        cpu_so = model_file(args, name, "cpu", "fp32", input_, max_batch)
        cuda_so = model_file(args, name, "cuda", precision, input_, max_batch)
    except (OSError, subprocess.CalledProcessError) as e:
        rep.failures.append(f"no model: {e}")
        return rep.summary()
    t0 = time.perf_counter()
    with Model(cpu_so) as cpu, Model(cuda_so) as gpu:
        for m in (cpu, gpu):
            m.init(0)
        a, b = cpu.read_all(PARAM), gpu.read_all(PARAM)
        for n in a:
            if not np.array_equal(a[n], b[n]):
                rep.failures.append(f"initial {n} differs (init must be identical)")
        rng = np.random.default_rng(0)
        shape = (max_batch,) + tuple(cpu.input_shape)
        x = rng.standard_normal(shape).astype(np.float32)
        y = rng.integers(0, cpu.num_classes, max_batch).astype(np.int32)
        rep.check("eval logits", gpu.eval(x), cpu.eval(x))
        # Step 3 takes the batch in reverse order; the cuda model gathers it
        # from the dataset on the device (rnc_set_dataset, then
        # rnc_train_step_indexed), the cpu model gets it copied out.
        # Step 4 the same from 8-bit pixels [N, H, W, C] and a table
        # (rnc_set_dataset_u8): the cpu model gets lut[c, pixel] in NCHW.
        if gpu.has_dataset:
            gpu.set_dataset(x, y)
        backwards = np.arange(max_batch - 1, -1, -1, dtype=np.int32)
        pixels = rng.integers(0, 256, (max_batch,) + shape[2:] + shape[1:2]).astype(np.uint8)
        lut = rng.standard_normal((shape[1], 256)).astype(np.float32)
        x8 = np.ascontiguousarray(
            lut[np.arange(shape[1]), pixels].transpose(0, 3, 1, 2))
        # Step 5: pixels stored at another size (about half, one side odd)
        # and a random resize table (rnc_set_dataset_u8_resized); the cpu
        # model gets them resized here.
        stored = rng.integers(0, 256, (max_batch, shape[2] // 2 + 1, shape[3] // 2 + 2,
                                       shape[1])).astype(np.uint8)
        table = random_resize(rng, stored.shape[1:3], shape[2:])
        resized = resize_numpy(stored, table)
        x5 = np.ascontiguousarray(lut[np.arange(shape[1]), resized].transpose(0, 3, 1, 2))
        # Step 6: that dataset augmented (rnc_train_step_augmented); the cpu
        # model gets the batch augmented here, sample by sample in index
        # order.
        aug = random_augment(rng, max_batch, shape[2:])
        x6 = augment_numpy(resized[backwards], lut, aug)
        steps = ((1, max_batch), (2, ragged), (3, max_batch))
        if gpu.has_dataset_u8:
            steps += ((4, max_batch),)
        if gpu.has_dataset_u8_resized:
            steps += ((5, max_batch),)
        if gpu.has_augmented_step and gpu.has_dataset_u8_resized:
            steps += ((6, max_batch),)
        for step, batch in steps:
            index = backwards if step >= 3 else np.arange(batch, dtype=np.int32)
            # x6 is already in index order.
            batch_x = x6 if step == 6 else {4: x8, 5: x5}.get(step, x)[index]
            lc, cc = cpu.train_step(batch_x, y[index], **SGD)
            if step == 6:
                lg, cg = gpu.train_step_augmented(index, aug, **SGD)
            elif step == 5:
                gpu.set_dataset_u8_resized(stored, table, lut, y)
                lg, cg = gpu.train_step_indexed(index, **SGD)
            elif step == 4:
                gpu.set_dataset_u8(pixels, lut, y)
                lg, cg = gpu.train_step_indexed(index, **SGD)
            elif step == 3 and gpu.has_dataset:
                lg, cg = gpu.train_step_indexed(index, **SGD)
            else:
                lg, cg = gpu.train_step(batch_x, y[index], **SGD)
            rep.check(f"step {step} loss", [lg], [lc])
            if abs(cg - cc) > max(1, batch // 8):
                rep.failures.append(f"step {step} correct: cuda {cg}, cpu {cc}")
            for kind, label in ((GRADIENT, "gradient"), (PARAM, "param"),
                                (OPTIMIZER, "momentum"), (BUFFER, "buffer")):
                a, b = cpu.read_all(kind), gpu.read_all(kind)
                for n in a:
                    if n.endswith("num_batches_tracked"):
                        continue
                    rep.check(f"step {step} {label} {n}", b[n], a[n])
        # (--self-test: the cpu .so, so the check itself runs without a GPU.)
        if args.repeat_check and (precision == "bf16" or args.self_test):
            check_repeatable(rep, cuda_so, x, y, ((1, max_batch), (2, ragged)))
    print(f"{name} {precision}: compared in {time.perf_counter() - t0:.1f} s", flush=True)
    return rep.summary()


def check_repeatable(rep, cuda_so, x, y, steps):
    """Two runs of `steps` (step, batch) from init(0), each on a fresh
    instance: the losses, correct counts and every state tensor must be
    bit-identical."""
    from rnc_py.abi import Model, GRADIENT, PARAM, BUFFER, OPTIMIZER

    runs = []
    for _ in range(2):
        with Model(cuda_so) as g:
            g.init(0)
            out = [g.train_step(x[:batch], y[:batch], **SGD) for _, batch in steps]
            state = {}
            for kind in (GRADIENT, PARAM, OPTIMIZER, BUFFER):
                state.update({n: v.tobytes() for n, v in g.read_all(kind).items()})
            runs.append((out, state))
    (out_a, state_a), (out_b, state_b) = runs
    for (step, _), a, b in zip(steps, out_a, out_b):
        if list(map(float, a)) != list(map(float, b)):
            rep.failures.append(f"run to run: step {step} loss/correct {a} then {b}")
    differ = [n for n in state_a if state_a[n] != state_b.get(n)]
    if differ:
        rep.failures.append(f"run to run: {len(differ)} tensors differ after "
                            f"{len(steps)} steps, e.g. {differ[0]}")
    else:
        print(f"    run to run: {len(steps)} steps twice, losses and "
              f"{len(state_a)} tensors bit-identical", flush=True)


def train_accuracy(args):
    """The main job on the GPU: its last test accuracy against the cpu run's."""
    metrics = os.path.join(args.out_dir, "main-job-cuda.jsonl")
    if os.path.exists(metrics):
        os.remove(metrics)
    cmd = [args.rnc_run, "train"]
    if args.so_dir:  # a prebuilt .so gets rnc-run's defaults: give the main job's
        cmd += [os.path.join(args.so_dir, so_name(MAIN_JOB, "cuda", "bf16"))] + MAIN_JOB_FLAGS
    cmd += ["--device", "cuda", "--metrics", metrics]
    if args.data:
        cmd += ["--data", args.data]
    print("+", " ".join(cmd), flush=True)
    t0 = time.perf_counter()
    rc = subprocess.run(cmd).returncode
    seconds = time.perf_counter() - t0
    epochs = [json.loads(line) for line in open(metrics) if line.strip()] if os.path.exists(metrics) else []
    done = [e for e in epochs if "test_acc" in e]
    if rc != 0 or not done:
        print(f"main job on the GPU: FAILED (rnc-run exited {rc} after {seconds:.0f} s, "
              f"{len(done)} epochs done)")
        return False
    acc = done[-1]["test_acc"]
    ok = acc >= CPU_ACCURACY - ACCURACY_SLACK
    rates = ", ".join(f"{e['images_per_sec']:.0f}" for e in done if "images_per_sec" in e)
    print(f"main job ({MAIN_JOB}) on the GPU: test accuracy {100 * acc:.2f}% after {len(done)} "
          f"epochs in {seconds:.1f} s (training images/s per epoch: {rates}); the cpu run reached "
          f"{100 * CPU_ACCURACY:.1f}%, required {100 * (CPU_ACCURACY - ACCURACY_SLACK):.1f}%: "
          f"{'ok' if ok else 'FAILED'}")
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rnc", help="rnc, to compile the models (not with --so-dir)")
    ap.add_argument("--rnc-run", help="rnc-run, for --train")
    ap.add_argument("--so-dir", help="take the .so files from here instead of compiling")
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--models", default=DEFAULT_MODELS,
                    help=f"comma list of {', '.join(MODELS)} (empty: none)")
    ap.add_argument("--precisions", default="fp32,tf32,bf16")
    ap.add_argument("--train", action="store_true", help="also train the main job on the GPU")
    ap.add_argument("--repeat-check", action="store_true",
                    help="at bf16 (any precision with --self-test), also take two steps "
                         "twice from the same seed and require the same bits")
    ap.add_argument("--data", help="Fashion-MNIST folder for --train (rnc-run --data)")
    ap.add_argument("--self-test", action="store_true",
                    help="compare each cpu .so with itself (no GPU needed; tests this script)")
    args = ap.parse_args()
    models = [m for m in args.models.split(",") if m]
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        ap.error(f"unknown model {', '.join(unknown)}; known: {', '.join(MODELS)}")
    if not args.so_dir and not args.rnc and models:
        ap.error("give --rnc (to compile the models) or --so-dir")
    if args.train and not args.rnc_run:
        ap.error("--train needs --rnc-run")
    from rnc_py.gpu import gpu_reason
    why = None if args.self_test else gpu_reason()
    if why:
        print(f"SKIPPED: no CUDA GPU ({why}); the cuda target's numerics were NOT checked")
        return 77
    os.makedirs(args.out_dir, exist_ok=True)
    ok = True
    for name in models:
        for p in args.precisions.split(","):
            ok &= compare_model(args, name, p)
    if args.train:
        ok &= train_accuracy(args)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
