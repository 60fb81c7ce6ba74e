#!/usr/bin/env python3
"""The PyTorch models that bench/gpu_train.py trains beside rnc, with the
state_dict names and shapes rnc gives the same tensors: torchvision's
resnet50 / resnext50_32x4d (and the other torchvision-equivalent specs), and
D2L's ResNet (biased convs, 1x1 projection shortcut without BN) built from
its spec (models/d2l_resnet18.json).

Run as a script, it checks that claim against rnc itself, on the CPU: it
compiles each model with `rnc compile --max-batch 2`, compares the PyTorch
state_dict with the .so's RNC_PARAM and RNC_BUFFER tensors (names, shapes),
copies rnc's initialized weights into the PyTorch model and compares eval
logits and the training-mode loss on a random batch.
Usage: bench/torch_models.py [--input 1x96x96] [d2l_resnet18 resnet50 ...]
"""
import json
import os

import torch
from torch import nn

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))

# spec name -> torchvision constructor (the spec says it is that model)
TORCHVISION = {"resnet18": "resnet18", "resnet34": "resnet34", "resnet50": "resnet50",
               "resnet101": "resnet101", "resnet152": "resnet152",
               "resnext50_32x4d": "resnext50_32x4d", "resnext101_32x8d": "resnext101_32x8d",
               "wide_resnet50_2": "wide_resnet50_2"}


def load_spec(model):
    """A spec by shipped name (models/NAME.json) or by path."""
    path = model if model.endswith(".json") else os.path.join(ROOT, "models", f"{model}.json")
    with open(path) as f:
        return json.load(f)


class D2LResidual(nn.Module):
    """D2L's `Residual`: conv3x3(bias)-BN-ReLU-conv3x3(bias)-BN, plus the
    input or its 1x1 strided projection (a biased conv, no BN), then ReLU."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=True)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=True)
        self.bn2 = nn.BatchNorm2d(cout)
        # projection exactly when the shape changes (docs/spec.md; D2L's use_1x1conv)
        self.downsample = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=True))
                           if stride != 1 or cin != cout else None)

    def forward(self, x):
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        y += x if self.downsample is None else self.downsample(x)
        return self.relu(y)


class D2LResNet(nn.Module):
    """D2L's ResNet (`b1` stem, `block`s, global average pool, dense) under
    torchvision's module names: conv1, bn1, maxpool, layer1..N, fc."""

    def __init__(self, spec):
        super().__init__()
        stem, block = spec.get("stem", {}), spec.get("block", {})
        if (block.get("kind", "basic") != "basic" or spec.get("shortcut") != "conv"
                or not spec.get("conv_bias") or stem.get("bn", True) is not True
                or stem.get("relu", True) is not True):
            raise ValueError(f"{spec['name']}: not a D2L ResNet (basic blocks, biased convs, "
                             "'conv' shortcut, stem with BN and ReLU)")
        cin, width, k = spec["input"][0], stem.get("width", 64), stem.get("kernel", 7)
        self.conv1 = nn.Conv2d(cin, width, k, stem.get("stride", 2), stem.get("padding", k // 2),
                               bias=True)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        pool = stem.get("pool", {})
        self.maxpool = nn.Identity() if pool == "none" else nn.MaxPool2d(
            pool.get("kernel", 3), pool.get("stride", 2), pool.get("padding", 1))
        c = width
        for i, st in enumerate(spec["stages"]):
            stride = st.get("stride", 1 if i == 0 else 2)
            blocks = []
            for b in range(st["blocks"]):
                blocks.append(D2LResidual(c, st["width"], stride if b == 0 else 1))
                c = st["width"]
            self.add_module(f"layer{i + 1}", nn.Sequential(*blocks))
        self.layers = len(spec["stages"])
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, spec["num_classes"])

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for i in range(self.layers):
            x = getattr(self, f"layer{i + 1}")(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))


