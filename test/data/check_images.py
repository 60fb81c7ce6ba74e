"""rnc's data readers against Pillow, and rnc-run's messages for bad data.

Everything is generated here, in --out-dir:

1. Image folder trees of JPEG (baseline, progressive, 4:4:4, gray) and PNG
   (RGB, RGBA, palette with transparency, L, LA, 1-bit) files of many sizes.
   `data-dump` writes what rnc's readers deliver (decoded, resized to cover,
   center-cropped, converted to the model's channels); the reference is
   Pillow (the venv's pinned version) and torchvision's arithmetic written
   out below: Image.open().convert("RGB" or "L"), resize of the short side
   (long = int(S * long / short)) with Image.BILINEAR, crop at
   round((H - h) / 2). Tolerance: none, every pixel equal. Labels follow the
   sorted class folders; the per-channel mean and std equal numpy's over
   the reference images (1e-9).
2. CIFAR-10 and CIFAR-100 binary files written with numpy: pixels (planes
   to HWC, resized with Pillow) and labels (CIFAR-100's fine label).
3. rnc-run with the fake models (test/run/fake_model.cpp) on these trees:
   class names from the folders in eval's table and in predict's output,
   the channel check, the scan cache; then one bad thing at a time
   (truncated and corrupt JPEG/PNG, a CRC error, text and GIF files named
   as images, an empty file, a CMYK JPEG, an empty class folder, a folder
   that cannot be read, a dangling link, truncated CIFAR batches, bad CIFAR
   labels): without --skip-bad-images exit status 1 and exactly one line
   naming the file and the reason; with it, the run goes on and reports
   each skipped file and their count.
Exit status 0 only if every check passes.
"""
import argparse
import io
import json
import os
import re
import shutil
import sys

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "python"))
from rnc_py.checks import check, run, summary  # noqa: E402


# ---- the reference pipeline (Pillow + torchvision's arithmetic) ----

