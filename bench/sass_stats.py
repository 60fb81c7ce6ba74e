#!/usr/bin/env python3
"""Static statistics of a cuda model's kernels, without a GPU: per kernel the
registers and spill bytes ptxas reports, the SASS instruction count, and the
main loop (the largest loop that issues tensor-core or FMA instructions):
its instruction count and its MMA instructions. `--json` keeps them, and
`--baseline` compares a run with a kept one kernel by kernel (same name), so
that a change to kernels/cuda shows what it did to the code before a lent GPU
can time it.

Needs nvcc (the CUDA toolkit) and nvdisasm: from the toolkit if it has one,
else from PyPI (`pip install nvidia-cuda-nvdisasm` in any venv; looked up in
this Python's site-packages).
Usage: bench/sass_stats.py MODEL [--input 1x96x96] [--precision bf16]
           [--arch 90a] [--json OUT] [--baseline JSON] [--all] [--root DIR]
"""
import argparse
import collections
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def die(msg):
    sys.exit(f"bench/sass_stats.py: {msg}")


def find_nvdisasm():
    for cand in (shutil.which("nvdisasm"), "/usr/local/cuda/bin/nvdisasm"):
        if cand and os.access(cand, os.X_OK):
            return cand
    site = sysconfig.get_paths()["purelib"]
    for cand in sorted(glob.glob(os.path.join(site, "nvidia", "cu*", "bin", "nvdisasm"))):
        if not os.access(cand, os.X_OK):
            os.chmod(cand, 0o755)
        return cand
    die("nvdisasm not found (not on PATH nor in /usr/local/cuda/bin); "
        f"install it with `{sys.executable} -m pip install nvidia-cuda-nvdisasm`")


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        die(f"{' '.join(cmd[:3])} ... failed:\n{(r.stderr or r.stdout)[-2000:]}")
    return r


def ptxas_usage(log):
    """kernel -> (registers, spill store bytes + spill load bytes)."""
    usage, cur, spill = {}, None, 0
    for line in log.splitlines():
        m = re.search(r"Compiling entry function '([^']+)'", line)
        if m:
            cur, spill = m.group(1), 0
            continue
        m = re.search(r"(\d+) bytes spill stores, (\d+) bytes spill loads", line)
        if m and cur:
            spill = int(m.group(1)) + int(m.group(2))
        m = re.search(r"Used (\d+) registers", line)
        if m and cur:
            usage[cur] = (int(m.group(1)), spill)
            cur = None
    return usage


def sass_functions(text):
    """kernel -> [('label', name) | ('ins', text)] in program order."""
    funcs, cur = {}, None
    for line in text.splitlines():
        m = re.search(r"\.section\s+\.text\.([^,\s]+)", line)
        if m:
            cur = funcs.setdefault(m.group(1), [])
            continue
        if cur is None:
            continue
        m = re.match(r"^(\.L_x_\d+):", line.strip())
        if m:
            cur.append(("label", m.group(1)))
            continue
        m = re.search(r"/\*[0-9a-f]{4}\*/\s+([^;]*);", line)
        if m:
            cur.append(("ins", m.group(1).strip()))
    return funcs


MATH = re.compile(r"\b(HMMA|HGMMA|FFMA)\b")


MMA = re.compile(r"\b(HMMA|HGMMA)\b")


def main_loop(seq):
    """The instructions of the largest backward-branch loop that issues MMA
    instructions, else of the largest that issues FFMA (a SIMT kernel's; an
    epilogue's FFMA loop never outranks a tensor-core main loop), or None."""
    where, best, best_key = {}, None, None
    for i, (kind, v) in enumerate(seq):
        if kind == "label":
            where[v] = i
            continue
        m = re.search(r"BRA\s+`?\(?(\.L_x_\d+)", v)
        if m and m.group(1) in where:
            body = [x for k, x in seq[where[m.group(1)]:i + 1] if k == "ins"]
            if any(MATH.search(x) for x in body):
                key = (any(MMA.search(x) for x in body), len(body))
                if best_key is None or key > best_key:
                    best, best_key = body, key
    return best


def short_name(mangled, demangled):
    """'ConvFwdOp 64->64 24x24 k3x3 s1 g1 +Relu' and the like."""
    kernel = re.search(r"(\w+_kernel)\b", demangled)
    kernel = kernel.group(1) if kernel else demangled[:60]
    m = re.search(r"detail::(\w+)<(?:rnc::cuda::detail::ShapeOf<)?rnc::Conv2DShape\{([^}]*)\}",
                  demangled)
    if not m:
        return kernel
    f = [int(x) for x in m.group(2).split(",")]
    what = m.group(1) if kernel == "igemm_kernel" else kernel
    name = f"{what} {f[0]}->{f[1]} {f[2]}x{f[3]} k{f[4]}x{f[5]} s{f[6]} g{f[12]}"
    phase = re.search(r"(?:true|false), (\d+), (\d+)>, rnc::cuda::detail::TileCfg", demangled)
    if what == "ConvBwdDataPhaseOp" and phase:
        name += f" phase {phase.group(1)},{phase.group(2)}"
    epis = sorted(set(re.findall(r"(\w+)Epilogue", demangled.split("TileCfg")[0])) - {"No"})
    if epis:
        name += " +" + "+".join(epis)
    return name


