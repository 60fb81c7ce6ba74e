#!/usr/bin/env python3
"""The conv kernels per shape, rnc's beside PyTorch's (oneDNN), against the
same FMA peak, in one run.

`build/bin/kernel-conv-bench --tsv` times rnc's forward, data gradient and
weight gradient of every ResNet shape it knows and measures the FMA peak
(a register-only loop); this script then times PyTorch on the same shapes,
batches and FLOP counts (2 x the multiply-adds whose input lies inside the
image): `F.conv2d` for the forward, `aten.convolution_backward` with one
output each for the two gradients, NCHW and channels_last, the faster layout
per cell. rnc runs twice, before and after PyTorch, and keeps its faster
time per cell, so that a drift of the machine during the run does not favour
either side (PyTorch is best of --reps too). Both sides run with --threads
threads. Needs PyTorch (scripts/setup-bench-venv.sh).

With --gemm it also times the vendor BLAS (`torch.mm`, MKL in PyTorch's CPU
wheels) on each direction's im2col GEMM alone (forward Co x CiKK x NPQ, data
gradient CiKK x Co x NPQ, weight gradient Co x NPQ x CiKK; per group with
`torch.bmm`), operands already in place, no im2col or col2im counted: the rate
a GEMM-based convolution could reach at best on this machine, beside the FMA
loop's.

Usage: bench/conv_peer.py [--threads 1] [--reps 10] [--filter TEXT] [--cpu-time] [--gemm]
"""
import argparse
import os
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
DIRECTIONS = ("forward", "data grad", "weight grad")


def run_rnc(args):
    """kernel-conv-bench's rows: (peak, {name: row}) with row = dict of the
    shape's fields and the three times in seconds."""
    cmd = [args.bench, "--tsv", "--reps", str(args.reps)]
    if args.filter:
        cmd += ["--filter", args.filter]
    if args.cpu_time:
        cmd.append("--cpu-time")
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    try:
        out = subprocess.run(cmd, env=env, check=True, capture_output=True,
                             text=True).stdout
    except FileNotFoundError:
        sys.exit(f"conv_peer.py: {args.bench}: not found (build first: scripts/build.sh)")
    except subprocess.CalledProcessError as e:
        sys.exit(f"conv_peer.py: {args.bench} failed: {e.stderr.strip()}")
    peak, rows = None, {}
    for line in out.splitlines():
        f = line.split("\t")
        if f[0] == "peak":
            peak = float(f[1])
            continue
        keys = ("n", "ci", "co", "h", "w", "kh", "kw", "sh", "sw", "ph", "pw", "g")
        row = dict(zip(keys, map(int, f[1:13])))
        row["flops"] = float(f[13])
        row["times"] = [float(t) for t in f[14:17]]
        rows[f[0]] = row
    if peak is None or not rows:
        sys.exit(f"conv_peer.py: {' '.join(cmd)} printed no shapes"
                 + (f" matching '{args.filter}'" if args.filter else ""))
    return peak, rows


def best_of(f, reps, clock, threads):
    f()
    best = float("inf")
    for _ in range(reps):
        t0 = clock()
        f()
        best = min(best, clock() - t0)
    return best / threads if clock is time.process_time else best


