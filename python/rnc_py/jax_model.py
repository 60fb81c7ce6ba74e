"""A pure-JAX model built from rnc's graph form (`rnc expand` output), with
PyTorch's semantics, as the reference rnc's compiled model is checked against.

Layouts: NCHW activations, OIHW conv weights ([O, C/groups, kh, kw]), linear
weights [out, in]. Parameters are "<node>.weight"/"<node>.bias" (BN: gamma,
beta); buffers are "<node>.running_mean"/"<node>.running_var".

- batch_norm, train mode: normalize with the batch mean and the biased
  variance over N,H,W; running = (1-m)*running + m*batch_stat with the
  unbiased variance. Eval mode: normalize with the running statistics.
- max_pool: floor mode, -inf padding; avg_pool: zero padding, divides by the
  window size when count_include_pad, else by the count of unpadded inputs.
- conv_operands="bf16": every convolution multiplies operands rounded to
  bfloat16 (round to nearest even, from their float32 value) and sums in the
  model's dtype, forward and backward: the gradient's convolutions round the
  incoming gradient and the saved operands the same way (custom_vjp). That
  is what `rnc compile --precision bf16 --target cpu` computes; bias,
  batch norm, linear layers and the optimizer stay unrounded.
- loss: mean softmax cross-entropy; SGD as torch.optim.SGD (dampening 0, no
  Nesterov): d = g + wd*p; buf = momentum*buf + d (buf starts at 0); p -= lr*buf.
"""
import json
import subprocess

import jax
import jax.numpy as jnp
import numpy as np

_HI = jax.lax.Precision.HIGHEST


def _pair(v):
    return tuple(v) if isinstance(v, (list, tuple)) else (v, v)


def _out_size(n, k, s, p, d=1):
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def _round_bf16(v):
    """v rounded to bfloat16 (nearest even) from its float32 value, in v's dtype."""
    return v.astype(jnp.float32).astype(jnp.bfloat16).astype(v.dtype)


def _bf16_operand_conv(conv):
    """conv(x, w) with bf16-rounded operands, whose gradient rounds the
    cotangent and the saved operands too (both gradient convolutions then
    take bf16 operands)."""
    @jax.custom_vjp
    def f(x, w):
        return conv(_round_bf16(x), _round_bf16(w))

    def fwd(x, w):
        xr, wr = _round_bf16(x), _round_bf16(w)
        return conv(xr, wr), (xr, wr)

    def bwd(res, g):
        _, vjp = jax.vjp(conv, *res)
        return vjp(_round_bf16(g))

    f.defvjp(fwd, bwd)
    return f


def load_graph(spec, rnc=None, input_chw=None):
    """The graph form of `spec` (a path or a dict). A family-form file is
    expanded with `rnc expand` (binary `rnc`); input_chw overrides the input."""
    if isinstance(spec, dict):
        graph = spec
    else:
        with open(spec) as f:
            graph = json.load(f)
        if "nodes" not in graph or input_chw:
            if rnc is None:
                raise ValueError(f"{spec}: family form needs the rnc binary to expand it")
            cmd = [rnc, "expand", str(spec)]
            if input_chw:
                cmd += ["--input", "x".join(map(str, input_chw))]
            graph = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    if "nodes" not in graph:
        raise ValueError("not a graph-form spec (no 'nodes')")
    return graph


