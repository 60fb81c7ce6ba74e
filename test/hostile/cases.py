"""The hostile-input table replayed by hostile.py: one row per corrupt or
hostile input, with the exit status and message each tool must give.

A row: C(name, tool, args, expect, setup=[...], outputs=[...], ...). Paths in
args are relative to the case's own folder; {fixtures} is the shared
fixtures folder (a small Fashion-MNIST-shaped data set, a good checkpoint of
the fake model). `setup` steps run in the case folder before the command;
`outputs` are glob patterns of the files the command may create or change
(none by default: everything else in the folder is an input and must stay
byte for byte).
"""
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import time


MODELS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                      "models")


class C:
    def __init__(self, name, tool, args, expect, setup=(), status=1, lines=1,
                 outputs=(), env=None, timeout=60, custom=None, checks=(),
                 stdout=None):
        self.name, self.tool, self.args, self.expect = name, tool, args, expect
        self.setup, self.status, self.lines = list(setup), status, lines
        self.outputs, self.env = list(outputs), dict(env or {})
        self.timeout, self.custom, self.checks = timeout, custom, list(checks)
        self.stdout = stdout


# --- safetensors, stdlib only ----------------------------------------------

def read_st(path):
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    return json.loads(blob[8:8 + n]), blob[8 + n:]


def write_st(path, header, data, raw_header=None):
    text = raw_header if raw_header is not None else json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)


# --- setup steps (run in the case folder) -----------------------------------

def fake(dst="m.so", name="fake_model"):
    return lambda env: shutil.copy(env.fake(name), dst)


def write(name, content):
    def step(env):
        with open(name, "wb") as f:
            f.write(content if isinstance(content, bytes) else content.encode())
    return step


def fifo(name):
    return lambda env: os.mkfifo(name)


def symlink(name, target):
    return lambda env: os.symlink(target, name)


def mkdir(name):
    return lambda env: os.makedirs(name)


class Skip(Exception):
    """A case that cannot run here (hostile.py reports it as SKIPPED)."""


def device(name, kind):
    """A private character device node in the case folder, the same device
    as /dev/<kind> (null, zero, urandom). The cases never name the real
    /dev files: a tool with the bug they test would replace them with a
    regular file (as root, for the whole machine)."""
    numbers = {"null": (1, 3), "zero": (1, 5), "urandom": (1, 9)}

    def step(env):
        if os.geteuid() != 0:
            raise Skip("making a device node needs root")
        os.mknod(name, 0o666 | 0o020000, os.makedev(*numbers[kind]))
    return step


def sparse(name, size):
    def step(env):
        with open(name, "wb") as f:
            f.truncate(size)
    return step