def build(model):
    """The PyTorch module for a spec name or path (num_classes and input
    channels from the spec)."""
    spec = load_spec(model)
    if spec["name"] in TORCHVISION:
        import torchvision
        if spec["input"][0] != 3:
            raise ValueError(f"{spec['name']}: torchvision's model takes 3 input channels")
        return getattr(torchvision.models, TORCHVISION[spec["name"]])(
            weights=None, num_classes=spec["num_classes"])
    return D2LResNet(spec)


def forward_flops(model, chw):
    """Forward FLOPs per image of build(model) at input chw, counted by
    torch.utils.flop_counter on meta tensors (no memory, no compute): 2 x the
    multiply-accumulates of every convolution and matrix product (bias adds,
    BN, ReLU, pooling and the loss are not counted)."""
    from torch.utils.flop_counter import FlopCounterMode
    with torch.device("meta"):
        net = build(model)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        net(torch.empty((1,) + tuple(chw), device="meta"))
    return counter.get_total_flops()


def _check(model, chw, rnc):
    """Compares rnc's compiled model with build(model) on the CPU; returns
    True when names, shapes, logits and loss agree."""
    import subprocess
    import sys
    import tempfile
    import numpy as np
    sys.path.insert(0, os.path.join(ROOT, "python"))
    from rnc_py import abi
    net = build(model)
    with tempfile.TemporaryDirectory(prefix="rnc-torch-check-") as d:
        so = os.path.join(d, "m.so")
        cmd = [rnc, "compile", model, "--max-batch", "2", "-o", so] + (["--input", chw] if chw else [])
        subprocess.run(cmd, check=True, capture_output=True)
        m = abi.Model(so)
        m.init(0)
        ours = {n: tuple(s) for n, (k, s) in m.tensors.items() if k in (abi.PARAM, abi.BUFFER)}
        theirs = {n: tuple(t.shape) for n, t in net.state_dict().items()
                  if not n.endswith("num_batches_tracked")}
        n_params = sum(p.numel() for p in net.parameters())
        print(f"{model}: torch {len(theirs)} tensors ({n_params:,} parameters; "
              f"num_batches_tracked left out), rnc {len(ours)} tensors")
        ok = ours == theirs
        for n in sorted(set(ours) | set(theirs)):
            if ours.get(n) != theirs.get(n):
                print(f"  differs: {n}: rnc {ours.get(n)}, torch {theirs.get(n)}")
        if not ok:
            return False
        sd = {n: torch.from_numpy(m.read(n)) for n in ours}
        net.load_state_dict(sd, strict=False)
        x = np.random.default_rng(1).standard_normal((2,) + m.input_shape).astype(np.float32)
        y = np.array([1, 3], np.int32) % m.num_classes
        ref_logits = m.eval(x)
        loss, _ = m.train_step(x, y, lr=0.0)  # training-mode loss (BN batch statistics)
        m.close()
    net.eval()
    with torch.no_grad():
        logits = net(torch.from_numpy(x)).numpy()
    net.train()
    with torch.no_grad():
        tloss = nn.functional.cross_entropy(net(torch.from_numpy(x)), torch.from_numpy(y).long()).item()
    err = float(np.abs(logits - ref_logits).max() / max(np.abs(ref_logits).max(), 1e-30))
    print(f"  eval logits: max |torch - rnc| / max |rnc| = {err:.2e}; "
          f"train-mode loss rnc {loss:.6f}, torch {tloss:.6f}")
    return err < 1e-4 and abs(loss - tloss) <= 1e-4 * max(1.0, abs(tloss))


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser(description="check the PyTorch models against rnc's (CPU)")
    ap.add_argument("models", nargs="*", default=["d2l_resnet18", "resnet50", "resnext50_32x4d"])
    ap.add_argument("--input", help="CxHxW passed to rnc compile and used for the check")
    ap.add_argument("--rnc", default=os.path.join(ROOT, "build/bin/rnc"))
    a = ap.parse_args()
    bad = [mo for mo in a.models if not _check(mo, a.input, a.rnc)]
    print("all match" if not bad else f"MISMATCH: {', '.join(bad)}")
    raise SystemExit(1 if bad else 0)
