"""Stdlib-only comparison of two safetensors checkpoints and two metrics
files for the data-parallel tests (float32 and int tensors).

  close_tensors.py tensors A B RTOL   every float tensor of A within RTOL of
                                      B, relative to B's largest magnitude;
                                      prints the largest difference
  close_tensors.py losses M1 M2 RTOL  train_loss and train_acc of every
                                      epoch within RTOL (relative)
  close_tensors.py accuracy M MIN     the last epoch's test_acc >= MIN
"""
import array
import json
import struct
import sys


def read(path):
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    header.pop("__metadata__", None)
    data = blob[8 + n:]
    out = {}
    for name, v in header.items():
        raw = data[v["data_offsets"][0]:v["data_offsets"][1]]
        if v["dtype"] == "F32":
            out[name] = array.array("f", raw).tolist()
        else:
            out[name] = raw
    return out


def tensors(a_path, b_path, rtol):
    a, b = read(a_path), read(b_path)
    if a.keys() != b.keys():
        sys.exit("different tensor names: %s" % sorted(a.keys() ^ b.keys()))
    worst, where = 0.0, ""
    for name in sorted(a):
        x, y = a[name], b[name]
        if isinstance(x, bytes):
            continue
        scale = max(max(abs(v) for v in y), 1e-6)
        diff = max(abs(p - q) for p, q in zip(x, y)) / scale
        if diff > worst:
            worst, where = diff, name
    print("largest relative difference %.3g (%s), %d tensors" % (worst, where, len(a)))
    if worst > rtol:
        sys.exit("%s differs by %.3g > %g" % (where, worst, rtol))


def losses(m1, m2, rtol):
    rows = [[json.loads(l) for l in open(p)] for p in (m1, m2)]
    if len(rows[0]) != len(rows[1]):
        sys.exit("%d vs %d epochs" % (len(rows[0]), len(rows[1])))
    for r1, r2 in zip(*rows):
        for key in ("train_loss", "train_acc"):
            d = abs(r1[key] - r2[key]) / max(abs(r2[key]), 1e-6)
            if d > rtol:
                sys.exit("epoch %d %s: %r vs %r" % (r1["epoch"], key, r1[key], r2[key]))
    print("losses agree: %d epochs, last train loss %.6f vs %.6f"
          % (len(rows[0]), rows[0][-1]["train_loss"], rows[1][-1]["train_loss"]))


def accuracy(m, least):
    rows = [json.loads(l) for l in open(m)]
    if not rows:
        sys.exit("%s: no epoch" % m)
    last = rows[-1]
    print("test accuracy %.4f after %d epochs (at least %.4f)"
          % (last["test_acc"], last["epoch"], least))
    if not last["test_acc"] >= least:
        sys.exit("test accuracy %.4f < %.4f" % (last["test_acc"], least))


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "tensors":
        tensors(sys.argv[2], sys.argv[3], float(sys.argv[4]))
    elif cmd == "losses":
        losses(sys.argv[2], sys.argv[3], float(sys.argv[4]))
    elif cmd == "accuracy":
        accuracy(sys.argv[2], float(sys.argv[3]))
    else:
        sys.exit("unknown command " + cmd)
