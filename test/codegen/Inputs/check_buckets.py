"""Checks the gradient buckets of a generated cuda train_step (the sum over
the ranks that overlaps the backward pass; codegen/GradientBuckets.h):

- the buckets cover the gradient region (every RNC_GRADIENT tensor, to the
  end of the state block) exactly once, without gaps or overlaps;
- every gradient is written only before the sum of its bucket starts (no
  line of the step between the bucket's sum_async and comm.join() names
  its slot), i.e. a sum never races with the kernel that computes it;
- there are at least --min-buckets buckets, the first starting before the
  last backward kernel (something to overlap with), and one comm.join()
  after the last sum and before the update.

Usage: check_buckets.py FILE.cu --min-buckets N. Prints one line per failure
and exits 1, or prints "ok: B buckets over F floats".
"""
import argparse
import re
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("source")
    ap.add_argument("--min-buckets", type=int, default=2)
    a = ap.parse_args()
    text = open(a.source).read()
    fails = []

    rows = re.findall(r'\{"([^"]+)", (RNC_\w+), \d, \{[^}]*\}, (\d+)\}', text)
    offsets = [int(x) for x in
               re.search(r"const long kOffsets\[\] = \{([^}]*)\}", text)
               .group(1).replace(",", " ").split()]
    total = int(re.search(r"constexpr long kStateFloats = (\d+);", text)
                .group(1))
    grads = sorted(off for (name, kind, n), off in zip(rows, offsets)
                   if kind == "RNC_GRADIENT")
    if not grads:
        print("no gradients in the tensor table")
        return 1
    body = text[text.index("void train_step("):]
    body = body[:body.index("\n}\n")]
    lines = body.split("\n")
    sums = [(i, int(m.group(1)), int(m.group(2))) for i, l in enumerate(lines)
            for m in [re.search(r"comm\.sum_async\(S \+ (\d+), (\d+)\)", l)]
            if m]
    joins = [i for i, l in enumerate(lines) if "comm.join()" in l]
    update = next(i for i, l in enumerate(lines) if "sgd_update_all" in l)

    covered = sorted((o, o + n) for _, o, n in sums)
    at = grads[0]
    for lo, hi in covered:
        if lo != at:
            fails.append(f"bucket at {lo} leaves a gap or overlaps (expected {at})")
        at = hi
    if at != total:
        fails.append(f"the buckets end at {at}, the state block at {total}")
    if len(sums) < a.min_buckets:
        fails.append(f"{len(sums)} buckets, expected at least {a.min_buckets}")
    if len(joins) != 1 or not (sums and sums[-1][0] < joins[0] < update):
        fails.append("expected one comm.join() after the last sum_async and "
                     "before sgd_update_all")
    else:
        kernels_after_first = [l for l in lines[sums[0][0] + 1:joins[0]]
                               if re.match(r"\s+\w+(<[^;]*>)?\(", l)
                               and "comm." not in l]
        if not kernels_after_first:
            fails.append("no kernel runs beside the first sum (no overlap)")
        for line, lo, n in sums:
            for g in grads:
                if lo <= g < lo + n:
                    slot = f"(S + {g})"
                    late = [j for j in range(line + 1, joins[0])
                            if slot in lines[j]]
                    if late:
                        fails.append(f"gradient at {g} is written after its "
                                     f"bucket's sum starts: {lines[late[0]].strip()}")
    for f in fails:
        print(f)
    if fails:
        return 1
    print(f"ok: {len(sums)} buckets over {total - grads[0]} floats")
    return 0


if __name__ == "__main__":
    sys.exit(main())
