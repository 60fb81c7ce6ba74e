"""How long the training loop waits for the data loader: rnc-run on
Fashion-MNIST as IDX files and as a folder tree of JPEG or PNG files.

  build/venv/bin/python bench/data_wait.py                 # jpeg, 2 epochs
  build/venv/bin/python bench/data_wait.py --format png --epochs 1

Writes Fashion-MNIST (the Debian IDX files) once as an image folder tree
(train/<class>/<n>.jpg, test/<class>/<n>.jpg; Pillow, JPEG quality 95) in
--out-dir, then runs `rnc-run train` (the main job's model, compiled and
cached by rnc-run) on the IDX files and on the tree, the tree once with the
decoded images cached in memory and once streamed from disk
(--cache-mb 0: every image is decoded again every epoch), each with the
same augmentation as the recipe (random crop, flip). It prints each run's
per-epoch images/s and `data_wait` (the share of the training time
next() spent waiting for a batch, from --metrics) and the total time.
"""
import argparse
import gzip
import json
import os
import subprocess
import sys
import time

import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FASHION = "/usr/share/datasets/fashion-mnist"
NAMES = ["T-shirt_top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
         "Shirt", "Sneaker", "Bag", "Ankle boot"]


def idx(path):
    data = gzip.open(path).read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def write_tree(out, fmt):
    done = os.path.join(out, ".complete")
    if os.path.exists(done):
        return
    for split, prefix in (("train", "train"), ("test", "t10k")):
        images = idx(os.path.join(FASHION, prefix + "-images-idx3-ubyte.gz"))
        labels = idx(os.path.join(FASHION, prefix + "-labels-idx1-ubyte.gz"))
        for n in NAMES:
            os.makedirs(os.path.join(out, split, n), exist_ok=True)
        for i, (img, lab) in enumerate(zip(images, labels)):
            path = os.path.join(out, split, NAMES[lab], "%05d.%s" % (i, fmt))
            kw = {"quality": 95} if fmt == "jpg" else {}
            Image.fromarray(img).save(path, **kw)
    open(done, "w").close()


def train(rnc_run, data, epochs, metrics, extra):
    cmd = [rnc_run, "train", "--data", data, "--epochs", str(epochs),
           "--crop-padding", "2", "--hflip", "--metrics", metrics] + extra
    print("$ " + " ".join(cmd), flush=True)
    start = time.time()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    rows = [json.loads(l) for l in open(metrics)]
    return time.time() - start, rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--format", choices=["jpg", "png"], default="jpg")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--out-dir", default=os.path.join(ROOT, "build", "bench-data"))
    ap.add_argument("--rnc-run", default=os.path.join(ROOT, "build", "bin", "rnc-run"))
    a = ap.parse_args()
    tree = os.path.join(a.out_dir, "fashion-" + a.format)
    t = time.time()
    write_tree(tree, a.format)
    print("tree: %s (%.0f s to write, or already there)" % (tree, time.time() - t))
    runs = [("IDX", FASHION, []),
            (a.format.upper() + " tree, cached", tree, []),
            (a.format.upper() + " tree, streamed", tree, ["--cache-mb", "0"])]
    results = []
    for name, data, extra in runs:
        metrics = os.path.join(a.out_dir, name.replace(" ", "_").replace(",", "") + ".jsonl")
        seconds, rows = train(a.rnc_run, data, a.epochs, metrics, extra)
        results.append((name, seconds, rows))
    print("\n| data | epoch | images/s | data wait | test acc |")
    print("|---|---|---|---|---|")
    for name, seconds, rows in results:
        for r in rows:
            print("| %s | %d | %.0f | %.2f%% | %.1f%% |" % (
                name, r["epoch"], r["images_per_sec"], 100 * r["data_wait"],
                100 * r["test_acc"]))
    for name, seconds, _ in results:
        print("%s: %.0f s in all (startup, scan and evaluation included)" % (name, seconds))


if __name__ == "__main__":
    sys.exit(main())