def damaged_model(dst, how):
    """A stamped fake model cut short or with bytes flipped."""
    def step(env):
        with open(env.fake(), "rb") as f:
            b = bytearray(f.read())
        if how == "cut":
            b = b[:len(b) * 2 // 3]
        elif how == "flip":
            for at in (64, len(b) // 2, len(b) // 2 + 1):
                b[at] ^= 0xFF
        elif how == "unstamped":
            b = b[:-64]
        elif how == "empty":
            b = b""
        with open(dst, "wb") as f:
            f.write(bytes(b))
    return step


def ckpt(dst, meta=None, tensors=None, raw_header=None, data=None):
    """The fixtures' good checkpoint, changed: meta(m) edits __metadata__,
    tensors(header, data) -> data edits tensors."""
    def step(env):
        header, blob = read_st(os.path.join(env.fixtures, "good.safetensors"))
        if meta:
            meta(header["__metadata__"])
        if tensors:
            blob = tensors(header, blob)
        write_st(dst, header, blob if data is None else data,
                 raw_header=raw_header)
    return step


def set_option(key, value):
    def edit(m):
        o = json.loads(m["train_options"])
        if value is None:
            del o[key]
        else:
            o[key] = value
        m["train_options"] = json.dumps(o)
    return edit


def set_meta(key, value):
    def edit(m):
        m[key] = value
    return edit


def poison(name, value):
    """Writes `value` (a float) into the first element of tensor `name`."""
    def edit(header, blob):
        begin = header[name]["data_offsets"][0]
        return blob[:begin] + struct.pack("<f", value) + blob[begin + 4:]
    return edit


def shape(name, dims):
    def edit(header, blob):
        header[name]["shape"] = dims
        return blob
    return edit


def png(name, truncate=None):
    """A 20x20 gray PNG (stdlib zlib), optionally cut short."""
    import zlib

    def chunk(kind, body):
        crc = zlib.crc32(kind + body) & 0xffffffff
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    def step(env):
        raw = b"".join(b"\0" + bytes([x * 12 % 256 for x in range(20)])
                       for _ in range(20))
        b = (b"\x89PNG\r\n\x1a\n" +
             chunk(b"IHDR", struct.pack(">IIBBBBB", 20, 20, 8, 0, 0, 0, 0)) +
             chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
        with open(name, "wb") as f:
            f.write(b[:truncate] if truncate else b)
    return step


def spec(dst, name="tiny"):
    """A copy of the shipped spec models/<name>.json."""
    return lambda env: shutil.copy(os.path.join(MODELS, name + ".json"), dst)


def idx(name, dims, payload=None):
    def step(env):
        head = bytes([0, 0, 8, len(dims)]) + b"".join(struct.pack(">I", d)
                                                     for d in dims)
        n = 1
        for d in dims:
            n *= d
        body = payload if payload is not None else bytes(n)
        with open(name, "wb") as f:
            f.write(head + body)
    return step


# --- fixtures shared by the cases -------------------------------------------

def make_fixtures(env):
    os.makedirs(os.path.join(env.fixtures, "data"))
    data = os.path.join(env.fixtures, "data")
    for prefix, n in (("train", 256), ("t10k", 128)):
        images = bytes((i * 7 + j) % 256 for i in range(n) for j in range(784))
        with open(os.path.join(data, prefix + "-images-idx3-ubyte"), "wb") as f:
            f.write(bytes([0, 0, 8, 3]) + struct.pack(">III", n, 28, 28) + images)
        with open(os.path.join(data, prefix + "-labels-idx1-ubyte"), "wb") as f:
            f.write(bytes([0, 0, 8, 1]) + struct.pack(">I", n) +
                    bytes(i % 10 for i in range(n)))
    good = os.path.join(env.fixtures, "good.safetensors")
    subprocess.run([env.tools["rnc-run"], "train", env.fake(), "--epochs", "2",
                    "--stop-after", "1", "--data", data, "--checkpoint", good],
                   check=True, stdout=subprocess.DEVNULL,
                   env=dict(os.environ, TMPDIR=env.fixtures))
    for leftover in os.listdir(env.fixtures):
        if leftover.endswith(".lock") or ".best." in leftover:
            os.remove(os.path.join(env.fixtures, leftover))


# --- custom cases -------------------------------------------------------------

def concurrent_checkpoint(env, argv, folder, run_env):
    """A second run given the checkpoint a first one is writing is refused;
    the first finishes and its checkpoint is whole."""
    slow = dict(run_env, RNC_CHECKPOINT_WRITE_DELAY_MS="3000")
    first = subprocess.Popen(argv, cwd=folder, env=slow,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    lock = os.path.join(folder, "run.safetensors.lock")
    deadline = time.time() + 30
    while not os.path.exists(lock) and time.time() < deadline:
        time.sleep(0.05)
    second = subprocess.run(argv, cwd=folder, env=run_env,
                            capture_output=True, timeout=60)
    err = second.stderr.decode()
    problems = []
    if second.returncode != 1 or not re.search(
            r"run\.safetensors: cannot write --checkpoint: another process is "
            r"writing it \(pid \d+ holds .*run\.safetensors\.lock\)", err):
        problems.append("second run: status %d, %s" % (second.returncode, err))
    _, ferr = first.communicate(timeout=120)
    if first.returncode != 0:
        problems.append("first run failed: %s" % ferr.decode())
    header, _ = read_st(os.path.join(folder, "run.safetensors"))
    if header["__metadata__"]["epoch"] != "1":
        problems.append("first run's checkpoint is not epoch 1")
    return problems


def model_cut_while_training(env, argv, folder, run_env):
    """The model file cut short in place while rnc-run trains it (a `cp`
    over it): the run goes on with the copy it checked and loaded."""
    proc = subprocess.Popen(argv, cwd=folder, env=run_env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(1.0)
    with open(os.path.join(folder, "m.so"), "r+b") as f:
        f.truncate(3000)
    time.sleep(2.0)
    problems = []
    if proc.poll() is not None:
        problems.append("rnc-run ended (status %d) after its model file was "
                        "cut: %s" % (proc.returncode,
                                     proc.stderr.read().decode()[-500:]))
    else:
        proc.terminate()
        proc.wait(timeout=30)
    return problems


def train_interrupted(env, argv, folder, run_env):
    """Ctrl-C (SIGINT) during training, in the middle of a checkpoint save:
    rnc-run dies of the signal, the checkpoint on disk is the previous
    whole one, and neither its lock nor the temporary file stays behind."""
    slow = dict(run_env, RNC_CHECKPOINT_WRITE_DELAY_MS="2000")
    proc = subprocess.Popen(argv, cwd=folder, env=slow,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ckpt = os.path.join(folder, "c.st")
    deadline = time.time() + 60
    # The first save completes; interrupt the second halfway.
    while time.time() < deadline and not os.path.exists(ckpt):
        time.sleep(0.05)
    while time.time() < deadline and not any(
            n.startswith("c.st.partial.") for n in os.listdir(folder)):
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=30)
    problems = []
    if proc.returncode != -signal.SIGINT:
        problems.append("rnc-run ended with %d, expected death by SIGINT" %
                        proc.returncode)
    header, _ = read_st(ckpt)
    if header["__metadata__"]["epoch"] != "1":
        problems.append("c.st is not the whole epoch-1 checkpoint")
    return problems


def compile_killed(env, argv, folder, run_env):
    """SIGTERM to `rnc compile` while the C++ compiler runs: the compiler's
    whole process group ends, its build folder and temporary output go, and
    rnc dies of the signal."""
    proc = subprocess.Popen(argv, cwd=folder, env=run_env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    tmp = run_env["TMPDIR"]
    deadline = time.time() + 60
    while time.time() < deadline and not any(
            n.startswith("rnc-build") for n in os.listdir(tmp)):
        time.sleep(0.05)
    time.sleep(1.0)  # the compiler is running now
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    time.sleep(0.5)
    problems = []
    if proc.returncode != -signal.SIGTERM:
        problems.append("rnc ended with %d, expected death by SIGTERM" %
                        proc.returncode)
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        if tmp in cmd or folder + "/" in cmd:
            problems.append("process left running: %s %s" % (pid, cmd[:200]))
    return problems


def no_file(pattern):
    def check(folder):
        found = [n for n in os.listdir(folder) if re.search(pattern, n)]
        return ["left behind: %s" % found] if found else []
    return check


# --- the table ----------------------------------------------------------------

D = ["--data", "{fixtures}/data"]
QUICK = ["--epochs", "1"] + D
RUN, OPT, RNC = "rnc-run", "rnc-opt", "rnc"

CASES = [
    # Class 1: outputs that would destroy inputs or system files.
    C("metrics-is-the-model", RUN, ["train", "m.so", "--metrics", "m.so"] + QUICK,
      r"^m\.so: cannot write --metrics: it is the model \(m\.so\); give another file$",
      setup=[fake()]),
    C("metrics-kept-when-data-bad", RUN,
      ["train", "m.so", "--metrics", "keep.jsonl", "--data", "nodata"],
      r"^nodata: no data set found: expected IDX files",
      setup=[fake(), write("keep.jsonl", '{"epoch": 1}\n'), mkdir("nodata")]),
    C("metrics-hard-link-to-model", RUN, ["train", "m.so", "--metrics", "h.jsonl"] + QUICK,
      r"^h\.jsonl: cannot write --metrics: it is the model \(m\.so\)",
      setup=[fake(), lambda env: os.link("m.so", "h.jsonl")]),
    C("metrics-inside-data-folder", RUN,
      ["train", "m.so", "--metrics", "d/m.jsonl", "--data", "d"],
      r"^d/m\.jsonl: cannot write --metrics: it is inside the data folder \(--data\) \(d\); give a file elsewhere$",
      setup=[fake(), mkdir("d")]),
    C("metrics-is-a-folder", RUN, ["train", "m.so", "--metrics", "dir"] + QUICK,
      r"^dir: cannot write --metrics: it is a directory, not a regular file",
      setup=[fake(), mkdir("dir")]),
    C("metrics-is-dev-null", RUN, ["train", "m.so", "--metrics", "null"] + QUICK,
      r"^null: cannot write --metrics: it is a character device, not a regular file",
      setup=[fake(), device("null", "null")]),
    C("metrics-folder-missing", RUN, ["train", "m.so", "--metrics", "no/m.jsonl"] + QUICK,
      r"^no/m\.jsonl: cannot write --metrics: No such file or directory$",
      setup=[fake()]),
    C("metrics-is-checkpoint", RUN,
      ["train", "m.so", "--metrics", "x.st", "--checkpoint", "x.st"] + QUICK,
      r"^x\.st: cannot write --metrics: it is also --checkpoint; give them different files$",
      setup=[fake()]),
    C("plot-would-be-the-model", RUN, ["train", "m.svg", "--metrics", "m.jsonl"] + QUICK,
      r"^m\.svg: cannot write the plot of --metrics: it is the model \(m\.svg\)",
      setup=[fake("m.svg")]),
    C("checkpoint-is-the-model", RUN, ["train", "m.so", "--checkpoint", "m.so"] + QUICK,
      r"^m\.so: cannot write --checkpoint: it is the model \(m\.so\); give another file$",
      setup=[fake()]),
    C("checkpoint-is-a-symlink", RUN, ["train", "m.so", "--checkpoint", "link.st"] + QUICK,
      r"^link\.st: cannot write --checkpoint: it is a symbolic link; rnc replaces files, never links",
      setup=[fake(), write("target.st", "keep"), symlink("link.st", "target.st")]),
    C("checkpoint-is-a-dangling-symlink", RUN,
      ["train", "m.so", "--checkpoint", "link.st"] + QUICK,
      r"^link\.st: cannot write --checkpoint: it is a symbolic link",
      setup=[fake(), symlink("link.st", "/nonexistent/elsewhere")]),
    C("checkpoint-is-a-fifo", RUN, ["train", "m.so", "--checkpoint", "p.st"] + QUICK,
      r"^p\.st: cannot write --checkpoint: it is a FIFO, not a regular file",
      setup=[fake(), fifo("p.st")]),
    C("checkpoint-is-a-device", RUN, ["train", "m.so", "--checkpoint", "zero"] + QUICK,
      r"^zero: cannot write --checkpoint: it is a character device",
      setup=[fake(), device("zero", "zero")]),
    C("checkpoint-is-dev-null", RUN, ["train", "m.so", "--checkpoint", "null"] + QUICK,
      r"^null: cannot write --checkpoint: it is a character device",
      setup=[fake(), device("null", "null")]),
    C("best-checkpoint-is-the-model", RUN,
      ["train", "m.best.safetensors", "--checkpoint", "m.safetensors"] + QUICK,
      r"^m\.best\.safetensors: cannot write the best checkpoint: it is the model",
      setup=[fake("m.best.safetensors")],
      ),
    C("checkpoint-is-the-resume-of-another", RUN,
      ["train", "m.so", "--resume", "r.st", "--checkpoint", "r.st", "--epochs", "1"] + D,
      r"^rnc-run: the checkpoint has already trained 1 of 1 epochs",
      setup=[fake(), ckpt("r.st")]),
    C("checkpoint-lock-foreign-file", RUN, ["train", "m.so", "--checkpoint", "c.st"] + QUICK,
      r"^c\.st: cannot write --checkpoint: c\.st\.lock exists and is not an rnc lock file",
      setup=[fake(), write("c.st.lock", "my notes")]),
    C("checkpoint-concurrent-writers", RUN,
      ["train", "m.so", "--checkpoint", "run.safetensors", "--epochs", "2",
       "--stop-after", "1"] + D,
      None, setup=[fake()], custom=concurrent_checkpoint,
      outputs=["run.safetensors", "run.best.safetensors"]),
    C("checkpoint-stale-partial-removed", RUN,
      ["train", "m.so", "--checkpoint", "c.st"] + QUICK, None, status=0, lines=0,
      setup=[fake(), write("c.st.partial.99999.0", "left by a killed run")],
      outputs=["c.st", "c.st.best", "c.st.partial.99999.0"],
      checks=[no_file(r"partial|lock")]),
    C("train-interrupted-during-save", RUN,
      ["train", "m.so", "--checkpoint", "c.st", "--epochs", "5"] + D, None,
      setup=[fake()], custom=train_interrupted, outputs=["c.st", "c.st.best"],
      checks=[no_file(r"partial|lock")]),
    C("train-writes-only-its-outputs", RUN,
      ["train", "m.so", "--checkpoint", "c.st", "--metrics", "m.jsonl"] + QUICK,
      None, status=0, lines=0, setup=[fake()],
      outputs=["c.st", "c.st.best", "m.jsonl", "m.svg"]),

    # Class 3: crashes and reads out of bounds.
    C("model-cut-short", RUN, ["train", "m.so"] + QUICK,
      r"^m\.so: no integrity record", setup=[damaged_model("m.so", "cut")]),
    C("model-bytes-flipped", RUN, ["train", "m.so"] + QUICK,
      r"^m\.so: damaged: its SHA-256 does not match the one `rnc compile` recorded",
      setup=[damaged_model("m.so", "flip")]),
    C("model-unstamped", RUN, ["eval", "m.so", "--checkpoint", "{fixtures}/good.safetensors"] + D,
      r"^m\.so: no integrity record \(not built by this rnc's `rnc compile`",
      setup=[damaged_model("m.so", "unstamped")]),
    C("model-empty", RUN, ["train", "m.so"] + QUICK,
      r"^m\.so: only 0 bytes: no integrity record", setup=[damaged_model("m.so", "empty")]),
    C("model-is-a-fifo", RUN, ["train", "m.so"] + QUICK,
      r"^m\.so: cannot open: not a regular file \(a FIFO\)$", setup=[fifo("m.so")]),
    C("model-is-a-folder", RUN, ["train", "m.so"] + QUICK,
      r"^m\.so: cannot open: is a directory, not a file$", setup=[mkdir("m.so")]),
    C("model-is-dev-zero", RUN, ["train", "zero"] + QUICK,
      r"^zero: cannot open: not a regular file \(a character device\)$",
      setup=[device("zero", "zero")]),
    C("model-cut-while-training", RUN, ["train", "m.so", "--epochs", "100000"] + D,
      None, setup=[fake()], custom=model_cut_while_training, outputs=["m.so"]),
    C("predict-rgb-model-gray-image", RUN,
      ["predict", "rgb.so", "--checkpoint", "w.st", "i.png"],
      # Gray images are converted to the model's channels (as Pillow's convert)
      # since issue 17: nothing is read past an image; the empty checkpoint is
      # what is wrong here.
      r"^w\.st: not a safetensors file",
      setup=[fake("rgb.so", "fake_model_rgb"), png("i.png"), write("w.st", b"")]),
    C("eval-rgb-model", RUN, ["eval", "rgb.so", "--checkpoint", "w.st"] + D,
      # The checkpoint is read first; train-rgb-model checks the data itself.
      r"^w\.st: not a safetensors file",
      setup=[fake("rgb.so", "fake_model_rgb"), write("w.st", b"")]),
    C("train-rgb-model", RUN, ["train", "rgb.so"] + QUICK,
      r"/data: the images are gray \(1 channel\), but rgb\.so takes 3-channel input; "
      r"compile it with --input 1x12x12$",
      setup=[fake("rgb.so", "fake_model_rgb")]),
    C("predict-png-cut-short", RUN,
      ["predict", "m.so", "--checkpoint", "{fixtures}/good.safetensors", "i.png"],
      r"^i\.png: (not a readable PNG|corrupt PNG): ",
      setup=[fake(), png("i.png", truncate=40)]),
    C("predict-idx-dims-too-large", RUN,
      ["predict", "m.so", "--checkpoint", "{fixtures}/good.safetensors", "i.idx"],
      r"^i\.idx: dims 65536x65536x65536 claim more than",
      setup=[fake(), idx("i.idx", [65536, 65536, 65536], payload=b"")]),
    C("predict-idx-not-images", RUN,
      ["predict", "m.so", "--checkpoint", "{fixtures}/good.safetensors", "i.idx"],
      r"^i\.idx: neither a JPEG, a PNG nor an IDX file of images",
      setup=[fake(), idx("i.idx", [2, 3, 4, 5])]),

    # Class 4: unbounded resources (FIFOs and devices as inputs).
    C("checkpoint-input-fifo", RUN, ["eval", "m.so", "--checkpoint", "p.st"] + D,
      r"^p\.st: cannot open checkpoint: not a regular file \(a FIFO\)$",
      setup=[fake(), fifo("p.st")], timeout=20),
    C("checkpoint-input-dev-zero", RUN, ["eval", "m.so", "--checkpoint", "zero"] + D,
      r"^zero: cannot open checkpoint: not a regular file \(a character device\)$",
      setup=[fake(), device("zero", "zero")], timeout=20),
    C("checkpoint-input-too-large", RUN, ["eval", "m.so", "--checkpoint", "big.st"] + D,
      r"^big\.st: cannot open checkpoint: 2 GiB, more than the .* a checkpoint for this model may have$",
      setup=[fake(), sparse("big.st", 2 << 30)]),
    C("resume-fifo", RUN, ["train", "m.so", "--resume", "p.st"] + D,
      r"^p\.st: cannot write --checkpoint: it is a FIFO, not a regular file",
      setup=[fake(), fifo("p.st")], timeout=20),
    C("predict-image-fifo", RUN,
      ["predict", "m.so", "--checkpoint", "{fixtures}/good.safetensors", "p.png"],
      r"^p\.png: cannot open: not a regular file \(a FIFO\)$",
      setup=[fake(), fifo("p.png")], timeout=20),
    C("predict-image-dev-zero", RUN,
      ["predict", "m.so", "--checkpoint", "{fixtures}/good.safetensors", "zero"],
      r"^zero: cannot open: not a regular file \(a character device\)$",
      setup=[fake(), device("zero", "zero")], timeout=20),
    C("predict-image-dev-urandom", RUN,
      ["predict", "m.so", "--checkpoint", "{fixtures}/good.safetensors", "urandom"],
      r"^urandom: cannot open: not a regular file \(a character device\)$",
      setup=[fake(), device("urandom", "urandom")], timeout=20),
    C("data-file-is-a-fifo", RUN, ["train", "m.so", "--data", "d", "--epochs", "1"],
      r"^d/train-images-idx3-ubyte: cannot open: not a regular file \(a FIFO\)$",
      setup=[fake(), mkdir("d"), fifo("d/train-images-idx3-ubyte")], timeout=20),
    C("data-file-links-to-dev-zero", RUN, ["train", "m.so", "--data", "d", "--epochs", "1"],
      r"^d/train-images-idx3-ubyte: cannot open: not a regular file \(a character device\)$",
      setup=[fake(), mkdir("d"), device("zero", "zero"),
             symlink("d/train-images-idx3-ubyte", "../zero")],
      timeout=20),

    # Class 5: silently wrong results.
    C("weights-diverge-before-loss", RUN,
      ["train", "m.so", "--checkpoint", "c.st", "--epochs", "2", "--train-limit", "128",
       "--batch-size", "64"] + D,
      r"^rnc-run: epoch 2: tensor 'fc\.weight' holds inf \(at index 3\) after step 4 "
      r"although the loss stayed finite; lower --lr \(now 0\.05\) or check the model; "
      r"the checkpoint c\.st \(epoch 1\) is kept$",
      setup=[fake()], env={"RNC_FAKE_INF_WEIGHT_AT_STEP": "4"},
      outputs=["c.st", "c.st.best"],
      checks=[lambda folder: [] if read_st(os.path.join(folder, "c.st"))[0]
              ["__metadata__"]["epoch"] == "1" else ["c.st is not epoch 1"]]),
    C("weights-diverge-in-first-epoch", RUN,
      ["train", "m.so", "--checkpoint", "c.st", "--epochs", "2", "--train-limit", "128",
       "--batch-size", "64"] + D,
      r"^rnc-run: epoch 1: tensor 'fc\.weight' holds inf \(at index 3\) after step 2 "
      r"although the loss stayed finite; lower --lr \(now 0\.05\) or check the model$",
      setup=[fake()], env={"RNC_FAKE_INF_WEIGHT_AT_STEP": "2"}),
    C("resume-negative-lr", RUN, ["train", "m.so", "--resume", "r.st", "--epochs", "3"] + D,
      r"^r\.st: corrupt rnc metadata: __metadata__\.train_options\.lr: must be a positive "
      r"number, got '-1' \(the rule of --lr\)$",
      setup=[fake(), ckpt("r.st", meta=set_option("lr", -1))]),
    C("resume-lr-nan-string", RUN, ["train", "m.so", "--resume", "r.st", "--epochs", "3"] + D,
      r"^r\.st: corrupt rnc metadata: __metadata__\.train_options\.lr: must be a number, got \"nan\"",
      setup=[fake(), ckpt("r.st", meta=set_option("lr", "nan"))]),
    C("resume-momentum-above-1", RUN, ["train", "m.so", "--resume", "r.st", "--epochs", "3"] + D,
      r"^r\.st: corrupt rnc metadata: __metadata__\.train_options\.momentum: must be a number in \[0, 1\], got '7'",
      setup=[fake(), ckpt("r.st", meta=set_option("momentum", 7))]),
    C("resume-batch-size-zero", RUN, ["train", "m.so", "--resume", "r.st", "--epochs", "3"] + D,
      r"^r\.st: corrupt rnc metadata: __metadata__\.train_options\.batch_size: must be an integer in \[1, 1048576\], got '0'",
      setup=[fake(), ckpt("r.st", meta=set_option("batch_size", 0))]),
    C("resume-epochs-fraction", RUN, ["train", "m.so", "--resume", "r.st"] + D,
      r"__metadata__\.train_options\.epochs: must be an integer in \[1, 1000000\], got '2\.5'",
      setup=[fake(), ckpt("r.st", meta=set_option("epochs", 2.5))]),
    C("resume-schedule-unknown", RUN, ["train", "m.so", "--resume", "r.st", "--epochs", "3"] + D,
      r"__metadata__\.train_options\.lr_schedule: must be constant or cosine, got 'step'",
      setup=[fake(), ckpt("r.st", meta=set_option("lr_schedule", "step"))]),
    C("resume-seed-negative", RUN, ["train", "m.so", "--resume", "r.st", "--epochs", "3"] + D,
      r"__metadata__\.train_options\.seed: must be an integer >= 0, got '-3'",
      setup=[fake(), ckpt("r.st", meta=set_option("seed", -3))]),
    C("resume-option-missing", RUN, ["train", "m.so", "--resume", "r.st", "--epochs", "3"] + D,
      r"__metadata__\.train_options\.weight_decay: missing$",
      setup=[fake(), ckpt("r.st", meta=set_option("weight_decay", None))]),
    C("checkpoint-tensor-nan", RUN, ["eval", "m.so", "--checkpoint", "n.st"] + D,
      r"^n\.st: tensor 'fc\.bias' holds nan \(at index 0\); the run had diverged when this was saved",
      setup=[fake(), ckpt("n.st", tensors=poison("fc.bias", float("nan")))]),
    C("checkpoint-optimizer-inf", RUN, ["train", "m.so", "--resume", "n.st", "--epochs", "3"] + D,
      r"^n\.st: tensor 'optimizer\.fc\.weight\.momentum_buffer' holds -inf",
      setup=[fake(), ckpt("n.st", tensors=poison("optimizer.fc.weight.momentum_buffer",
                                                 float("-inf")))]),
    C("checkpoint-shape-wraps-to-zero", RUN, ["eval", "m.so", "--checkpoint", "w.st"] + D,
      r"^w\.st: tensor 'fc\.bias': shape \[1099511627776,1099511627776\] is too large$",
      setup=[fake(), ckpt("w.st", tensors=shape("fc.bias", [1 << 40, 1 << 40]))]),
    C("lr-flag-beyond-float", RUN, ["train", "m.so", "--lr", "1e39"] + QUICK,
      r"^rnc-run: error: --lr: must be a positive number, got '1e39' \(see --help\)$",
      status=105, setup=[fake()]),
    C("seed-flag-fraction", RUN, ["train", "m.so", "--seed", "1.5"] + QUICK,
      r"^rnc-run: error: --seed: must be an integer >= 0, got '1\.5'", status=105,
      setup=[fake()]),

    # Class 6: errors that name the culprit.
    C("metadata-epoch-not-a-number", RUN, ["train", "m.so", "--resume", "r.st", "--epochs", "3"] + D,
      r"^r\.st: corrupt rnc metadata: __metadata__\.epoch: expected a whole number in "
      r"\[0, 1000000\], got 'one'$",
      setup=[fake(), ckpt("r.st", meta=set_meta("epoch", "one"))]),
    C("metadata-step-huge", RUN, ["train", "m.so", "--resume", "r.st", "--epochs", "3"] + D,
      r"__metadata__\.step: expected a whole number in \[0, 9223372036854775807\], got '99999999999999999999'",
      setup=[fake(), ckpt("r.st", meta=set_meta("step", "99999999999999999999"))]),
    C("metadata-history-not-json", RUN, ["train", "m.so", "--resume", "r.st", "--epochs", "3"] + D,
      r"^r\.st: corrupt rnc metadata: __metadata__\.history: not valid JSON \(parse error at byte \d+\)$",
      setup=[fake(), ckpt("r.st", meta=set_meta("history", "[{"))]),
    C("metadata-history-field", RUN, ["train", "m.so", "--resume", "r.st", "--epochs", "3"] + D,
      r"__metadata__\.history\[0\]\.train_acc: expected a number, got \"high\"",
      setup=[fake(), ckpt("r.st", meta=set_meta(
          "history", '[{"epoch": 1, "train_loss": 1, "train_acc": "high", "test_acc": 0.5,'
          ' "images_per_sec": 1, "seconds": 1, "lr": 0.05}]'))]),
    C("metadata-options-not-object", RUN, ["train", "m.so", "--resume", "r.st", "--epochs", "3"] + D,
      r"__metadata__\.train_options: expected a JSON object, got \[1,2\]",
      setup=[fake(), ckpt("r.st", meta=set_meta("train_options", "[1,2]"))]),
    C("metadata-best-acc", RUN, ["train", "m.so", "--resume", "r.st", "--epochs", "3"] + D,
      r"__metadata__\.best_test_acc: expected a number in \[-1, 1\], got 'nan'",
      setup=[fake(), ckpt("r.st", meta=set_meta("best_test_acc", "nan"))]),
    C("metadata-no-model-name", RUN, ["eval", "m.so", "--checkpoint", "r.st", "--test-limit", "16"] + D,
      None, status=0, lines=0, stdout=r"checkpoint  r\.st: epoch 1 of 2 of '\?'",
      setup=[fake(), ckpt("r.st", meta=lambda m: m.pop("model_name"))]),
    C("header-not-json", RUN, ["eval", "m.so", "--checkpoint", "h.st"] + D,
      r"^h\.st: corrupt safetensors header: not valid JSON \(parse error at header byte 1\)$",
      setup=[fake(), ckpt("h.st", raw_header=b"#not json", data=b"")]),
    C("header-length-huge", RUN, ["eval", "m.so", "--checkpoint", "h.st"] + D,
      r"^h\.st: not a safetensors file \(or truncated\): header length \d+ but the file has 16 bytes$",
      setup=[fake(), write("h.st", struct.pack("<Q", 1 << 60) + b"{}      ")]),

    # Class 2 and the compiler: names, paths, outputs.
    C("spec-name-escapes-folder", RNC, ["compile", "s.json"],
      r"^s\.json: name: '\.\./\.\./outside' is not a valid model name",
      setup=[write("s.json", json.dumps({"name": "../../outside", "input": [1, 8, 8],
                                         "num_classes": 10, "stem": {"width": 8},
                                         "block": {"kind": "basic"},
                                         "stages": [{"blocks": 1, "width": 8}]}))]),
    C("spec-name-injects-code", RNC, ["compile", "s.json", "--emit", "cpp"],
      r"^s\.json: name: 'x\"; int main\(\){}//' is not a valid model name",
      setup=[write("s.json", json.dumps({"name": "x\"; int main(){}//", "input": [1, 8, 8],
                                         "num_classes": 10, "stem": {"width": 8},
                                         "block": {"kind": "basic"},
                                         "stages": [{"blocks": 1, "width": 8}]}))]),
    C("compile-output-is-spec", RNC, ["compile", "s.json", "-o", "s.json"],
      r"^rnc: error: s\.json: cannot write -o: it is the model spec \(s\.json\); give another file$",
      setup=[spec("s.json")]),
    C("compile-emit-cpp-is-spec", RNC, ["compile", "t.json", "-o", "t.so", "--emit-cpp", "t.json"],
      r"^rnc: error: t\.json: cannot write --emit-cpp: it is the model spec",
      setup=[spec("t.json")]),
    C("compile-output-twice", RNC, ["compile", "tiny", "-o", "t.so", "--emit-cpp", "t.so"],
      r"^rnc: error: t\.so: cannot write --emit-cpp: it is also -o; give them different files$"),
    C("compile-output-symlink", RNC, ["compile", "tiny", "-o", "l.so"],
      r"^rnc: error: l\.so: cannot write -o: it is a symbolic link",
      setup=[write("real.so", "keep"), symlink("l.so", "real.so")]),
    C("compile-output-dev-null", RNC, ["compile", "tiny", "-o", "null"],
      r"^rnc: error: null: cannot write -o: it is a character device",
      setup=[device("null", "null")]),
    C("compile-output-folder-missing", RNC, ["compile", "tiny", "-o", "no/t.so"],
      r"^rnc: error: no/t\.so: cannot write -o: No such file or directory$"),
    C("expand-output-is-spec", RNC, ["expand", "s.json", "-o", "s.json"],
      r"^rnc: error: s\.json: cannot write -o: it is the model spec",
      setup=[spec("s.json")]),
    C("emit-mlir-to-dev-null", RNC, ["emit-mlir", "tiny", "-o", "null"], None,
      status=0, lines=0, setup=[device("null", "null")]),
    C("spec-is-a-fifo", RNC, ["summary", "s.json"],
      r"^s\.json: cannot read: not a regular file \(a FIFO\)$", setup=[fifo("s.json")],
      timeout=20),
    C("spec-is-dev-zero", RNC, ["summary", "zero"],
      r"^zero: cannot read: not a regular file \(a character device\)$", timeout=20,
      setup=[device("zero", "zero")]),
    C("spec-too-large", RNC, ["summary", "s.json"],
      r"^s\.json: cannot read: 65 MiB, more than the 64 MiB a model spec may have$",
      setup=[sparse("s.json", 65 << 20)]),
    C("spec-tensor-too-large", RNC, ["summary", "tiny", "--input", "65536x16384x16384"],
      r"input: 65536x16384x16384 has more than 1099511627776 elements"),
    C("summary-count-overflow", RNC,
      ["summary", "resnet50", "--input", "3x16384x16384", "--batch", "1048576"],
      r"summary: the counts of this layer at batch 1048576 do not fit 64 bits"),
    C("compile-killed", RNC, ["compile", "tiny", "-o", "t.so"], None,
      custom=compile_killed, checks=[no_file(r"partial|lock|t\.so")], timeout=120),

    # rnc-opt.
    C("opt-deep-nesting", OPT, ["d.mlir"],
      r"^rnc-opt: d\.mlir: line 1, column \d+: brackets nest deeper than 256 levels$",
      setup=[write("d.mlir", "func.func @f() {" + '"rn.x"() ({' * 100000 +
                   "})" * 100000 + " : () -> ()\n return }")]),
    C("opt-deep-types", OPT, ["d.mlir"],
      r"brackets nest deeper than 256 levels",
      setup=[write("d.mlir", "func.func @f(%a: " + "tensor<" * 50000 + "f32" +
                   ">" * 50000 + ")")]),
    C("opt-dev-zero", OPT, ["zero"],
      r"^rnc-opt: zero: cannot read: not a regular file \(a character device\)$",
      timeout=20, setup=[device("zero", "zero")]),
    C("opt-fifo", OPT, ["p.mlir"],
      r"^rnc-opt: p\.mlir: cannot read: not a regular file \(a FIFO\)$",
      setup=[fifo("p.mlir")], timeout=20),
    C("opt-too-large", OPT, ["big.mlir"],
      r"^rnc-opt: big\.mlir: cannot read: 65 MiB, more than the 64 MiB an IR file may have$",
      setup=[sparse("big.mlir", 65 << 20)]),
    C("opt-output-is-input", OPT, ["t.mlir", "-o", "t.mlir"],
      r"^rnc-opt: t\.mlir: cannot write -o: it is the input \(t\.mlir\); give another file$",
      setup=[write("t.mlir", "module {}\n")]),
    C("opt-output-symlink", OPT, ["t.mlir", "-o", "l.mlir"],
      r"^rnc-opt: l\.mlir: cannot write -o: it is a symbolic link",
      setup=[write("t.mlir", "module {}\n"), write("x.mlir", "keep"),
             symlink("l.mlir", "x.mlir")]),
    C("opt-bad-ir-writes-nothing", OPT, ["t.mlir", "-o", "out.mlir"],
      r"t\.mlir:1:\d+: error: ", lines=None,
      setup=[write("t.mlir", "func.func @f( {\n")]),
    C("opt-plan-overflow", OPT,
      ["t.mlir", "--rnc-training-pipeline", "--rnc-plan-memory=max-batch=1000000000000000000"],
      r"error: 'rn\.conv2d' op rnc-plan-memory: the workspace of this op at max-batch "
      r"1000000000000000000 exceeds 2\^60 floats", lines=None,
      setup=[lambda env: subprocess.run([env.tools["rnc"], "emit-mlir", "tiny", "-o", "t.mlir"],
                                        check=True)]),
    C("opt-params-through-call", OPT, ["t.mlir", "--rnc-training-pipeline"],
      r"error: 'func\.call' op rnc-autodiff: @train_step calls @block", lines=None,
      setup=[write("t.mlir", """
func.func @block(%x: tensor<?x4xf32>) -> tensor<?x10xf32> {
  %w = rn.param "fc.weight" {init = "kaiming_normal"} : tensor<10x4xf32>
  %y = rn.linear %x, %w : tensor<?x4xf32>, tensor<10x4xf32>
  return %y : tensor<?x10xf32>
}
func.func @forward(%x: tensor<?x4xf32>) -> tensor<?x10xf32> attributes {rn.role = "forward"} {
  %y = func.call @block(%x) : (tensor<?x4xf32>) -> tensor<?x10xf32>
  return %y : tensor<?x10xf32>
}
""")]),
    C("opt-huge-static-shape", OPT,
      ["t.mlir", "--rnc-plan-memory"],
      r"'rn\.relu' op rnc-plan-memory: the workspace of this op at max-batch 128 exceeds 2\^60 floats",
      lines=None,
      setup=[write("t.mlir", """
func.func @f(%x: tensor<?x4611686018427387904xf32>) -> tensor<?x4611686018427387904xf32> {
  %y = rn.relu %x : tensor<?x4611686018427387904xf32>
  return %y : tensor<?x4611686018427387904xf32>
}
""")]),
]

