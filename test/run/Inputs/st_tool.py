"""Stdlib-only checks of safetensors files and metrics for the rnc-run tests.

  st_tool.py same-tensors A B      every tensor of A and B bit-identical
  st_tool.py meta FILE KEY         print one __metadata__ value
  st_tool.py same-losses M1 M2     the metrics lines agree on train_loss,
                                   train_acc and test_acc, epoch by epoch
"""
import json
import struct
import sys


def read(path):
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    data = blob[8 + n:]
    meta = header.pop("__metadata__", {})
    tensors = {k: (v["dtype"], v["shape"], data[v["data_offsets"][0]:v["data_offsets"][1]])
               for k, v in header.items()}
    return meta, tensors


def main(argv):
    cmd = argv[1]
    if cmd == "same-tensors":
        _, a = read(argv[2])
        _, b = read(argv[3])
        if a.keys() != b.keys():
            sys.exit("different tensor names: %s" % sorted(a.keys() ^ b.keys()))
        diff = [k for k in a if a[k] != b[k]]
        if diff:
            sys.exit("%d tensors differ, e.g. %s" % (len(diff), diff[:3]))
        print("tensors identical: %d" % len(a))
    elif cmd == "meta":
        meta, _ = read(argv[2])
        print(meta[argv[3]])
    elif cmd == "same-losses":
        rows = [[json.loads(l) for l in open(p)] for p in argv[2:4]]
        keys = ("epoch", "train_loss", "train_acc", "test_acc")
        a = [[r[k] for k in keys] for r in rows[0]]
        b = [[r[k] for k in keys] for r in rows[1]]
        if a != b:
            sys.exit("losses differ:\n%s\n%s" % (a, b))
        print("losses identical: %d epochs" % len(a))
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main(sys.argv)