def time_torch(row, args, torch):
    """PyTorch's best time per direction over the two layouts, and the
    layout that gave it."""
    F = torch.nn.functional
    g = torch.Generator().manual_seed(0)
    x = torch.rand(row["n"], row["ci"], row["h"], row["w"], generator=g)
    w = torch.rand(row["co"], row["ci"] // row["g"], row["kh"], row["kw"], generator=g) * 0.01
    stride, pad = (row["sh"], row["sw"]), (row["ph"], row["pw"])
    dy = torch.rand(F.conv2d(x, w, None, stride, pad, 1, row["g"]).shape, generator=g)
    clock = time.process_time if args.cpu_time else time.perf_counter
    best = [(float("inf"), "")] * 3
    for layout, fmt in (("NCHW", torch.contiguous_format), ("cl", torch.channels_last)):
        xl, wl, dyl = (t.contiguous(memory_format=fmt) for t in (x, w, dy))

        def grad(mask):
            return lambda: torch.ops.aten.convolution_backward(
                dyl, xl, wl, None, stride, pad, (1, 1), False, (0, 0), row["g"], mask)

        fns = (lambda: F.conv2d(xl, wl, None, stride, pad, 1, row["g"]),
               grad([True, False, False]), grad([False, True, False]))
        with torch.no_grad():
            for d, fn in enumerate(fns):
                t = best_of(fn, args.reps, clock, args.threads)
                if t < best[d][0]:
                    best[d] = (t, layout)
    return best


def gemm_dims(row):
    """(groups, M, N, K) of each direction's im2col GEMM."""
    g = row["g"]
    ho = (row["h"] + 2 * row["ph"] - row["kh"]) // row["sh"] + 1
    wo = (row["w"] + 2 * row["pw"] - row["kw"]) // row["sw"] + 1
    npq, co, cikk = row["n"] * ho * wo, row["co"] // g, row["ci"] // g * row["kh"] * row["kw"]
    return [(g, co, npq, cikk), (g, cikk, npq, co), (g, co, cikk, npq)]


def time_gemm(row, args, torch):
    """The vendor GEMM's (time, rate) per direction: seconds, and GFLOP/s
    counting 2*M*N*K (the border taps included, which rnc's FLOP count leaves
    out: compare times, not rates, with rnc)."""
    clock = time.process_time if args.cpu_time else time.perf_counter
    gen = torch.Generator().manual_seed(0)
    rates = []
    for g, m, n, k in gemm_dims(row):
        a = torch.rand(g, m, k, generator=gen)
        b = torch.rand(g, k, n, generator=gen)
        out = torch.empty(g, m, n)
        fn = (lambda: torch.mm(a[0], b[0], out=out[0])) if g == 1 else \
            (lambda: torch.bmm(a, b, out=out))
        t = best_of(fn, args.reps, clock, args.threads)
        rates.append((t, 2.0 * g * m * n * k / t * 1e-9))
    return rates


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1, help="threads for both sides (default 1)")
    ap.add_argument("--reps", type=int, default=10, help="timed runs per cell, best kept (default 10)")
    ap.add_argument("--filter", default="", help="only the shapes whose name contains TEXT")
    ap.add_argument("--cpu-time", action="store_true",
                    help="process CPU time per thread instead of wall time")
    ap.add_argument("--bench", default=os.path.join(ROOT, "build", "bin", "kernel-conv-bench"),
                    help="the kernel-conv-bench binary")
    ap.add_argument("--gemm", action="store_true",
                    help="also time the vendor GEMM (torch.mm) on each direction's im2col GEMM")
    ap.add_argument("--target", type=float, default=75.0,
                    help="the %% of the peak the summary counts cells against (default 75)")
    args = ap.parse_args()
    if args.threads < 1 or args.reps < 1:
        sys.exit("conv_peer.py: --threads and --reps must be at least 1")
    try:
        import torch
    except ImportError:
        sys.exit("conv_peer.py: needs PyTorch: scripts/setup-bench-venv.sh DIR, then DIR/bin/python")
    torch.set_num_threads(args.threads)

    peak1, rows = run_rnc(args)
    print(f"rnc, first run: {len(rows)} shapes, FMA peak {peak1:.1f} GFLOP/s", file=sys.stderr)
    theirs = {}
    for i, (name, row) in enumerate(rows.items(), 1):
        print(f"torch {i}/{len(rows)}: {name}", file=sys.stderr, flush=True)
        theirs[name] = time_torch(row, args, torch)
        if args.gemm:
            row["gemm"] = time_gemm(row, args, torch)
    peak2, rows2 = run_rnc(args)
    peak = max(peak1, peak2)
    for name, row in rows.items():
        row["times"] = [min(a, b) for a, b in zip(row["times"], rows2[name]["times"])]

    print(f"threads {args.threads}, FMA peak {peak:.1f} GFLOP/s (register-only loop, best of "
          f"{peak1:.1f} and {peak2:.1f}), {'CPU' if args.cpu_time else 'wall'} time, "
          f"torch {torch.__version__}; a cell: rnc ms (%peak) / torch ms (%peak, layout), "
          f"rnc's speed-up\n")
    print("| shape | N | " + " | ".join(DIRECTIONS) + " |")
    print("|---|---|---|---|---|")
    pct = lambda flops, t: 100 * flops / t * 1e-9 / peak
    counts = {"rnc": 0, "torch": 0}
    ratios = [[] for _ in DIRECTIONS]
    for name, row in rows.items():
        cells = []
        for d in range(3):
            tr, (tt, layout) = row["times"][d], theirs[name][d]
            pr, pt = pct(row["flops"], tr), pct(row["flops"], tt)
            counts["rnc"] += pr >= args.target
            counts["torch"] += pt >= args.target
            ratios[d].append(tt / tr)
            cells.append(f"{tr * 1e3:.2f} ({pr:.0f}%) / {tt * 1e3:.2f} ({pt:.0f}%, {layout}) "
                         f"{tt / tr:.2f}x")
        print(f"| {name} | {row['n']} | " + " | ".join(cells) + " |")

    def geomean(v):
        import math
        return math.exp(sum(map(math.log, v)) / len(v))

    cells = 3 * len(rows)
    print(f"\ncells at >= {args.target:.0f}% of the peak: rnc {counts['rnc']} of {cells}, "
          f"torch {counts['torch']} of {cells}")
    print("rnc's speed-up over torch, geometric mean: " + ", ".join(
        f"{d} {geomean(r):.2f}x" for d, r in zip(DIRECTIONS, ratios))
        + f", all {geomean(sum(ratios, [])):.2f}x")
    if args.gemm:
        print_gemm(rows, peak, args)


def print_gemm(rows, peak, args):
    """The vendor GEMM's table: its rate per direction as % of the FMA loop,
    and rnc's speed-up over it (the GEMM's time over rnc's)."""
    print("\nThe vendor GEMM (torch.mm / torch.bmm) on each direction's im2col GEMM, "
          "operands in place; a cell: the GEMM's ms (%peak, its own 2*M*N*K), "
          "rnc's speed-up over it\n")
    print("| shape | N | " + " | ".join(DIRECTIONS) + " |")
    print("|---|---|---|---|---|")
    at_target = beaten = 0
    for name, row in rows.items():
        cells = []
        for d in range(3):
            tg, rate = row["gemm"][d]
            gp = 100 * rate / peak
            at_target += gp >= args.target
            beaten += row["times"][d] <= tg
            cells.append(f"{tg * 1e3:.2f} ({gp:.0f}%) {tg / row['times'][d]:.2f}x")
        print(f"| {name} | {row['n']} | " + " | ".join(cells) + " |")
    cells = 3 * len(rows)
    print(f"\nGEMM cells at >= {args.target:.0f}% of the peak: {at_target} of {cells}; "
          f"cells where rnc's whole convolution takes no longer than the GEMM alone: "
          f"{beaten} of {cells}")


if __name__ == "__main__":
    main()
