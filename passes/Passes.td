// Declarations of the rnc passes (flags, options, descriptions).
#ifndef RNC_PASSES_PASSES_TD
#define RNC_PASSES_PASSES_TD

include "mlir/Pass/PassBase.td"

// Functions are found by their role, the `rn.role` attribute
// (dialect/FunctionRoles.h), not by their name: below, `@forward`,
// `@train_step` and `@eval` mean the func.func with rn.role = "forward",
// "train_step" and "eval". The passes that build functions give them these
// names and roles. The fusion passes run on each func.func and leave every
// function without the role they fuse in alone.

def BuildTrainingStep : Pass<"rnc-build-training-step", "::mlir::ModuleOp"> {
  let summary = "Derive the forward part of a training step from @forward";
  let description = [{
    Clones `@forward(%x) -> logits` into
    `@train_step(%x, %labels) -> (loss, correct)`: every `rn.batch_norm`
    becomes `rn.batch_norm_train` (batch statistics) followed by
    `rn.batch_norm_running_update` of its running-statistics buffers; the
    logits feed `rn.softmax_cross_entropy` (the mean loss) and
    `rn.count_correct`. `%labels` is a `tensor<Nxi32>` with the batch of `%x`.
    `@forward` is left as it is.

    The pass fails if the module has no `@forward`, if `@forward` does not
    take one activation and return one [N, K] tensor, or if a
    `@train_step` already exists (it does not transform twice).
  }];
}

def Autodiff : Pass<"rnc-autodiff", "::mlir::ModuleOp"> {
  let summary = "Reverse-mode gradients of @train_step's loss";
  let description = [{
    Differentiates the first result of `@train_step` (a scalar loss) with
    respect to every trained `rn.param` (not `buffer`, not `optimizer`), by
    walking the function backwards and asking each op for its rule through
    `DifferentiableOpInterface` (the pass names no op). Gradients of a value
    used several times are summed with `rn.add`. Only values that depend on
    a parameter get gradients (so none for the input image).

    Each parameter's gradient is appended to the results of `@train_step`,
    in the order the parameters appear, with the result attribute
    `rn.grad_of = "<param name>"`. A parameter the loss does not depend on
    gets no gradient. Fails on an op on the path from a parameter to the
    loss that has no rule (e.g. an eval-mode `rn.batch_norm`), naming it.
  }];
}

