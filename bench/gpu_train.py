#!/usr/bin/env python3
"""Steady-state GPU training throughput (images/s) of a model compiled by
`rnc compile --target cuda`, beside PyTorch eager (channels_last, bf16
autocast) and torch.compile of the same PyTorch model and step, on one GPU.

Each side runs in its own child process (its own CUDA context): `--warmup`
steps untimed (cuDNN autotuning, torch.compile's compilation), then
`--windows` timed windows of `--steps` steps each, the GPU synchronized at the
end of each; the figure is the median window's images/s. All sides train on
one fixed random batch (numpy seed 0) with SGD lr 0.01, momentum 0.9, weight
decay 5e-4. A child first measures the GPU's bf16 matmul peak, against which
the table states each side's share (training FLOPs = 3 x forward FLOPs of
convolutions and linear layers, counted by torch.utils.flop_counter).
Exits 77 with a SKIPPED line when there is no CUDA GPU. See bench/GPU.md.
Usage: bench/gpu_train.py [--configs a,b] [--sides rnc,eager,compile] [--warmup 5]
                          [--windows 5] [--steps 20] [--precision bf16] [--json OUT]
"""
import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
import traceback

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "python"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from train_throughput import fixed_batch, machine_info, timed  # noqa: E402

# name: (model, input CxHxW, batch); classes come from models/<model>.json
CONFIGS = {
    "d2l_resnet18-96": ("d2l_resnet18", "1x96x96", 128),
    "resnet50-224": ("resnet50", "3x224x224", 256),
    "resnext50_32x4d-224": ("resnext50_32x4d", "3x224x224", 256),
}
SIDES = ("rnc", "eager", "compile")
SGD = dict(lr=0.01, momentum=0.9, weight_decay=5e-4)
EXPECTED = ("OOM", "unavailable")  # outcomes that are results, not failures of the benchmark


def chw_of(s):
    return tuple(int(v) for v in s.split("x"))


def is_oom(e):
    return "out of memory" in str(e).lower() or type(e).__name__ == "OutOfMemoryError"


# ---------------------------------------------------------------- children

def gpu_info(torch):
    """The GPU's name and size, the driver and the CUDA version it supports."""
    p = torch.cuda.get_device_properties(0)
    info = {"gpu": torch.cuda.get_device_name(0), "memory_gib": p.total_memory / 2**30,
            "sms": p.multi_processor_count, "capability": f"{p.major}.{p.minor}",
            "cudnn": torch.backends.cudnn.version()}
    try:
        import ctypes
        v = ctypes.c_int()
        ctypes.CDLL("libcuda.so.1").cuDriverGetVersion(ctypes.byref(v))
        info["driver_cuda"] = f"{v.value // 1000}.{v.value % 1000 // 10}"
    except OSError:
        info["driver_cuda"] = None
    try:
        q = subprocess.run(["nvidia-smi", "-i", "0", "--query-gpu=driver_version,clocks.max.sm,power.limit",
                            "--format=csv,noheader"], capture_output=True, text=True, timeout=30)
        info["driver"], info["max_sm_clock"], info["power_limit"] = [
            s.strip() for s in q.stdout.strip().splitlines()[0].split(",")]
    except (OSError, IndexError, ValueError, subprocess.SubprocessError):
        info["driver"] = info["max_sm_clock"] = info["power_limit"] = None
    return info


def sync_of(torch, device):
    return torch.cuda.synchronize if device == "cuda" else (lambda: None)


