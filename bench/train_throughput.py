#!/usr/bin/env python3
"""Steady-state CPU training throughput (images/s) of a model compiled by
`rnc compile`, beside JAX/XLA and PyTorch on the CPU training the same graph
(`rnc expand` output) with the same SGD-with-momentum step on the same fixed
random batch. PyTorch sides: eager NCHW (`torch`), eager channels_last
(`torch-cl`), `torch.compile` (`torch-compile`, the CPU inductor, channels_last)
and eager channels_last under CPU autocast bf16 (`torch-bf16`); they need
PyTorch (scripts/setup-bench-venv.sh). `rnc-bf16` is the model compiled with
`--precision bf16` (bf16 conv operands, fp32 sums; needs AVX512-BF16).

Each side runs in its own child process (so neither's thread pool disturbs the
other): `--warmup` steps untimed (XLA compiles here), then `--windows` timed
windows of `--steps` steps each; the figure is the median window's images/s.
Usage: bench/train_throughput.py [--configs a,b] [--warmup 2] [--windows 3] [--steps 2] [--rounds 1]
"""
import argparse
import json
import os
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "python"))

# name: (model, input CxHxW, batch)
CONFIGS = {
    "d2l_resnet18-28": ("d2l_resnet18", "1x28x28", 128),
    "d2l_resnet18-96": ("d2l_resnet18", "1x96x96", 128),
    "resnet50-224": ("resnet50", "3x224x224", 8),
    "fashion_resnet-28": ("fashion_resnet", "1x28x28", 128),
    "resnext50-224": ("resnext50_32x4d", "3x224x224", 8),
}
TORCH_SIDES = ("torch", "torch-cl", "torch-compile", "torch-bf16")
RNC_SIDES = ("rnc", "rnc-bf16")
SGD = dict(lr=0.01, momentum=0.9, weight_decay=5e-4)


def fixed_batch(shape, classes, batch):
    import numpy as np
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch,) + tuple(shape)).astype(np.float32)
    return x, rng.integers(0, classes, batch).astype(np.int32)


def timed(step, sync, batch, args):
    """Runs warm-up then the windows; returns images/s per window (per
    CPU-second of this process with --cpu-time; scripts that share this
    function without that flag, gpu_train.py, time wall clock)."""
    clock = time.process_time if getattr(args, "cpu_time", False) else time.perf_counter
    t0 = time.perf_counter()
    for _ in range(args.warmup):
        step()
    sync()
    warm = time.perf_counter() - t0
    rates = []
    for _ in range(args.windows):
        t0 = clock()
        for _ in range(args.steps):
            step()
        sync()
        rates.append(args.steps * batch / (clock() - t0))
    return {"rates": rates, "warmup_s": warm}


def child_rnc(args):
    from rnc_py import abi
    with abi.Model(args.so) as m:
        m.init(0)
        x, y = fixed_batch(m.input_shape, m.num_classes, args.batch)
        res = timed(lambda: m.train_step(x, y, **SGD), lambda: None, args.batch, args)
        res["version"] = f"rnc {m.info['rnc_version']}" + (" bf16" if args.child == "rnc-bf16" else "")
    return res


def child_jax(args):
    import jax
    from rnc_py.jax_model import JaxModel
    with open(args.graph) as f:
        jm = JaxModel(json.load(f))
    params, buffers = jm.init_params(0)
    moms = {k: v * 0 for k, v in params.items()}
    x, y = fixed_batch(jm.input_shape, jm.num_classes, args.batch)

    def train(p, b, mo, x, y):
        r = jm.train_step(p, b, mo, x, y, SGD["lr"], SGD["momentum"], SGD["weight_decay"])
        return r["params"], r["buffers"], r["moms"], r["loss"]

    train = jax.jit(train, donate_argnums=(0, 1, 2))
    state = [jax.device_put(t) for t in (params, buffers, moms)] + [None]
    x, y = jax.device_put(x), jax.device_put(y)

    def step():
        state[:] = train(state[0], state[1], state[2], x, y)

    res = timed(step, lambda: jax.block_until_ready(state), args.batch, args)
    res["version"] = f"jax {jax.__version__}"
    return res


def child_torch(args):
    """PyTorch on the CPU: eager, channels_last, torch.compile or autocast bf16."""
    import torch
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from torch_graph import GraphNet
    torch.manual_seed(0)
    if os.environ.get("OMP_NUM_THREADS"):
        torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    with open(args.graph) as f:
        net = GraphNet(json.load(f))
    x, y = fixed_batch(net.input_shape, net.num_classes, args.batch)
    x, y = torch.from_numpy(x), torch.from_numpy(y).long()
    cl = args.child != "torch"
    if cl:
        net = net.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    net.train()
    opt = torch.optim.SGD(net.parameters(), **SGD)
    loss_fn = torch.nn.functional.cross_entropy

    def fwd_bwd(x, y):
        if args.child == "torch-bf16":
            with torch.autocast("cpu", dtype=torch.bfloat16):
                loss = loss_fn(net(x), y)
        else:
            loss = loss_fn(net(x), y)
        loss.backward()
        return loss

    if args.child == "torch-compile":
        fwd_bwd = torch.compile(fwd_bwd)

    def step():
        opt.zero_grad(set_to_none=True)
        fwd_bwd(x, y)
        opt.step()

    res = timed(step, lambda: None, args.batch, args)
    res["version"] = f"{args.child} {torch.__version__}"
    return res