def collect(args):
    work = tempfile.mkdtemp(prefix="rnc-sass-")
    cu = args.cu
    if not cu:
        cu = os.path.join(work, "model.cu")
        cmd = [args.rnc, "compile", args.model, "--target", "cuda", "--emit", "cpp",
               "--max-batch", str(args.max_batch), "-o", cu]
        if args.input:
            cmd += ["--input", args.input]
        if args.precision:
            cmd += ["--precision", args.precision]
        run(cmd)
    nvcc = os.environ.get("RNC_NVCC") or shutil.which("nvcc") or "/usr/local/cuda/bin/nvcc"
    cubin = os.path.join(work, "model.cubin")
    r = run([nvcc, "-std=c++20", "-O3", "--expt-relaxed-constexpr", f"-I{args.root}",
             f"-arch=sm_{args.arch}", "-cubin", "-Xptxas", "-v", cu, "-o", cubin])
    usage = ptxas_usage(r.stderr)
    funcs = sass_functions(run([find_nvdisasm(), "-c", cubin]).stdout)
    names = list(funcs)
    demangled = run(["c++filt"], input="\n".join(names)).stdout.splitlines()
    kernels = {}
    for mangled, dem in zip(names, demangled):
        seq = funcs[mangled]
        loop = main_loop(seq)
        regs, spill = usage.get(mangled, (None, None))
        kernels[mangled] = {
            "name": short_name(mangled, dem),
            "registers": regs,
            "spill_bytes": spill,
            "instructions": sum(1 for k, _ in seq if k == "ins"),
            "loop": len(loop) if loop else None,
            "loop_math": sum(1 for x in loop if MATH.search(x)) if loop else None,
        }
    shutil.rmtree(work, ignore_errors=True)
    return kernels


def fmt(v):
    return "-" if v is None else str(v)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", nargs="?", help="a shipped model's name or a spec file")
    ap.add_argument("--cu", help="a generated model.cu instead of compiling MODEL")
    ap.add_argument("--input", help="CxHxW, as rnc compile --input")
    ap.add_argument("--precision", choices=["fp32", "tf32", "bf16"])
    ap.add_argument("--max-batch", type=int, default=128)
    ap.add_argument("--arch", default="90a", help="sm number for nvcc (default 90a)")
    ap.add_argument("--rnc", default=os.path.join(ROOT, "build/bin/rnc"))
    ap.add_argument("--root", default=ROOT,
                    help="the source tree whose kernel headers the model is built with (default: "
                         "this one; another checkout's for a baseline)")
    ap.add_argument("--json", help="write the statistics here")
    ap.add_argument("--baseline", help="a --json file to compare with, kernel by kernel")
    ap.add_argument("--all", action="store_true", help="list unchanged kernels too")
    args = ap.parse_args()
    if not args.model and not args.cu:
        die("give a MODEL or --cu FILE")
    kernels = collect(args)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(kernels, f, indent=1)
    base = None
    if args.baseline:
        try:
            with open(args.baseline) as f:
                base = json.load(f)
        except (OSError, ValueError) as e:
            die(f"{args.baseline}: {e}")
    fields = ("registers", "spill_bytes", "loop", "loop_math", "instructions")
    print("| kernel | registers | spill bytes | main loop instructions | MMA/FMA in it | instructions |")
    print("|---|---|---|---|---|---|")
    rows = collections.Counter()
    for key, k in sorted(kernels.items(), key=lambda kv: kv[1]["name"]):
        old = base.get(key) if base else None
        if base and not args.all and old and all(old[f] == k[f] for f in fields):
            rows["unchanged"] += 1
            continue
        cells = [f"{fmt(old[f])} -> {fmt(k[f])}" if old and old[f] != k[f] else fmt(k[f])
                 for f in fields]
        rows["changed" if old else "new" if base else "listed"] += 1
        print(f"| {k['name']}{'' if old or not base else ' (new)'} | " + " | ".join(cells) + " |")
    for key, k in sorted((base or {}).items(), key=lambda kv: kv[1]["name"]):
        if key not in kernels:
            print(f"| {k['name']} (gone) | " + " | ".join(fmt(k[f]) for f in fields) + " |")
    total = sum(k["instructions"] for k in kernels.values())
    spills = sum(1 for k in kernels.values() if k["spill_bytes"])
    line = f"\n{len(kernels)} kernels, {total} instructions, {spills} with spills"
    if base:
        gone = sum(1 for key in base if key not in kernels)
        btotal = sum(k["instructions"] for k in base.values())
        bspills = sum(1 for k in base.values() if k["spill_bytes"])
        line += (f" (baseline: {len(base)} kernels, {btotal} instructions, {bspills} with spills; "
                 f"{rows['changed']} changed, {rows['new']} new, {gone} gone, "
                 f"{rows['unchanged']} unchanged)")
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
