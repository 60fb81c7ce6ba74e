"""A PyTorch nn.Module built from rnc's graph form (`rnc expand` output), so
that any spec, family or graph form, has a PyTorch twin for the benchmarks
(bench/train_throughput.py): the same nodes as python/rnc_py/jax_model.py
reads, with PyTorch's own layers (conv, BatchNorm2d/1d, ReLU, pools, Linear).

ReLUs are in place where their input has no other reader (as torchvision's
are), so PyTorch runs the network the way its users write it.
"""
import torch
from torch import nn


def _pair(v):
    return tuple(v) if isinstance(v, (list, tuple)) else (v, v)


class GraphNet(nn.Module):
    def __init__(self, graph):
        super().__init__()
        self.nodes = graph["nodes"]
        self.output = graph.get("output", self.nodes[-1]["name"])
        self.input_shape = tuple(graph["input"])
        readers = {}
        for nd in self.nodes:
            for i in nd.get("inputs", [nd.get("input")]):
                readers[i] = readers.get(i, 0) + 1
        shapes = {"input": self.input_shape}
        self.layers = nn.ModuleDict()
        self.steps = []  # (name, op, inputs, module key or None, in_place)
        for nd in self.nodes:
            op, name = nd["op"], nd["name"]
            ins = nd.get("inputs", [nd.get("input")])
            s = shapes[ins[0]]
            key = name.replace(".", "__")
            mod, out, inplace = None, s, False
            if op == "conv":
                k, st = _pair(nd["kernel"]), _pair(nd.get("stride", 1))
                p, d = _pair(nd.get("padding", 0)), _pair(nd.get("dilation", 1))
                mod = nn.Conv2d(s[0], nd["out_channels"], k, st, p, d,
                                groups=nd.get("groups", 1), bias=nd.get("bias", False))
                out = (nd["out_channels"],) + tuple(
                    (s[1 + i] + 2 * p[i] - d[i] * (k[i] - 1) - 1) // st[i] + 1 for i in range(2))
            elif op == "batch_norm":
                cls = nn.BatchNorm2d if len(s) == 3 else nn.BatchNorm1d
                mod = cls(s[0], eps=nd.get("epsilon", 1e-5), momentum=nd.get("momentum", 0.1))
            elif op == "relu":
                mod, inplace = nn.ReLU(inplace=readers.get(ins[0], 0) == 1), True
            elif op in ("max_pool", "avg_pool"):
                k = _pair(nd["kernel"])
                st, p = _pair(nd.get("stride", nd["kernel"])), _pair(nd.get("padding", 0))
                mod = (nn.MaxPool2d(k, st, p) if op == "max_pool" else
                       nn.AvgPool2d(k, st, p, count_include_pad=nd.get("count_include_pad", True)))
                out = (s[0],) + tuple((s[1 + i] + 2 * p[i] - k[i]) // st[i] + 1 for i in range(2))
            elif op == "global_avg_pool":
                mod, out = nn.AdaptiveAvgPool2d(1), (s[0], 1, 1)
            elif op == "flatten":
                out = (s[0] * s[1] * s[2],)
            elif op == "linear":
                mod = nn.Linear(s[0], nd["out_features"], bias=nd.get("bias", True))
                out = (nd["out_features"],)
            elif op != "add":
                raise ValueError(f"node {name}: op '{op}' has no PyTorch twin here")
            if mod is not None:
                self.layers[key] = mod
            self.steps.append((name, op, ins, key if mod is not None else None, inplace))
            shapes[name] = out
        self.num_classes = shapes[self.output][0]

    def forward(self, x):
        vals = {"input": x}
        for name, op, ins, key, _ in self.steps:
            if op == "add":
                vals[name] = vals[ins[0]] + vals[ins[1]]
            elif op == "flatten":
                vals[name] = torch.flatten(vals[ins[0]], 1)
            else:
                vals[name] = self.layers[key](vals[ins[0]])
        return vals[self.output]