def forward_flops(graph_path):
    """2 x the multiply-adds of one image's forward pass (convolutions and the
    linear layer, padding taps included), counted by PyTorch's FlopCounterMode
    on meta tensors; None without PyTorch."""
    try:
        import torch
        from torch.utils.flop_counter import FlopCounterMode
    except ImportError:
        return None
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from torch_graph import GraphNet
    with open(graph_path) as f:
        graph = json.load(f)
    with torch.device("meta"):
        net = GraphNet(graph).eval()  # one image: BN from running statistics
        x = torch.empty((1,) + tuple(graph["input"]))
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        net(x)
    return counter.get_total_flops()


def fma_peak(args):
    """The machine's FMA peak in GFLOP/s on the threads rnc uses, from
    kernel-conv-bench (a register-only FMA loop); None when it is not built."""
    exe = os.path.join(os.path.dirname(args.rnc), "kernel-conv-bench")
    if not os.path.exists(exe):
        return None
    cmd = [exe, "--filter", "@none@"] + (["--cpu-time"] if args.cpu_time else [])
    out = subprocess.run(cmd, capture_output=True, text=True).stdout
    for word in out.split(","):
        if "FMA peak" in word:
            return float(word.split()[2])
    return None


def machine_info():
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {len(os.sched_getaffinity(0))} cores usable, {os.cpu_count()} online, {platform.system()} {platform.release()}"


def cpu_seconds():
    """Busy CPU seconds of the whole machine minus those of our children, so
    that a difference shows how much else ran during a measurement."""
    with open("/proc/stat") as f:
        t = [int(v) for v in f.readline().split()[1:]]
    busy = (sum(t[:8]) - t[3] - t[4]) / os.sysconf("SC_CLK_TCK")  # all but idle, iowait
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return busy - ru.ru_utime - ru.ru_stime


def round_ratios(res):
    """(label, [ratio of each round]) for the table's ratio columns whose sides ran."""
    rounds = {side: r["rounds"] for side, r in res.items()}
    n = min((len(v) for v in rounds.values()), default=0)
    pairs = [("rnc/JAX", "rnc", ("jax",)), ("rnc/best eager", "rnc", ("torch", "torch-cl")),
             ("rnc/compile", "rnc", ("torch-compile",)), ("rnc bf16/fp32", "rnc-bf16", ("rnc",)),
             ("rnc-bf16/torch-bf16", "rnc-bf16", ("torch-bf16",))]
    out = []
    for label, num, dens in pairs:
        dens = [d for d in dens if d in rounds]
        if num in rounds and dens:
            out.append((label, [rounds[num][i] / max(rounds[d][i] for d in dens) for i in range(n)]))
    return out