def child_peak(args):
    """The GPU, driver and library versions, and the best bf16 matmul rate of
    --peak-reps repetitions of 20 n^3 products (CUDA events)."""
    import torch
    info = gpu_info(torch) if args.device == "cuda" else {"gpu": f"none (--device cpu: {machine_info()})"}
    info.update(torch=torch.__version__, torch_cuda=torch.version.cuda)
    for mod in ("torchvision", "triton"):
        try:
            info[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001 (absent or broken: just not reported)
            info[mod] = None
    n, inner, sync = args.peak_size, 20, sync_of(torch, args.device)
    a, b = (torch.randn(n, n, device=args.device, dtype=torch.bfloat16) for _ in range(2))
    c = torch.empty_like(a)
    for _ in range(5):
        torch.matmul(a, b, out=c)
    sync()
    rates = []
    for _ in range(args.peak_reps):
        if args.device == "cuda":
            t0, t1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            t0.record()
        else:
            t = time.perf_counter()
        for _ in range(inner):
            torch.matmul(a, b, out=c)
        if args.device == "cuda":
            t1.record()
            t1.synchronize()
            rates.append(2 * n**3 * inner / (t0.elapsed_time(t1) / 1e3))
        else:
            rates.append(2 * n**3 * inner / (time.perf_counter() - t))
    info.update(peak_flops=max(rates), peak_rates=rates, peak_shape=f"{n}^3 x {inner}")
    # The copy ceiling: a device-to-device copy of --copy-mib, bytes read plus
    # written over the best of 10 timed copies (after 3 untimed).
    del a, b, c
    src = torch.randn(args.copy_mib * 2**18, device=args.device)
    dst = torch.empty_like(src)
    for _ in range(3):
        dst.copy_(src)
    sync()
    copies = []
    for _ in range(10):
        t = time.perf_counter()
        if args.device == "cuda":
            t0, t1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            t0.record()
        dst.copy_(src)
        if args.device == "cuda":
            t1.record()
            t1.synchronize()
            seconds = t0.elapsed_time(t1) / 1e3
        else:
            seconds = time.perf_counter() - t
        copies.append(2 * src.numel() * 4 / seconds)
    info.update(copy_bytes_per_s=max(copies), copy_rates=copies, copy_mib=args.copy_mib)
    return info


def gpu_memory(torch, device):
    """GiB in use on the GPU (by every process), None on the CPU."""
    if device != "cuda":
        return None
    free, total = torch.cuda.mem_get_info()
    return (total - free) / 2**30


def child_rnc(args):
    from rnc_py import abi
    try:
        m = abi.Model(args.so)
    except abi.RncError as e:
        return {"status": "OOM" if is_oom(e) else "error", "error": str(e)}
    with m:
        if m.info["target"] != args.device:
            return {"status": "error", "error": f"{args.so}: target is {m.info['target']!r}, not {args.device!r}"}
        m.init(0)
        x, y = fixed_batch(m.input_shape, m.num_classes, args.batch)
        pinned, torch = False, None
        if not args.pageable and args.device == "cuda":
            # The ABI takes host images: stage them in page-locked memory, as a
            # PyTorch DataLoader with pin_memory=True would (after rnc made its
            # CUDA context, so rnc's own device set-up comes first).
            try:
                import torch
                buf = torch.empty(x.shape, dtype=torch.float32, pin_memory=True)
                buf.numpy()[...] = x
                x, pinned = buf.numpy(), True
            except Exception:  # noqa: BLE001 (no torch: pageable memory it is)
                torch = None
        host = timed(lambda: m.train_step(x, y, **SGD), lambda: None, args.batch, args)
        prec = args.precision if args.device == "cuda" else "fp32"
        if m.has_dataset and not args.rnc_host_batch:
            # The figure compared with PyTorch's: the batch stays in the model
            # (on the GPU), as PyTorch's does: the batch is the model's dataset
            # (rnc_set_dataset), each step gathers it by its indices.
            import numpy as np
            m.set_dataset(x, y)
            index = np.arange(args.batch, dtype=np.int32)
            res = timed(lambda: m.train_step_indexed(index, **SGD), lambda: None, args.batch, args)
            res["host_copy_rates"] = host["rates"]
            res["note"] = (f"batch kept in the model (rnc_set_dataset, rnc_train_step_indexed); with "
                           f"the host batch ({x.nbytes / 2**20:.0f} MiB, "
                           f"{'pinned' if pinned else 'pageable'}) copied every step: "
                           f"{statistics.median(host['rates']):.1f} images/s")
        elif m.can_repeat_step and not args.rnc_host_batch:
            # An older cuda model: the batch the last train_step uploaded,
            # still on the GPU.
            res = timed(lambda: m.repeat_step(args.batch, **SGD), lambda: None, args.batch, args)
            res["host_copy_rates"] = host["rates"]
            res["note"] = (f"batch resident on the GPU (rnc_cuda_repeat_step); with the host batch "
                           f"({x.nbytes / 2**20:.0f} MiB, {'pinned' if pinned else 'pageable'}) copied "
                           f"every step: {statistics.median(host['rates']):.1f} images/s")
        else:
            res = host
            if args.device == "cuda":
                res["note"] = (f"host batch {x.nbytes / 2**20:.0f} MiB {'pinned' if pinned else 'pageable'}, "
                               "copied to the GPU every step")
        res["version"] = f"rnc {m.info['rnc_version']} ({m.info['target']}, {prec})"
        if torch is not None:
            res["gpu_mem_gib"] = gpu_memory(torch, args.device)
        res["loss"] = float(m.train_step(x, y, **SGD)[0])
    return res


def child_torch(args, compiled):
    import torch
    import torch.nn.functional as F
    import torch_models
    torch.backends.cudnn.benchmark = True
    dev = torch.device(args.device)
    net = torch_models.build(args.model).to(dev, memory_format=torch.channels_last)
    opt = torch.optim.SGD(net.parameters(), **SGD)
    classes = torch_models.load_spec(args.model)["num_classes"]
    x, y = fixed_batch(chw_of(args.input), classes, args.batch)
    x = torch.from_numpy(x).to(dev).contiguous(memory_format=torch.channels_last)
    y = torch.from_numpy(y).to(dev).long()

    def loss_fn(x, y):
        with torch.autocast(args.device, dtype=torch.bfloat16):
            return F.cross_entropy(net(x), y)

    def opt_step():
        opt.step()

    if compiled:  # the forward and loss (AOTAutograd compiles the backward too) and the SGD update
        loss_fn = torch.compile(loss_fn, mode=args.compile_mode)
        opt_step = torch.compile(opt_step)
    # CUDA graphs (modes reduce-overhead, max-autotune) need to be told where a step begins
    graphs = compiled and args.device == "cuda" and args.compile_mode in ("reduce-overhead", "max-autotune")
    last = [None]

    def step():
        if graphs:
            torch.compiler.cudagraph_mark_step_begin()
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(x, y)
        loss.backward()
        opt_step()
        last[0] = loss

    res = timed(step, sync_of(torch, args.device), args.batch, args)
    how = f"compile mode={args.compile_mode}" if compiled else "eager"
    res["version"] = f"torch {torch.__version__} {how}, bf16 autocast, channels_last"
    res["gpu_mem_gib"] = gpu_memory(torch, args.device)
    if args.device == "cuda":
        res["note"] = f"PyTorch's max allocated {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB"
    res["loss"] = last[0].detach().item()
    return res


def child_main(args):
    try:
        if args.child == "peak":
            r = child_peak(args)
        elif args.child == "rnc":
            r = child_rnc(args)
        else:
            r = child_torch(args, args.child == "compile")
    except Exception as e:  # noqa: BLE001 (reported as the side's outcome)
        traceback.print_exc()
        first = next((l for l in str(e).splitlines() if l.strip()), type(e).__name__)
        r = {"status": "OOM" if is_oom(e) else "error", "error": f"{type(e).__name__}: {first}"[:300]}
    r.setdefault("status", "ok")
    print(json.dumps(r), flush=True)
    return 0


# ---------------------------------------------------------------- parent

def no_gpu_reason():
    """None when torch sees a CUDA GPU, else why not (one line)."""
    try:
        import warnings
        import torch
    except Exception as e:  # noqa: BLE001
        return f"torch not importable: {type(e).__name__}: {e}".splitlines()[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if torch.version.cuda is None:
            return f"torch {torch.__version__} is built without CUDA"
        if not torch.cuda.is_available():
            return f"torch {torch.__version__} (CUDA {torch.version.cuda}): torch.cuda.is_available() is False"
    return None


def one_line(stderr, fallback):
    lines = [l.strip() for l in stderr.splitlines() if l.strip()]
    err = [l for l in lines if "error" in l.lower()]
    return (err or lines or [fallback])[-1][:300]


def run_child(cmd, timeout):
    print("$ " + " ".join(shlex.quote(c) for c in cmd), flush=True)
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"status": "error", "error": f"timed out after {timeout} s"}
    try:
        return json.loads(p.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):  # it died without its JSON line
        why = one_line(p.stderr, "no output")
        return {"status": "OOM" if "out of memory" in why.lower() else "error",
                "error": f"exit {p.returncode}: {why}"}


def compile_rnc(args, model, chw, batch, so):
    if not os.access(args.rnc, os.X_OK):
        return f"{args.rnc} not found (build rnc first: scripts/main.sh or scripts/test.sh)"
    cmd = [args.rnc, "compile", model, "--target", "cuda", "--precision", args.precision,
           "--input", chw, "--max-batch", str(batch), "-o", so]
    if args.device == "cpu":
        cmd[3:7] = []  # the smoke test: rnc's CPU target, float32
    print("$ " + " ".join(shlex.quote(c) for c in cmd), flush=True)
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        why = one_line(p.stderr, f"rnc compile exited {p.returncode}")
        if "--precision" not in why:
            return why
        # an rnc without --precision: say whether --target cuda itself works
        probe = cmd[:5] + cmd[7:]
        p = subprocess.run(probe, capture_output=True, text=True)
        if p.returncode != 0:
            return one_line(p.stderr, f"rnc compile exited {p.returncode}") + " (nor does it know --precision)"
        return f"rnc compile knows --target cuda but not --precision: {why}"
    print(f"  compiled in {time.perf_counter() - t0:.1f} s", flush=True)
    return None


def so_path(args, folder, config):
    batch = args.batch or CONFIGS[config][2]
    return os.path.join(folder, f"{config}-b{batch}-{args.precision if args.device == 'cuda' else 'cpu'}.so")


def cell(r, fmt):
    if r is None:
        return "-"
    return fmt(r["median"]) if r["status"] == "ok" else r["status"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--configs", default=",".join(CONFIGS), help=f"comma list of: {', '.join(CONFIGS)}")
    ap.add_argument("--sides", default=",".join(SIDES), help="comma list of: rnc, eager, compile")
    ap.add_argument("--batch", type=int, help="override every config's batch size")
    ap.add_argument("--warmup", type=int, default=5, help="untimed steps (torch.compile compiles here)")
    ap.add_argument("--windows", type=int, default=5)
    ap.add_argument("--steps", type=int, default=20, help="steps per timed window")
    ap.add_argument("--precision", default="bf16", choices=["bf16", "tf32", "fp32"],
                    help="rnc compile --precision (PyTorch always uses bf16 autocast)")
    ap.add_argument("--compile-mode", default="default",
                    help="torch.compile mode: default, reduce-overhead, max-autotune, ...")
    ap.add_argument("--pageable", action="store_true",
                    help="give rnc its host batch in pageable memory instead of pinned")
    ap.add_argument("--peak-size", type=int, default=8192, help="n of the n^3 bf16 matmul")
    ap.add_argument("--peak-reps", type=int, default=10)
    ap.add_argument("--copy-mib", type=int, default=4096, help="MiB copied for the copy ceiling")
    ap.add_argument("--rnc-host-batch", action="store_true",
                    help="time rnc with its host batch copied every step (PyTorch's stays on the GPU)")
    ap.add_argument("--child-timeout", type=int, default=3600, help="seconds per child process")
    ap.add_argument("--rnc", default=os.path.join(ROOT, "build/bin/rnc"))
    ap.add_argument("--out-dir", help="where rnc's .so files go (default: a temp folder)")
    ap.add_argument("--compile-only", action="store_true",
                    help="only compile rnc's .so files into --out-dir (no GPU needed), then exit")
    ap.add_argument("--rnc-so-dir", metavar="DIR",
                    help="take rnc's .so files from DIR (made by --compile-only) instead of compiling")
    ap.add_argument("--json", metavar="OUT", help="also write the results as JSON")
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"],
                    help="cpu: a smoke test of this script without a GPU (rnc's CPU target; "
                         "use --peak-size 512 and tiny --batch/--steps; the figures mean nothing)")
    ap.add_argument("--child", choices=("peak",) + SIDES, help=argparse.SUPPRESS)
    ap.add_argument("--so", help=argparse.SUPPRESS)
    ap.add_argument("--model", help=argparse.SUPPRESS)
    ap.add_argument("--input", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child_main(args)

    configs, sides = args.configs.split(","), args.sides.split(",")
    for bad, known, what in ((configs, CONFIGS, "config"), (sides, SIDES, "side")):
        unknown = [v for v in bad if v not in known]
        if unknown:
            ap.error(f"unknown {what} {', '.join(unknown)}; known: {', '.join(known)}")
    if args.compile_only and not args.out_dir:
        ap.error("--compile-only needs --out-dir")
    out = args.out_dir or tempfile.mkdtemp(prefix="rnc-gpu-bench-")
    os.makedirs(out, exist_ok=True)
    if args.compile_only:
        failed = 0
        for name in configs:
            model, chw, batch = CONFIGS[name]
            why = compile_rnc(args, model, chw, args.batch or batch, so_path(args, out, name))
            if why:
                failed += 1
                print(f"  {name}: {why}")
        return 1 if failed else 0
    reason = no_gpu_reason() if args.device == "cuda" else None
    if reason:
        print(f"SKIPPED: no CUDA GPU ({reason})")
        return 77
    import torch_models

    print(f"host: {machine_info()}")
    print(f"command: {' '.join(shlex.quote(a) for a in sys.argv)}")
    print(f"timing: {args.warmup} warm-up steps, median of {args.windows} windows x {args.steps} steps; "
          f"SGD {SGD}; CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', 'unset')}", flush=True)
    common = [sys.executable, os.path.abspath(__file__), "--warmup", str(args.warmup), "--windows",
              str(args.windows), "--steps", str(args.steps), "--precision", args.precision,
              "--compile-mode", args.compile_mode, "--peak-size", str(args.peak_size),
              "--peak-reps", str(args.peak_reps), "--copy-mib", str(args.copy_mib),
              "--device", args.device] + (["--pageable"] if args.pageable else []) + (
                  ["--rnc-host-batch"] if args.rnc_host_batch else [])
    gpu = run_child(common + ["--child", "peak"], args.child_timeout)
    if gpu["status"] != "ok":
        print(f"measuring the GPU failed: {gpu['error']}")
        return 1
    peak = gpu["peak_flops"]
    if args.device == "cuda":
        print(f"GPU: {gpu['gpu']} ({gpu['memory_gib']:.1f} GiB, {gpu['sms']} SMs, compute capability "
              f"{gpu['capability']}; max SM clock {gpu['max_sm_clock']}, power limit {gpu['power_limit']})")
        print(f"driver {gpu['driver']} (supports CUDA {gpu['driver_cuda']}); cuDNN {gpu['cudnn']}")
    else:
        print(f"GPU: {gpu['gpu']}")
    print(f"torch {gpu['torch']} (CUDA {gpu['torch_cuda']}), torchvision {gpu['torchvision']}, "
          f"triton {gpu['triton']}")
    print(f"measured bf16 peak: {peak / 1e12:.1f} TFLOP/s (torch.matmul {gpu['peak_shape']}, best of "
          f"{len(gpu['peak_rates'])}: {', '.join(f'{r / 1e12:.1f}' for r in gpu['peak_rates'])})",
          flush=True)
    print(f"measured copy ceiling: {gpu['copy_bytes_per_s'] / 1e12:.2f} TB/s (device-to-device copy of "
          f"{gpu['copy_mib']} MiB, bytes read + written, best of {len(gpu['copy_rates'])})", flush=True)

    results = []
    for name in configs:
        model, chw, batch = CONFIGS[name]
        batch = args.batch or batch
        classes = torch_models.load_spec(model)["num_classes"]
        fwd = torch_models.forward_flops(model, chw_of(chw))
        row = dict(config=name, model=model, input=chw, batch=batch, classes=classes,
                   forward_flops=fwd, train_flops=3 * fwd, sides={})
        print(f"\n{name}: {model} {chw}, batch {batch}, {classes} classes; forward "
              f"{fwd / 1e9:.2f} GFLOP/image, training {3 * fwd / 1e9:.2f} GFLOP/image", flush=True)
        so = so_path(args, args.rnc_so_dir or out, name)
        for side in sides:
            if side == "rnc":
                if args.rnc_so_dir:
                    why = None if os.path.exists(so) else f"no {so} (make it with --compile-only)"
                else:
                    why = compile_rnc(args, model, chw, batch, so)
                if why:
                    r = {"status": "unavailable", "error": why}
                    row["sides"][side] = r
                    print(f"  {name} rnc: unavailable: {why}", flush=True)
                    continue
            r = run_child(common + ["--child", side, "--so", so, "--model", model, "--input", chw,
                                    "--batch", str(batch)], args.child_timeout)
            row["sides"][side] = r
            if r["status"] != "ok":
                print(f"  {name} {side}: {r['status']}: {r['error']}", flush=True)
                continue
            r["median"] = statistics.median(r["rates"])
            r["peak_fraction"] = r["median"] * 3 * fwd / peak
            mem = r.get("gpu_mem_gib")
            extra = [f"GPU memory in use {mem:.1f} GiB"] if mem is not None else []
            extra += [r["note"]] if r.get("note") else []
            print(f"  {name} {r['version']}: {r['median']:.1f} images/s (windows "
                  f"{', '.join(f'{v:.1f}' for v in r['rates'])}; warm-up {r['warmup_s']:.1f} s; "
                  f"loss after {r['loss']:.3f}{''.join('; ' + x for x in extra)})", flush=True)
        results.append(row)

    print(f"\nimages/s: median window; ratios above 1: rnc is faster; % peak: images/s x training "
          f"FLOPs/image over the measured bf16 peak ({peak / 1e12:.0f} TFLOP/s); rnc at --precision "
          f"{args.precision}, PyTorch at bf16 autocast\n")
    print("| config | batch | train GFLOP/img | rnc img/s | eager img/s | compile img/s "
          "| rnc/eager | rnc/compile | rnc % peak | eager % peak | compile % peak |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for row in results:
        s = row["sides"]
        r, e, c = (s.get(k) for k in SIDES)
        ok = [v if v and v["status"] == "ok" else None for v in (r, e, c)]
        ratio = [f"{ok[0]['median'] / o['median']:.2f}" if ok[0] and o else "-" for o in ok[1:]]
        pct = [cell(v, lambda m, v=v: f"{100 * v['peak_fraction']:.1f}") for v in (r, e, c)]
        print(f"| {row['config']} | {row['batch']} | {row['train_flops'] / 1e9:.2f} | "
              f"{' | '.join(cell(v, lambda m: f'{m:.1f}') for v in (r, e, c))} | "
              f"{' | '.join(ratio)} | {' | '.join(pct)} |")
    reasons = sorted({v["error"] for row in results for k, v in row["sides"].items() if v["status"] != "ok"})
    for why in reasons:
        print(f"  not measured: {why}")

    if args.json:
        with open(args.json, "w") as f:
            json.dump({"command": sys.argv, "host": machine_info(), "gpu": gpu, "sgd": SGD,
                       "timing": {"warmup": args.warmup, "windows": args.windows, "steps": args.steps},
                       "precision": args.precision, "compile_mode": args.compile_mode,
                       "flops_method": "training = 3 x forward; forward = torch.utils.flop_counter "
                                       "(2 x MACs of conv and linear layers)",
                       "results": results}, f, indent=1)
        print(f"wrote {args.json}")
    failed = [v for row in results for v in row["sides"].values() if v["status"] not in ("ok",) + EXPECTED]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
