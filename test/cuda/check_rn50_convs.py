#!/usr/bin/env python3
"""rnc's CUDA convolutions on every distinct ResNet-50 convolution at full
size (224x224, batch 256) against cuDNN through PyTorch, and their times
beside cuDNN's.

The launchers come from a library built from test/cuda/rn50_convs.cu (one per
precision); this script calls it through ctypes on tensors PyTorch allocated
(NHWC: channels_last), so the oracle is cuDNN, nobody's code here. Per shape
it checks, at the batch given (default 256, where the forward grids reach
25,000 blocks and the weight gradient splits its 800,000-deep reduction):

- forward with statistics: y against F.conv2d in fp32 (TF32 off), and the
  fused per-channel sum and sum of squares against float64 sums of rnc's own y;
- data gradient through a ReLU mask, with the BN backward sums: dx against
  torch.nn.grad.conv2d_input (masked), sum g and sum g (x - mean) against
  float64 sums of rnc's own dx;
- weight gradient: dw against torch.nn.grad.conv2d_weight.

Tolerances (normwise relative error ||rnc - ref|| / ||ref||): the GEMM
results 1e-5 (fp32), 5e-3 (tf32), 1.5e-2 (bf16), as in kernels_test.cu: the
operands are rounded to the precision, the sums are fp32; the fused sums
against float64 sums of the stored tensor: 1e-4 (fp32 atomics over up to
800,000 values per channel, with cancellation in sum g (x - mean)). NaN fails.

Then it times each launcher (median of --reps after 2 warm-ups, CUDA events)
beside cuDNN's bf16 channels_last convolutions of the same shape
(cudnn.benchmark on: its best algorithm), and prints the weighted total of one
ResNet-50 training step's convolutions for both.

Exit status: 0 all shapes pass, 1 a failure, 77 (one SKIPPED line) without a
CUDA GPU or torch. Usage:
  check_rn50_convs.py --lib rn50_convs-bf16.so [--batch 256] [--shapes 0,3]
"""
import argparse
import ctypes as C
import statistics
import sys
import time

TOL = {0: 1e-5, 1: 5e-3, 2: 1.5e-2}
SUM_TOL = 1e-4
PREC_NAMES = {0: "fp32", 1: "tf32", 2: "bf16"}


def skip(why):
    print(f"SKIPPED: {why}; the ResNet-50 convolutions were NOT checked")
    return 77