def run(cmd):
    print("$ " + " ".join(shlex.quote(c) for c in cmd), flush=True)
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--configs", default=",".join(CONFIGS), help=f"comma list of: {', '.join(CONFIGS)}")
    ap.add_argument("--batch", type=int, help="override every config's batch size")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--windows", type=int, default=3)
    ap.add_argument("--steps", type=int, default=2, help="steps per timed window")
    ap.add_argument("--rounds", type=int, default=1,
                    help="run every side this many times, the sides alternating, and report the "
                         "median round: each side's median window, and each ratio taken within a "
                         "round (a VM whose speed drifts by 10-20%% within minutes moves all sides "
                         "of one round together)")
    ap.add_argument("--cpu-time", action="store_true",
                    help="images per CPU-second of each side's process instead of per second: on a "
                         "machine other programs keep busy, with OMP_NUM_THREADS=1 (with more threads "
                         "it counts spin-waiting)")
    ap.add_argument("--sides", default="rnc,jax",
                    help="comma list of: rnc, rnc-bf16, jax, " + ", ".join(TORCH_SIDES))
    ap.add_argument("--rnc", default=os.path.join(ROOT, "build/bin/rnc"))
    ap.add_argument("--out-dir", help="compiled .so and graph files (default: a temp folder)")
    ap.add_argument("--child", choices=[*RNC_SIDES, "jax", *TORCH_SIDES], help=argparse.SUPPRESS)
    ap.add_argument("--so", help=argparse.SUPPRESS)
    ap.add_argument("--graph", help=argparse.SUPPRESS)
    args = ap.parse_args()
    for flag in ("rounds", "windows", "steps"):
        if getattr(args, flag) < 1:
            sys.exit(f"bench/train_throughput.py: --{flag} {getattr(args, flag)}: must be at least 1")
    if args.child:
        child = {"rnc": child_rnc, "rnc-bf16": child_rnc, "jax": child_jax}.get(args.child, child_torch)
        print(json.dumps(child(args)))
        return 0

    out = args.out_dir or tempfile.mkdtemp(prefix="rnc-bench-")
    os.makedirs(out, exist_ok=True)
    sides = args.sides.split(",")
    print(f"machine: {machine_info()}")
    print(f"command: {' '.join(shlex.quote(a) for a in sys.argv)}")
    print(f"timing: {args.warmup} warm-up steps, median of {args.windows} windows x {args.steps} steps"
          f"{' (CPU time)' if args.cpu_time else ''}; "
          f"SGD {SGD}; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}", flush=True)
    with open("/proc/loadavg") as f:
        print(f"load average at start: {' '.join(f.read().split()[:3])}")
    peak = fma_peak(args)
    if peak:
        print(f"FMA peak: {peak:.1f} GFLOP/s (kernel-conv-bench's register-only loop, same threads)")
    rows = []
    for name in args.configs.split(","):
        model, chw, batch = CONFIGS[name]
        batch = args.batch or batch
        so, graph = os.path.join(out, f"{name}-b{batch}.so"), os.path.join(out, f"{name}.json")
        with open(graph, "w") as f:
            f.write(run([args.rnc, "expand", model, "--input", chw]))
        sos = {"rnc": so, "rnc-bf16": so.replace(".so", "-bf16.so")}
        for side in RNC_SIDES:
            if side in sides:
                t0 = time.perf_counter()
                run([args.rnc, "compile", model, "--input", chw, "--max-batch", str(batch), "-o", sos[side]]
                    + (["--precision", "bf16"] if side == "rnc-bf16" else []))
                print(f"  compiled in {time.perf_counter() - t0:.1f} s", flush=True)
        res = {}
        for rnd in range(args.rounds):
            for side in sides:
                cmd = [sys.executable, __file__, "--child", side, "--so", sos.get(side, so), "--graph", graph,
                       "--batch", str(batch), "--warmup", str(args.warmup), "--windows", str(args.windows),
                       "--steps", str(args.steps)] + (["--cpu-time"] if args.cpu_time else [])
                before = cpu_seconds()
                r = json.loads(run(cmd).strip().splitlines()[-1])
                other = cpu_seconds() - before
                med = statistics.median(r["rates"])
                res.setdefault(side, {"version": r["version"], "rounds": []})["rounds"].append(med)
                label = f" round {rnd + 1}" if args.rounds > 1 else ""
                print(f"  {name}{label} {r['version']}: {med:.1f} images/s (windows "
                      f"{', '.join(f'{v:.1f}' for v in r['rates'])}; warm-up {r['warmup_s']:.1f} s; "
                      f"other processes used {other:.1f} core-s meanwhile)", flush=True)
        for r in res.values():
            r["median"] = statistics.median(r["rounds"])
        if args.rounds > 1:
            for label, ratios in round_ratios(res):
                print(f"  {name} {label} per round: {', '.join(f'{v:.2f}' for v in ratios)} "
                      f"(median {statistics.median(ratios):.2f})", flush=True)
        rows.append((name, model, chw, batch, res, forward_flops(graph)))

    with open("/proc/loadavg") as f:
        print(f"load average at end: {' '.join(f.read().split()[:3])}")
    cols = [s for s in (*RNC_SIDES, "jax", *TORCH_SIDES) if s in sides]
    head = ["config", "batch"] + [f"{c} img/s" for c in cols]
    if "jax" in cols and "rnc" in cols:
        head.append("rnc/JAX")
    fp32_torch = [c for c in ("torch", "torch-cl") if c in cols]
    if fp32_torch and "rnc" in cols:
        head.append("rnc/best eager")
    if "torch-compile" in cols and "rnc" in cols:
        head.append("rnc/compile")
    if "rnc-bf16" in cols and "rnc" in cols:
        head.append("rnc bf16/fp32")
    if "rnc-bf16" in cols and "torch-bf16" in cols:
        head.append("rnc-bf16/torch-bf16")
    head.append("rnc % of FMA peak")
    print("\n| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for name, model, chw, batch, res, flops in rows:
        med = {c: res.get(c, {}).get("median") for c in cols}
        r = med.get("rnc")
        cells = [name, str(batch)] + [f"{med[c]:.1f}" if med[c] else "-" for c in cols]
        ratios = {label: statistics.median(v) for label, v in round_ratios(res)}
        for label in ("rnc/JAX", "rnc/best eager", "rnc/compile", "rnc bf16/fp32", "rnc-bf16/torch-bf16"):
            if label in head:
                cells.append(f"{ratios[label]:.2f}" if label in ratios else "-")
        # training = forward + data gradient + weight gradient: 3 x forward
        cells.append(f"{100 * r * 3 * flops / (peak * 1e9):.0f}%" if r and flops and peak else "-")
        print("| " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