def cover_size(h, w, H, W):
    """rnc's coverSize; for H == W it is torchvision's Resize(H)."""
    if H * w >= W * h:
        return H, max(W, H * w // h)
    return max(H, W * h // w), W


def reference(path, C, H, W):
    img = Image.open(path).convert("RGB" if C == 3 else "L")
    w, h = img.size
    if (h, w) != (H, W):
        nh, nw = cover_size(h, w, H, W)
        img = img.resize((nw, nh), Image.BILINEAR)
        top = int(round((nh - H) / 2.0))
        left = int(round((nw - W) / 2.0))
        img = img.crop((left, top, left + W, top + H))
    return np.asarray(img).reshape(H, W, C)


def dump(tool, data, split, C, H, W, out, *extra):
    p = run(tool, data, split, C, H, W, out, *extra)
    if p.returncode != 0:
        return None, p.stderr.strip()
    j = json.load(open(out + ".json"))
    n = len(j.get("names", []))
    px = np.fromfile(out + ".u8", np.uint8).reshape(n, H, W, C)
    return (j, px), ""


# ---- generated data ----

def smooth(h, w, c, seed):
    """A photo-like image: gradients plus a little noise (JPEG-friendly)."""
    r = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    planes = [(y * (3 + seed % 5) + x * (2 + k) + 60 * k + seed * 7) % 256
              for k in range(c)]
    a = np.stack(planes, -1) + r.integers(0, 24, (h, w, c))
    return np.clip(a, 0, 255).astype(np.uint8)


def save(path, arr, mode, **kw):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    img = Image.fromarray(arr[:, :, 0] if arr.shape[2] == 1 else arr)
    if mode != img.mode:
        img = img.convert(mode)
    img.save(path, **kw)


def rgb_tree(root):
    """Three classes, every kind of file, odd sizes; val/ has two classes."""
    kinds = [
        ("a.jpg", (37, 53, 3), "RGB", {"quality": 90}),
        ("b.jpg", (64, 48, 3), "RGB", {"quality": 75, "progressive": True}),
        ("c.jpg", (31, 31, 3), "RGB", {"quality": 95, "subsampling": 0}),
        ("d.jpg", (45, 28, 1), "L", {"quality": 85}),
        ("e.png", (23, 70, 3), "RGB", {}),
        ("f.png", (50, 50, 4), "RGBA", {}),
        ("g.png", (40, 33, 3), "P", {"transparency": 0}),
        ("h.png", (19, 24, 1), "L", {}),
        ("i.png", (30, 36, 2), "LA", {}),
        ("j.png", (26, 26, 1), "1", {}),
        ("sub/k.png", (12, 40, 3), "RGB", {}),
    ]
    classes = ["cat", "dog", "zebra crossing"]
    seed = 0
    for split, names in (("train", classes), ("val", classes[1:])):
        for cls in names:
            for name, (h, w, c), mode, kw in kinds:
                seed += 1
                a = smooth(h, w, min(c, 3), seed)
                if c in (2, 4):  # add an alpha channel
                    alpha = np.full((h, w, 1), 128 + seed % 100, np.uint8)
                    a = np.concatenate([a if c == 4 else a[:, :, :1], alpha], -1)
                    save(os.path.join(root, split, cls, name),
                         a, mode, **kw)
                    continue
                save(os.path.join(root, split, cls, name), a, mode, **kw)
    return classes


def gray_tree(root):
    for split in ("train", "test"):
        for k, cls in enumerate(["0", "1"]):
            for i, (h, w) in enumerate([(28, 28), (40, 30), (9, 17)]):
                a = smooth(h, w, 1, 100 + 10 * k + i)
                save(os.path.join(root, split, cls, "%d.png" % i), a, "L")
                save(os.path.join(root, split, cls, "%d.jpg" % i), a, "L",
                     quality=80)


def cifar_records(n, seed, label_bytes):
    r = np.random.default_rng(seed)
    labels = r.integers(0, 10 if label_bytes == 1 else 100, (n, label_bytes))
    if label_bytes == 2:
        labels[:, 0] = r.integers(0, 20, n)
    pixels = r.integers(0, 256, (n, 3, 32, 32))
    recs = np.concatenate([labels, pixels.reshape(n, -1)], 1).astype(np.uint8)
    return recs, labels[:, -1], pixels.astype(np.uint8)


def cifar10(root, per_batch=20):
    os.makedirs(root, exist_ok=True)
    all_px, all_labels = [], []
    for b in range(1, 6):
        recs, labels, px = cifar_records(per_batch, b, 1)
        recs.tofile(os.path.join(root, "data_batch_%d.bin" % b))
        all_px.append(px)
        all_labels.append(labels)
    recs, labels, px = cifar_records(10, 9, 1)
    recs.tofile(os.path.join(root, "test_batch.bin"))
    with open(os.path.join(root, "batches.meta.txt"), "w") as f:
        f.write("\n".join(["airplane", "automobile", "bird", "cat", "deer",
                           "dog", "frog", "horse", "ship", "truck"]) + "\n\n")
    return np.concatenate(all_px), np.concatenate(all_labels)


# ---- the checks ----

def compare_tree(a, data, split, C, H, W, what):
    out = os.path.join(a.out_dir, "dump-%s-%s-%dx%dx%d" % (what, split, C, H, W))
    res, err = dump(a.data_dump, data, split, C, H, W, out)
    if res is None:
        check(False, "%s %s: data-dump failed: %s" % (what, split, err))
        return None
    j, px = res
    worst, worst_name = 0, ""
    for k, name in enumerate(j["names"]):
        d = np.abs(reference(name, C, H, W).astype(int) - px[k].astype(int)).max()
        if d > worst:
            worst, worst_name = d, name
    check(worst == 0, "%s %s at %dx%dx%d: %d images equal Pillow's pixel for "
          "pixel (largest difference %d%s)" % (what, split, C, H, W,
                                                len(j["names"]), worst,
                                                " in " + worst_name if worst else ""))
    classes = sorted(os.listdir(os.path.join(data, "train")))
    folder = split if split == "train" or not os.path.isdir(
        os.path.join(data, "val")) else "val"
    want = [classes.index(os.path.relpath(n, os.path.join(data, folder)).split(os.sep)[0])
            for n in j["names"]]
    check(j["labels"] == want and j["classes"] == classes,
          "%s %s: labels are the indices of the sorted class folders %s"
          % (what, split, classes))
    return j, px


def check_stats(j, px, what):
    x = px.astype(np.float64) / 255.0
    mean = x.reshape(-1, x.shape[-1]).mean(0)
    std = x.reshape(-1, x.shape[-1]).std(0)
    ok = (np.abs(np.array(j["mean"]) - mean).max() < 1e-9 and
          np.abs(np.array(j["std"]) - std).max() < 1e-9)
    check(ok, "%s: per-channel mean %s and std %s equal numpy's"
          % (what, np.round(mean, 4).tolist(), np.round(std, 4).tolist()))


def check_cifar(a):
    root = os.path.join(a.out_dir, "cifar10")
    px, labels = cifar10(root)
    for size in (32, 20):
        out = os.path.join(a.out_dir, "dump-cifar10-%d" % size)
        res, err = dump(a.data_dump, root, "train", 3, size, size, out)
        if res is None:
            check(False, "cifar10: data-dump failed: " + err)
            return
        j, got = res
        want = np.stack([np.asarray(Image.fromarray(p.transpose(1, 2, 0)).resize(
            (size, size), Image.BILINEAR)) for p in px])
        check(np.array_equal(got, want) and j["labels"] == labels.tolist(),
              "CIFAR-10 at %dx%d: 100 records' pixels (planes to RGB%s) and "
              "labels" % (size, size, ", Pillow's resize" if size != 32 else ""))
        check(j["classes"][0] == "airplane" and len(j["classes"]) == 10,
              "CIFAR-10 class names from batches.meta.txt")
    root = os.path.join(a.out_dir, "cifar100", "cifar-100-binary")
    os.makedirs(root, exist_ok=True)
    recs, fine, px = cifar_records(30, 5, 2)
    recs.tofile(os.path.join(root, "train.bin"))
    cifar_records(5, 6, 2)[0].tofile(os.path.join(root, "test.bin"))
    res, err = dump(a.data_dump, os.path.dirname(root), "train", 3, 32, 32,
                    os.path.join(a.out_dir, "dump-cifar100"))
    ok = res is not None and res[0]["labels"] == fine.tolist() and \
        np.array_equal(res[1], px.transpose(0, 2, 3, 1))
    check(ok, "CIFAR-100 (found in cifar-100-binary/): the fine labels and "
          "the pixels " + err)


def one_line_error(p, expected, what):
    lines = p.stderr.splitlines()
    ok = p.returncode == 1 and len(lines) == 1 and lines[0] == expected
    check(ok, "%s: exit 1 and one line: %s" % (what, expected))
    if not ok:
        print("      got (%d): %r" % (p.returncode, p.stderr))


def check_runs(a):
    fake = os.path.join(a.fake_models, "fake_model.so")
    fake_rgb = os.path.join(a.fake_models, "fake_model_rgb.so")
    cache = os.path.join(a.out_dir, "cache")
    env = {"XDG_CACHE_HOME": cache}
    tree = os.path.join(a.out_dir, "rgb")
    shutil.rmtree(cache, ignore_errors=True)

    def train(model, data, *extra):
        epochs = [] if "--epochs" in extra else ["--epochs", "1"]
        return run(a.rnc_run, "train", model, "--data", data, *epochs,
                   "--batch-size", "8", *extra, env=env)

    ck = os.path.join(a.out_dir, "rgb.safetensors")
    p = train(fake_rgb, tree, "--checkpoint", ck, "--crop-padding", "2",
              "--hflip", "--random-erasing", "0.5")
    check(p.returncode == 0 and
          "data   checking the 33 images of %s/train" % tree in p.stdout and
          "(image folder, 3 classes); batch 8" in p.stdout,
          "rnc-run trains on an image folder (checks its 33 images once)")
    if p.returncode:
        print(p.stdout, p.stderr)
    m1, m2 = (os.path.join(a.out_dir, "m%d.jsonl" % i) for i in (1, 2))
    p = train(fake_rgb, tree, "--metrics", m1, "--epochs", "2")
    check(p.returncode == 0 and "checking" not in p.stdout and
          "train cached in memory" in p.stdout,
          "the second run uses the cached scan (no 'checking' line)")
    p = train(fake_rgb, tree, "--metrics", m2, "--epochs", "2", "--cache-mb", "0",
              "--threads", "5")
    losses = [[[json.loads(l)[k] for k in ("train_loss", "test_acc")]
               for l in open(m)] for m in (m1, m2)]
    check(p.returncode == 0 and "train streamed from disk" in p.stdout and
          losses[0] == losses[1],
          "streamed from disk (--cache-mb 0) with 5 threads: the same losses "
          "as cached in memory with 2")
    os.utime(os.path.join(tree, "train", "cat", "a.jpg"), (1, 1))
    p = train(fake_rgb, tree)
    check(p.returncode == 0 and "checking the 33 images" in p.stdout,
          "a changed file (modification time) makes the scan run again")

    p = run(a.rnc_run, "eval", fake_rgb, "--data", tree, "--checkpoint", ck, env=env)
    check(p.returncode == 0 and re.search(r"^zebra crossing +[0-9.]+%", p.stdout, re.M)
          and re.search(r"^cat +[0-9.]+% +0 / 0", p.stdout, re.M),
          "eval's per-class table names the folders' classes (val/ has no cat)")
    # The fake model has 10 outputs; the classes it was not trained on are
    # "class 3" to "class 9".
    p = run(a.rnc_run, "predict", fake_rgb, "--checkpoint", ck, "--top", "10",
            os.path.join(tree, "val", "dog", "a.jpg"))
    check(p.returncode == 0 and
          sorted(re.findall(r"(cat|dog|zebra crossing|class \d) [0-9.]+%", p.stdout)) ==
          ["cat", "class 3", "class 4", "class 5", "class 6", "class 7", "class 8",
           "class 9", "dog", "zebra crossing"],
          "predict prints the checkpoint's class names: " + p.stdout.strip()[:70])

    one_line_error(train(fake, tree),
                   "%s: the images are RGB (3 channels), but %s takes 1-channel "
                   "input; compile it with --input 3x12x12" % (tree, fake),
                   "gray model on RGB images")
    gtree = os.path.join(a.out_dir, "gray")
    one_line_error(train(fake_rgb, gtree),
                   "%s: the images are gray (1 channel), but %s takes 3-channel "
                   "input; compile it with --input 1x12x12" % (gtree, fake_rgb),
                   "RGB model on gray images")
    p = train(fake, gtree)
    check(p.returncode == 0, "gray model on a gray tree")
    cif = os.path.join(a.out_dir, "cifar10")
    p = train(fake_rgb, cif, "--checkpoint", os.path.join(a.out_dir, "c.safetensors"))
    check(p.returncode == 0 and "(CIFAR-10, 10 classes)" in p.stdout,
          "rnc-run trains on CIFAR-10 batches")
    p = run(a.rnc_run, "eval", fake_rgb, "--data", cif, "--checkpoint",
            os.path.join(a.out_dir, "c.safetensors"), env=env)
    check(p.returncode == 0 and re.search(r"^airplane +[0-9.]+%", p.stdout, re.M),
          "eval on CIFAR-10 shows its class names")
    one_line_error(train(fake_rgb, tree, "--data-format", "cifar10"),
                   "%s/data_batch_1.bin: cannot open: No such file or directory "
                   "(the CIFAR-10 files of this split)" % tree,
                   "--data-format cifar10 on a folder tree")

    # One bad thing at a time, in a copy of the gray tree.
    good = open(os.path.join(gtree, "train", "0", "0.jpg"), "rb").read()
    png = open(os.path.join(gtree, "train", "0", "0.png"), "rb").read()
    buf = io.BytesIO()
    Image.fromarray(smooth(20, 20, 3, 1)).convert("CMYK").save(buf, "JPEG")
    cmyk = buf.getvalue()
    idat = png.index(b"IDAT")
    length = int.from_bytes(png[idat - 4:idat], "big")
    crc = bytearray(png)
    crc[idat + 4 + length] ^= 0xFF  # the chunk's CRC, after its data
    gif = io.BytesIO()
    Image.fromarray(smooth(8, 8, 1, 2)[:, :, 0]).save(gif, "GIF")
    cases = [
        ("truncated.jpg", good[:len(good) // 2], "corrupt JPEG: Premature end of JPEG file"),
        ("header-only.jpg", good[:3], "corrupt JPEG: Premature end of JPEG file"),
        ("truncated.png", png[:len(png) // 2], "corrupt PNG: the file ends early (truncated)"),
        ("crc.png", bytes(crc), "corrupt PNG: IDAT: CRC error"),
        ("notes.jpg", b"these are not pixels\n", "not a JPEG or PNG image: it starts "
         "with bytes 74 68 65 73 (text?)"),
        ("anim.png", gif.getvalue(), "not a JPEG or PNG image: it starts with "
         "bytes 47 49 46 38 (a GIF)"),
        ("empty.png", b"", "empty file"),
        ("cmyk.jpg", cmyk, "unsupported JPEG color space (CMYK); convert it to RGB"),
    ]
    work = os.path.join(a.out_dir, "bad")
    for name, content, reason in cases:
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(gtree, work)
        path = os.path.join(work, "train", "1", name)
        with open(path, "wb") as f:
            f.write(content)
        bad_case(a, train, fake, work, path, reason, name)
    special = [
        ("empty class folder", lambda w: os.makedirs(os.path.join(w, "train", "2")),
         "train/2", "empty class folder: no images", True),
        ("unreadable class folder (a symbolic link loop)",
         lambda w: os.symlink("loop", os.path.join(w, "train", "loop")),
         "train/loop", "cannot read: Too many levels of symbolic links", False),
        ("dangling link", lambda w: os.symlink("nowhere.png", os.path.join(w, "train", "1", "x.png")),
         "train/1/x.png", "cannot read: No such file or directory", False),
        ("bad file in the test split", lambda w: open(os.path.join(w, "test", "1", "t.png"), "w").write("x"),
         "test/1/t.png", "not a JPEG or PNG image: it starts with bytes 78 (text?)", False),
    ]
    if os.geteuid() != 0:  # root can read anything
        special.append(("file without read permission",
                        lambda w: os.chmod(os.path.join(w, "train", "1", "0.png"), 0),
                        "train/1/0.png", "cannot open: Permission denied", False))
    for what, make, rel, reason, new_class in special:
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(gtree, work)
        make(work)
        bad_case(a, train, fake, work, os.path.join(work, rel), reason, what,
                 new_class)

    # CIFAR: a truncated batch and a bad label.
    bad_cifar = os.path.join(a.out_dir, "bad-cifar")
    shutil.rmtree(bad_cifar, ignore_errors=True)
    shutil.copytree(cif, bad_cifar)
    b3 = os.path.join(bad_cifar, "data_batch_3.bin")
    recs = np.fromfile(b3, np.uint8).reshape(-1, 3073)
    recs[4, 0] = 10
    recs.tofile(b3)
    bad_case(a, train, fake_rgb, bad_cifar, b3,
             "record 4: label 10 is out of range [0, 9]", "CIFAR bad label")
    with open(b3, "ab") as f:
        f.write(b"\0" * 100)
    recs[4, 0] = 1
    recs.tofile(b3)
    with open(b3, "ab") as f:
        f.write(b"\0" * 100)
    bad_case(a, train, fake_rgb, bad_cifar, b3,
             "truncated: 61560 bytes is not a whole number of 3073-byte records "
             "(record 20 is cut short after 100 bytes)", "CIFAR truncated batch")


def bad_case(a, train, model, data, path, reason, what, new_class=False):
    p = train(model, data)
    one_line_error(p, "%s: %s (--skip-bad-images skips bad files)" % (path, reason),
                   "bad data, %s" % what)
    p = train(model, data, "--skip-bad-images")
    lines = p.stderr.splitlines()
    ok = (p.returncode == 0 and lines == ["rnc-run: skipped %s: %s" % (path, reason)]
          and "1 bad files skipped" in p.stdout)
    check(ok, "bad data, %s, with --skip-bad-images: skipped, reported, counted"
          % what)
    if not ok:
        print("      got (%d): %r %r" % (p.returncode, p.stderr, p.stdout[-300:]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dump", required=True)
    ap.add_argument("--rnc-run", required=True)
    ap.add_argument("--fake-models", required=True)
    ap.add_argument("--out-dir", required=True)
    a = ap.parse_args()
    shutil.rmtree(a.out_dir, ignore_errors=True)
    os.makedirs(a.out_dir)

    tree = os.path.join(a.out_dir, "rgb")
    rgb_tree(tree)
    for C, H, W in ((3, 24, 24), (3, 17, 29), (3, 56, 56)):
        res = compare_tree(a, tree, "train", C, H, W, "RGB tree")
        if res and (H, W) == (24, 24):
            check(res[0]["channels"] == 3, "a tree with one color image is RGB")
            check_stats(*res, "RGB tree")
    compare_tree(a, tree, "test", 3, 24, 24, "RGB tree val")
    gtree = os.path.join(a.out_dir, "gray")
    gray_tree(gtree)
    res = compare_tree(a, gtree, "train", 1, 12, 12, "gray tree")
    if res:
        check(res[0]["channels"] == 1, "a tree of gray images is gray")
        check_stats(*res, "gray tree")
    check_cifar(a)
    check_runs(a)

    return summary()


if __name__ == "__main__":
    sys.exit(main())