class JaxModel:
    def __init__(self, graph, dtype=jnp.float32, conv_operands="exact"):
        if conv_operands not in ("exact", "bf16"):
            raise ValueError(f"conv_operands: 'exact' or 'bf16', not {conv_operands!r}")
        self.graph = graph
        self.dtype = dtype
        self.conv_operands = conv_operands
        self.nodes = graph["nodes"]
        self.output = graph.get("output", self.nodes[-1]["name"])
        self.input_shape = tuple(graph["input"])
        self.param_shapes, self.buffer_shapes = {}, {}
        shapes = {"input": self.input_shape}  # per-sample shapes
        for n in self.nodes:
            shapes[n["name"]] = self._infer(n, shapes)
        self.num_classes = shapes[self.output][0]

    # --- shapes and parameters ------------------------------------------------
    def _infer(self, n, shapes):
        name, op = n["name"], n["op"]
        s = shapes[n["inputs"][0] if op == "add" else n["input"]]
        if op == "conv":
            kh, kw = _pair(n["kernel"])
            sh, sw = _pair(n.get("stride", 1))
            ph, pw = _pair(n.get("padding", 0))
            dh, dw = _pair(n.get("dilation", 1))
            o, g = n["out_channels"], n.get("groups", 1)
            self.param_shapes[name + ".weight"] = (o, s[0] // g, kh, kw)
            if n.get("bias", False):
                self.param_shapes[name + ".bias"] = (o,)
            return (o, _out_size(s[1], kh, sh, ph, dh), _out_size(s[2], kw, sw, pw, dw))
        if op == "batch_norm":
            for p in ("weight", "bias"):
                self.param_shapes[f"{name}.{p}"] = (s[0],)
            for b in ("running_mean", "running_var"):
                self.buffer_shapes[f"{name}.{b}"] = (s[0],)
            return s
        if op in ("relu", "add"):
            return s
        if op in ("max_pool", "avg_pool"):
            kh, kw = _pair(n["kernel"])
            sh, sw = _pair(n.get("stride", n["kernel"]))
            ph, pw = _pair(n.get("padding", 0))
            return (s[0], _out_size(s[1], kh, sh, ph), _out_size(s[2], kw, sw, pw))
        if op == "global_avg_pool":
            return (s[0], 1, 1)
        if op == "flatten":
            return (int(np.prod(s)),)
        if op == "linear":
            self.param_shapes[name + ".weight"] = (n["out_features"], s[0])
            if n.get("bias", True):
                self.param_shapes[name + ".bias"] = (n["out_features"],)
            return (n["out_features"],)
        raise ValueError(f"node {name}: unknown op {op!r}")

    def init_params(self, seed=0):
        """Kaiming-uniform-like weights, zero biases, BN gamma 1 / beta 0,
        running stats 0/1 (for running without rnc, e.g. the benchmark)."""
        rng = np.random.default_rng(seed)
        params = {}
        for k, shp in self.param_shapes.items():
            if k.endswith(".weight") and len(shp) > 1:
                bound = np.sqrt(6.0 / int(np.prod(shp[1:])))
                params[k] = rng.uniform(-bound, bound, shp).astype(np.float32)
            else:
                is_gamma = k.endswith(".weight")
                params[k] = np.full(shp, 1.0 if is_gamma else 0.0, np.float32)
        buffers = {k: np.full(s, 1.0 if k.endswith("var") else 0.0, np.float32)
                   for k, s in self.buffer_shapes.items()}
        return params, buffers

    def cast(self, tensors):
        return {k: jnp.asarray(v, self.dtype) for k, v in tensors.items()}

    # --- forward ---------------------------------------------------------------
    def forward(self, params, buffers, x, train):
        """Logits [N, classes] and the BN buffers after this pass (updated
        from batch statistics in train mode, unchanged in eval mode)."""
        params, buffers = self.cast(params), self.cast(buffers)
        vals = {"input": jnp.asarray(x, self.dtype)}
        new_buffers = dict(buffers)
        for n in self.nodes:
            name, op = n["name"], n["op"]
            a = vals[n["inputs"][0] if op == "add" else n["input"]]
            if op == "conv":
                def conv(x, w, n=n):
                    return jax.lax.conv_general_dilated(
                        x, w, _pair(n.get("stride", 1)),
                        [(p, p) for p in _pair(n.get("padding", 0))],
                        rhs_dilation=_pair(n.get("dilation", 1)),
                        dimension_numbers=("NCHW", "OIHW", "NCHW"),
                        feature_group_count=n.get("groups", 1), precision=_HI)
                if self.conv_operands == "bf16":
                    conv = _bf16_operand_conv(conv)
                y = conv(a, params[name + ".weight"])
                if name + ".bias" in params:
                    y = y + params[name + ".bias"].reshape(1, -1, 1, 1)
            elif op == "batch_norm":
                y = self._batch_norm(n, params, buffers, new_buffers, a, train)
            elif op == "relu":
                y = jnp.maximum(a, 0)
            elif op == "add":
                y = a + vals[n["inputs"][1]]
            elif op in ("max_pool", "avg_pool"):
                y = self._pool(n, a)
            elif op == "global_avg_pool":
                y = jnp.mean(a, axis=(2, 3), keepdims=True)
            elif op == "flatten":
                y = a.reshape(a.shape[0], -1)
            elif op == "linear":
                y = jnp.matmul(a, params[name + ".weight"].T, precision=_HI)
                if name + ".bias" in params:
                    y = y + params[name + ".bias"]
            vals[name] = y
        return vals[self.output], new_buffers

    def _batch_norm(self, n, params, buffers, new_buffers, a, train):
        name = n["name"]
        eps, m = n.get("epsilon", 1e-5), n.get("momentum", 0.1)
        axes = (0,) + tuple(range(2, a.ndim))
        bshape = (1, -1) + (1,) * (a.ndim - 2)
        rm, rv = buffers[name + ".running_mean"], buffers[name + ".running_var"]
        if train:
            mean = jnp.mean(a, axis=axes)
            var = jnp.mean(jnp.square(a - mean.reshape(bshape)), axis=axes)  # biased
            count = a.size // a.shape[1]
            unbiased = jax.lax.stop_gradient(var) * (count / max(count - 1, 1))
            new_buffers[name + ".running_mean"] = (1 - m) * rm + m * jax.lax.stop_gradient(mean)
            new_buffers[name + ".running_var"] = (1 - m) * rv + m * unbiased
        else:
            mean, var = rm, rv
        inv = jax.lax.rsqrt(var + eps)
        y = (a - mean.reshape(bshape)) * inv.reshape(bshape)
        return y * params[name + ".weight"].reshape(bshape) + params[name + ".bias"].reshape(bshape)

    def _pool(self, n, a):
        kh, kw = _pair(n["kernel"])
        sh, sw = _pair(n.get("stride", n["kernel"]))
        ph, pw = _pair(n.get("padding", 0))
        win, strides = (1, 1, kh, kw), (1, 1, sh, sw)
        pads = ((0, 0), (0, 0), (ph, ph), (pw, pw))
        if n["op"] == "max_pool":
            return jax.lax.reduce_window(a, -jnp.inf, jax.lax.max, win, strides, pads)
        total = jax.lax.reduce_window(a, 0.0, jax.lax.add, win, strides, pads)
        if n.get("count_include_pad", True):
            return total / (kh * kw)
        ones = jnp.ones((1, 1) + a.shape[2:], a.dtype)
        count = jax.lax.reduce_window(ones, 0.0, jax.lax.add, win, strides, pads)
        return total / count

    # --- loss and training ----------------------------------------------------
    @staticmethod
    def cross_entropy(logits, labels):
        logp = jax.nn.log_softmax(logits, axis=-1)
        return -jnp.mean(jnp.take_along_axis(logp, labels[:, None], axis=-1))

    def loss(self, params, buffers, x, labels):
        """Mean cross-entropy in train mode; aux = (logits, new buffers)."""
        logits, new_buffers = self.forward(params, buffers, x, train=True)
        return self.cross_entropy(logits, labels), (logits, new_buffers)

    def train_step(self, params, buffers, moms, x, labels, lr, momentum, weight_decay):
        """One SGD step. Returns a dict: loss, correct, grads (before weight
        decay), params, buffers, moms (all after the step)."""
        params, buffers, moms = self.cast(params), self.cast(buffers), self.cast(moms)
        (loss, (logits, new_buffers)), grads = jax.value_and_grad(self.loss, has_aux=True)(
            params, buffers, x, labels)
        new_params, new_moms = {}, {}
        for k, p in params.items():
            d = grads[k] + weight_decay * p
            new_moms[k] = momentum * moms[k] + d
            new_params[k] = p - lr * new_moms[k]
        correct = jnp.sum(jnp.argmax(logits, axis=-1) == labels)
        return dict(loss=loss, correct=correct, grads=grads, params=new_params,
                    buffers=new_buffers, moms=new_moms)

    def jit_train_step(self):
        return jax.jit(self.train_step)

    def jit_eval(self):
        return jax.jit(lambda params, buffers, x: self.forward(params, buffers, x, train=False)[0])