def AttachOptimizer : Pass<"rnc-attach-optimizer", "::mlir::ModuleOp"> {
  let summary = "SGD with momentum and weight decay on every gradient result";
  let description = [{
    For every `@train_step` result carrying `rn.grad_of = "<name>"`, adds an
    `optimizer` param `"<name>.momentum_buffer"` (zeros) and an
    `rn.sgd_update` of the parameter, and removes the result. The run-time
    hyperparameters become three `f32` arguments appended to `@train_step`
    with the argument attribute `rn.hyper`: `"lr"`, `"momentum"`,
    `"weight_decay"` (PyTorch's SGD: dampening 0, no Nesterov).
    Does nothing to a function without gradient results.
  }];
}

def BuildInference : Pass<"rnc-build-inference", "::mlir::ModuleOp"> {
  let summary = "Derive @eval (batch norm with running statistics) from @forward";
  let description = [{
    Clones `@forward` into `@eval` with every `rn.batch_norm` in inference
    mode (its `training` attribute removed), so it reads the running
    statistics. Fails without `@forward` or if `@eval` exists.
  }];
}

def PlanMemory : Pass<"rnc-plan-memory", "::mlir::ModuleOp"> {
  let summary = "Static memory plan: one workspace arena, offsets by liveness";
  let description = [{
    Gives every value of every function that needs workspace (an op result
    that is not an `rn.param`, not a view such as `rn.flatten`, and not a
    gradient an `rn.sgd_update` consumes, which lives in the state block)
    an offset in one arena, in floats. A value is live from the op that
    defines it to its last use (uses through views count); two values share
    memory only if their live ranges do not overlap, except that an
    elementwise op (`rn.relu`, `rn.add`, `rn.relu_grad`) writes in place
    into an operand whose last use it is. Offsets are 64-byte aligned and
    chosen best-fit over the free blocks, in op order.

    A batch dim that is dynamic is sized for `max-batch`. Each op with planned
    results gets `rn.offsets` (one entry per result, -1 for none); each
    function gets `rn.arena_floats` (the planned peak) and
    `rn.unplanned_floats` (one buffer per tensor, for comparison).
    Functions without a body are left alone.
  }];
  let options = [
    Option<"maxBatch", "max-batch", "int64_t", /*default=*/"128",
           "Batch size a dynamic batch dim is planned for (> 0)">
  ];
}

def FuseConvBnTrain : Pass<"rnc-fuse-conv-bn-train", "::mlir::func::FuncOp"> {
  let summary = "Fuse conv2d -> batch_norm_train [-> add] [-> relu] in the training step";
  let description = [{
    Training-forward fusion. Each `rn.batch_norm_train` whose input is an
    `rn.conv2d` becomes, with that conv, one `rn.conv2d_bn_train`: the conv
    accumulates the BN statistics in its epilogue (no separate pass over its
    output), and the normalization is applied once, followed, when the
    dataflow allows, by the residual `rn.add` and the `rn.relu` in the same
    pass. The conv output stays materialized (the BN gradient reads it); the
    BN output and the sum before the ReLU are not.

    Does not fuse (and leaves the ops alone) when the conv output has a
    forward user other than the BN (a conv feeding two blocks), and stops
    the chain at a value with a second user: a BN output used twice keeps
    its add and ReLU separate, and a sum used twice (a pre-activation
    block's output) becomes the fused op's result with the ReLU left out. `rn.batch_norm_running_update` ops of a
    fused BN move after the fused op. Runs on `@train_step` after autodiff
    (backward ops keep reading the conv output and the saved statistics).

    With `explain`, emits a remark per fused op saying what it absorbed and
    one per BN, ReLU and add left alone saying why.
  }];
  let options = [
    Option<"explain", "explain", "bool", /*default=*/"false",
           "Emit a remark per fusion decision">
  ];
}

def FuseConvBnEval : Pass<"rnc-fuse-conv-bn-eval", "::mlir::func::FuncOp"> {
  let summary = "Fold eval-mode BN (+ add, + ReLU) into the conv epilogue in eval";
  let description = [{
    Inference fusion. `rn.conv2d -> rn.batch_norm (running statistics)
    [-> rn.add] [-> rn.relu]` in `@eval` becomes one `rn.conv2d_bn_eval`:
    the conv's epilogue applies the per-channel affine map of the BN, then
    the residual add and the ReLU, so nothing between the conv and the
    block output is materialized. The affine map is computed from the live
    parameters (scale, shift, running mean and variance) every time the op
    runs, never folded into a stale copy of the weights.

    Does not fuse when the conv output has a second user (a conv feeding two
    blocks) or when the BN is in training mode; stops the chain at a value
    with a second user, as rnc-fuse-conv-bn-train does. With `explain`,
    emits a remark per decision.
  }];
  let options = [
    Option<"explain", "explain", "bool", /*default=*/"false",
           "Emit a remark per fusion decision">
  ];
}

def FuseReluBnGrad : Pass<"rnc-fuse-relu-bn-grad", "::mlir::func::FuncOp"> {
  let summary = "Fuse relu_grad into the following batch_norm_grad (backward)";
  let description = [{
    Training-backward fusion. An `rn.batch_norm_grad` whose result gradient
    is an `rn.relu_grad` with no other user becomes one
    `rn.batch_norm_relu_grad`: the ReLU mask is applied while the BN
    reductions and the input gradient read the gradient, so the masked
    gradient is never stored. This is every ReLU that directly follows a BN
    inside a block.

    Does not fuse a `rn.relu_grad` whose result has other users: the ReLU at
    a block's output, whose gradient fans out to the residual branch and the
    shortcut. With `explain`, emits a remark per `rn.relu_grad`.
  }];
  let options = [
    Option<"explain", "explain", "bool", /*default=*/"false",
           "Emit a remark per fusion decision">
  ];
}

def FusePoolBnGrad : Pass<"rnc-fuse-pool-bn-grad", "::mlir::func::FuncOp"> {
  let summary = "Fuse max_pool2d_grad into the following batch_norm_relu_grad (backward)";
  let description = [{
    Training-backward fusion, after `rnc-fuse-relu-bn-grad`. Where a stem
    runs conv, BN, ReLU, then a max pool, the backward computes the
    gradient at the pool's input with `rn.max_pool2d_grad` (a tensor at the
    stem's full resolution, zero but at each window's maximum) and the
    `rn.batch_norm_relu_grad` reads it twice. The two become one
    `rn.max_pool2d_bn_relu_grad`: the pool's gradient is routed a plane at
    a time while the BN reads it, and that tensor is never stored
    (fashion_resnet: 12.8 MB written and read twice per step at batch 128).

    Fuses when the `rn.max_pool2d_grad` result's only user is the
    `rn.batch_norm_relu_grad`'s result gradient, the pool's input is that
    op's ReLU result and the windows tile the input (stride == kernel, no
    padding: fashion_resnet's 2x2 pool). Does not fuse otherwise: a pool
    gradient read elsewhere, a pool over another tensor, or overlapping or
    padded windows (the ResNet stem's 3x3 stride 2 pad 1), where the kernel
    would route the gradient once for each of the BN's two passes and was
    measured slower than the two ops (d2l_resnet18 at 96x96: 0.390 s
    against 0.296 s over three steps). The cpu target has the fused kernel;
    `rnc compile` runs this pass for it only. With `explain`, emits a
    remark per `rn.max_pool2d_grad`.
  }];
  let options = [
    Option<"explain", "explain", "bool", /*default=*/"false",
           "Emit a remark per fusion decision">
  ];
}

def FuseGradFanIn : Pass<"rnc-fuse-grad-fan-in", "::mlir::func::FuncOp"> {
  let summary = "Fuse the gradient fan-in add (and ReLU mask) into a conv input gradient";
  let description = [{
    Training-backward fusion. Where a block output fans out to the next
    block's branch and its shortcut, autodiff sums the two gradients with an
    `rn.add` and the block's output ReLU masks the sum with `rn.relu_grad`.
    An `rn.conv2d_grad_input` whose only user is such an add becomes one
    `rn.conv2d_grad_input_fanin` that adds the other gradient, and applies the
    mask when the add's only user is an `rn.relu_grad`, in the transposed
    convolution's epilogue.

    Does not fuse: a conv input gradient with other users (the unsummed
    gradient is needed), an add with no such operand, or a ReLU mask on a sum
    that has other users (then only the add is absorbed). A `rn.relu_grad`
    whose only user is an `rn.batch_norm_grad` is left to
    `rnc-fuse-relu-bn-grad`, which keeps the masked gradient out of memory
    altogether; run this pass first. With `explain`, emits a remark per fused
    kernel and per gradient add left alone.
  }];
  let options = [
    Option<"explain", "explain", "bool", /*default=*/"false",
           "Emit a remark per fusion decision">
  ];
}

def FuseBnGradReduce : Pass<"rnc-fuse-bn-grad-reduce", "::mlir::func::FuncOp"> {
  let summary = "Move the BN backward reductions into the conv input gradient's epilogue";
  let description = [{
    Training-backward fusion. A training batch norm's gradient needs two
    per-channel sums of its incoming gradient g: sum g and
    sum g * (x - mean). Where g is the input gradient of a convolution
    (`rn.conv2d_grad_input`, or `rn.conv2d_grad_input_fanin` with the fan-in
    add and the block output's ReLU mask), the convolution computes both
    sums while each image of g is still in cache: the pair becomes one
    `rn.conv2d_grad_input_bn_reduce`, which writes g and the sums, and one
    `rn.batch_norm_grad_from_sums`, which writes dx, dgamma and dbeta in a
    single pass. The mask of an `rn.batch_norm_relu_grad` moves into the
    convolution's epilogue, so g is stored masked. Grouped convolutions fuse
    like dense ones.

    Before (the ReLU between a block's BN and its next conv, after
    `rnc-fuse-relu-bn-grad`):

    ```mlir
    %g = rn.conv2d_grad_input %dy, %w {padding = array<i64: 1, 1>}
        : tensor<?x4x6x6xf32>, tensor<4x4x3x3xf32> -> tensor<?x4x6x6xf32>
    %dx, %dgamma, %dbeta = rn.batch_norm_relu_grad %g, %r, %x, %mean, %inv_std, %gamma
        : tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>,
          tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
    ```

    After:

    ```mlir
    %g, %sum, %dev = rn.conv2d_grad_input_bn_reduce %dy, %w relu_result %r
        bn_input %x bn_mean %mean {padding = array<i64: 1, 1>}
        : (tensor<?x4x6x6xf32>, tensor<4x4x3x3xf32>, tensor<?x4x6x6xf32>,
           tensor<?x4x6x6xf32>, tensor<4xf32>)
        -> (tensor<?x4x6x6xf32>, tensor<4xf32>, tensor<4xf32>)
    %dx, %dgamma, %dbeta = rn.batch_norm_grad_from_sums %g, %x, %mean, %inv_std, %gamma, %sum, %dev
        : tensor<?x4x6x6xf32>, tensor<?x4x6x6xf32>, tensor<4xf32>, tensor<4xf32>,
          tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
    ```

    Fuses an `rn.batch_norm_grad` or `rn.batch_norm_relu_grad` of
    `@train_step` whose result gradient is such a conv input gradient, when:
    the BN's input and mean are computed before the convolution (the fused
    op reads them); the stored gradient stays what its other users read (a
    conv gradient with other users keeps its value: it fuses with a
    `rn.batch_norm_grad`, whose gradient it already is, but not with the mask
    of a `rn.batch_norm_relu_grad`, nor a fan-in op that already applies a
    mask); and no other BN's reductions already went into that convolution
    (a projection block's output gradient feeds two BNs, the branch's last
    and the shortcut's; the first in op order is fused).

    Runs after `rnc-fuse-grad-fan-in` and `rnc-fuse-relu-bn-grad` and takes
    their fused ops as input (their mask moves once more, into the conv).
    With `explain`, emits a remark per fused pair and one per BN gradient
    left alone, saying why.
  }];
  let options = [
    Option<"explain", "explain", "bool", /*default=*/"false",
           "Emit a remark per fusion decision">
  ];
}

#endif // RNC_PASSES_PASSES_TD
