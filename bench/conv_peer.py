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

Usage: bench/conv_peer.py [--threads 1] [--reps 10] [--filter TEXT] [--cpu-time]
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


if __name__ == "__main__":
    main()