def rel(got, want):
    import torch
    got, want = got.double(), want.double()
    if not torch.isfinite(got).all():
        return float("inf")
    den = want.norm().item()
    diff = (got - want).norm().item()
    return 0.0 if diff == 0 else diff / (den if den > 0 else 1.0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lib", required=True, help="rn50_convs-<precision>.so")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--shapes", help="comma list of shape indices (default: all)")
    ap.add_argument("--reps", type=int, default=5, help="timed runs per launcher")
    ap.add_argument("--no-time", action="store_true", help="check only")
    args = ap.parse_args()
    try:
        import torch
        import torch.nn.functional as F
    except Exception as e:  # noqa: BLE001
        return skip(f"torch not importable ({type(e).__name__})")
    if not torch.cuda.is_available():
        return skip("no CUDA GPU (torch.cuda.is_available() is False)")
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    lib = C.CDLL(args.lib)
    fp = C.c_void_p
    lib.rn50_run.argtypes = [C.c_int, C.c_int, C.c_int] + [fp] * 8
    lib.rn50_run.restype = C.c_int
    prec = lib.rn50_precision()
    tol = TOL[prec]
    n_shapes = lib.rn50_num_shapes()
    which = [int(s) for s in args.shapes.split(",")] if args.shapes else range(n_shapes)
    dev = torch.device("cuda")
    N = args.batch
    print(f"{torch.cuda.get_device_name(0)}; rnc {PREC_NAMES[prec]} ({args.lib}); batch {N}; "
          f"torch {torch.__version__}, cuDNN {torch.backends.cudnn.version()}; tolerance {tol:g} "
          f"(sums {SUM_TOL:g})", flush=True)

    def ptr(t):
        return fp(t.data_ptr()) if t is not None else fp(0)

    def launch(shape, pass_, out, out2, out3, a, b, c=None, d=None, e=None):
        rc = lib.rn50_run(shape, pass_, N, ptr(out), ptr(out2), ptr(out3), ptr(a), ptr(b), ptr(c),
                          ptr(d), ptr(e))
        if rc != 0:
            raise RuntimeError(f"rn50_run(shape {shape}, pass {pass_}) refused: CUDA error {rc}")

    def median_ms(fn):
        for _ in range(2):
            fn()
        times = []
        for _ in range(args.reps):
            t0, t1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            t0.record()
            fn()
            t1.record()
            t1.synchronize()
            times.append(t0.elapsed_time(t1))
        return statistics.median(times)

    failures, rows = [], []
    step = {"rnc": 0.0, "cudnn": 0.0, "flop": 0.0}
    fields = (C.c_int * 10)()
    gen = torch.Generator(device=dev).manual_seed(0)
    t_start = time.perf_counter()
    for i in which:
        lib.rn50_shape(i, fields)
        ci, co, h, w_, kh, kw, s, p, g, uses = list(fields)
        oh, ow = (h + 2 * p - kh) // s + 1, (w_ + 2 * p - kw) // s + 1
        name = f"{i:2d} {ci}->{co} {h}x{w_} k{kh}x{kw} s{s}"
        cl = dict(memory_format=torch.channels_last)

        def randn(*shape, scale=1.0):
            return torch.randn(*shape, device=dev, generator=gen) * scale

        x = randn(N, ci, h, w_).contiguous(**cl)
        wt = randn(co, ci // g, kh, kw, scale=(ci // g * kh * kw) ** -0.5).contiguous()
        dy = randn(N, co, oh, ow).contiguous(**cl)
        mask = randn(N, ci, h, w_).contiguous(**cl)
        mean = randn(ci, scale=0.1)
        errs = {}
        try:
            # Forward with statistics.
            y = torch.full((N, co, oh, ow), float("nan"), device=dev).contiguous(**cl)
            ssum, ssq = torch.full((co,), float("nan"), device=dev), torch.full((co,), float("nan"), device=dev)
            launch(i, 0, y, ssum, ssq, x, wt)
            torch.cuda.synchronize()
            y_ref = F.conv2d(x, wt, stride=s, padding=p, groups=g)
            errs["fwd"] = rel(y, y_ref)
            y64 = y.double()
            errs["fwd sum"] = rel(ssum, y64.sum((0, 2, 3)))
            errs["fwd sumsq"] = rel(ssq, (y64 * y64).sum((0, 2, 3)))
            del y_ref, y64
            # Data gradient (not for the stem: its input needs none).
            if i != 0:
                dx = torch.full((N, ci, h, w_), float("nan"), device=dev).contiguous(**cl)
                gs, gds = torch.full((ci,), float("nan"), device=dev), torch.full((ci,), float("nan"), device=dev)
                launch(i, 1, dx, gs, gds, dy, wt, x, mean, mask)
                torch.cuda.synchronize()
                dx_ref = torch.nn.grad.conv2d_input(x.shape, wt, dy, stride=s, padding=p, groups=g)
                dx_ref = torch.where(mask > 0, dx_ref, torch.zeros_like(dx_ref))
                errs["dgrad"] = rel(dx, dx_ref)
                dx64 = dx.double()
                errs["dgrad sum g"] = rel(gs, dx64.sum((0, 2, 3)))
                errs["dgrad sum g(x-m)"] = rel(
                    gds, (dx64 * (x.double() - mean.double().view(1, -1, 1, 1))).sum((0, 2, 3)))
                del dx_ref, dx64
            # Weight gradient.
            dw = torch.full_like(wt, float("nan"))
            launch(i, 2, dw, None, None, dy, x)
            torch.cuda.synchronize()
            dw_ref = torch.nn.grad.conv2d_weight(x, wt.shape, dy, stride=s, padding=p, groups=g)
            errs["wgrad"] = rel(dw, dw_ref)
        except RuntimeError as e:
            failures.append(f"{name}: {e}")
            print(f"FAIL {name}: {e}", flush=True)
            if "illegal" in str(e) or "CUDA error" in str(e):
                break  # the context is gone
            continue
        bad = [k for k, v in errs.items() if not v <= (SUM_TOL if "sum" in k else tol)]
        for k in bad:
            failures.append(f"{name} {k}: relative error {errs[k]:.3g}")
        line = ", ".join(f"{k} {v:.1e}" for k, v in errs.items())
        print(f"{'FAIL' if bad else 'ok  '} {name} x{uses}: {line}", flush=True)

        if args.no_time:
            continue
        macs = N * oh * ow * co * (ci // g) * kh * kw
        t = {}
        t["fwd"] = median_ms(lambda: launch(i, 0, y, ssum, ssq, x, wt))
        if i != 0:
            t["dgrad"] = median_ms(lambda: launch(i, 1, dx, gs, gds, dy, wt, x, mean, mask))
        t["wgrad"] = median_ms(lambda: launch(i, 2, dw, None, None, dy, x))
        xb, wb, dyb = x.bfloat16(), wt.bfloat16(), dy.bfloat16()
        r = {}
        r["fwd"] = median_ms(lambda: F.conv2d(xb, wb, stride=s, padding=p, groups=g))
        if i != 0:
            r["dgrad"] = median_ms(
                lambda: torch.nn.grad.conv2d_input(xb.shape, wb, dyb, stride=s, padding=p, groups=g))
        r["wgrad"] = median_ms(
            lambda: torch.nn.grad.conv2d_weight(xb, wb.shape, dyb, stride=s, padding=p, groups=g))
        tf = {k: 2 * macs / (v * 1e9) for k, v in t.items()}
        rows.append((name, uses, t, r, tf))
        step["rnc"] += uses * sum(t.values())
        step["cudnn"] += uses * sum(r.values())
        step["flop"] += uses * 2 * macs * len(t)
        print("     " + " | ".join(f"{k} rnc {t[k]:.3f} ms ({tf[k]:.0f} TFLOP/s), cuDNN bf16 {r[k]:.3f} ms"
                                   for k in t), flush=True)
        del x, dy, mask, y, dw, xb, dyb
        torch.cuda.empty_cache()

    if rows:
        print(f"\nconvolutions of one ResNet-50 training step (53 layers, batch {N}): rnc "
              f"{PREC_NAMES[prec]} {step['rnc']:.1f} ms ({step['flop'] / (step['rnc'] * 1e9):.0f} TFLOP/s, "
              f"{N / (step['rnc'] * 1e-3):.0f} img/s if the convolutions were all), cuDNN bf16 "
              f"{step['cudnn']:.1f} ms; rnc/cuDNN time {step['rnc'] / step['cudnn']:.2f}")
    print(f"{len(which)} shapes in {time.perf_counter() - t_start:.0f} s: "
          f"{len(failures)} failure(s)" + "".join(f"\n  {f}" for f in failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
