// Ops of the training step, created by passes (never by the front end):
// batch-norm batch statistics, gradients, accuracy and state updates.
// Included by RnOps.td; implemented in RnTrainOps.cpp.
#ifndef RNC_DIALECT_RNTRAINOPS_TD
#define RNC_DIALECT_RNTRAINOPS_TD

// Sliding-window attributes shared by the pooling gradient ops.
defvar Rn_PoolWindowArgs = (ins
  DenseI64ArrayAttr:$kernel,
  OptionalAttr<DenseI64ArrayAttr>:$stride,
  DefaultValuedAttr<DenseI64ArrayAttr, "{0, 0}">:$padding
);
defvar Rn_ConvArgs = (ins
  DefaultValuedAttr<DenseI64ArrayAttr, "{1, 1}">:$stride,
  DefaultValuedAttr<DenseI64ArrayAttr, "{0, 0}">:$padding,
  DefaultValuedAttr<DenseI64ArrayAttr, "{1, 1}">:$dilation,
  DefaultValuedAttr<I64Attr, "1">:$groups
);

// A gradient op whose result type is spelled out (it cannot be inferred:
// e.g. a strided convolution maps several input sizes to one output size);
// the verifier checks it against the forward rule.
class Rn_GradOp<string mnemonic, list<Trait> traits = []>
    : Rn_Op<mnemonic, !listconcat([Pure], traits)> {
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Forward ops of training
//===----------------------------------------------------------------------===//

def Rn_BatchNormTrainOp : Rn_InferredOp<"batch_norm_train",
    [DeclareOpInterfaceMethods<Rn_DifferentiableOpInterface>]> {
  let summary = "batch norm with batch statistics, saving them for backward";
  let description = [{
    Normalizes each channel of `input` with the mean and biased variance of
    the batch (over N, H, W) and applies `scale` and `shift`. Also returns the
    batch `mean` and `inv_std = 1 / sqrt(var + epsilon)`, which the gradient
    and the running-statistics update read (PyTorch's save_mean/save_invstd).

    ```mlir
    %y, %mean, %inv_std = rn.batch_norm_train %x, %gamma, %beta
        : tensor<?x64x56x56xf32>, tensor<64xf32>, tensor<64xf32>
    ```
  }];
  let arguments = (ins Rn_Tensor2DOr4D:$input, Rn_Tensor1D:$scale,
                       Rn_Tensor1D:$shift,
                       DefaultValuedAttr<F64Attr, "1e-5">:$epsilon);
  let results = (outs Rn_Tensor2DOr4D:$result, Rn_Tensor1D:$mean,
                      Rn_Tensor1D:$inv_std);
  let assemblyFormat = [{
    $input `,` $scale `,` $shift attr-dict
    `:` type($input) `,` type($scale) `,` type($shift)
  }];
  let hasVerifier = 1;
}

def Rn_BatchNormRunningUpdateOp : Rn_Op<"batch_norm_running_update",
    [MemoryEffects<[MemWrite]>]> {
  let summary = "updates BN running statistics in place (PyTorch formula)";
  let description = [{
    `running_mean` and `running_var` must be `rn.param` buffers; their
    storage is updated with the batch statistics of `rn.batch_norm_train`:
    `running_mean = (1 - momentum) * running_mean + momentum * mean`,
    `running_var = (1 - momentum) * running_var + momentum * var * n / (n - 1)`
    with `var = 1 / inv_std^2 - epsilon` and `n` the number of elements per
    channel of `input` (N * H * W, known at run time).

    ```mlir
    rn.batch_norm_running_update %rm, %rv, %mean, %inv_std, %x {momentum = 1.000000e-01 : f64}
        : tensor<64xf32>, tensor<64xf32>, tensor<64xf32>, tensor<64xf32>, tensor<?x64x56x56xf32>
    ```
  }];
  let arguments = (ins Rn_Tensor1D:$running_mean, Rn_Tensor1D:$running_var,
                       Rn_Tensor1D:$mean, Rn_Tensor1D:$inv_std,
                       Rn_Tensor2DOr4D:$input,
                       DefaultValuedAttr<F64Attr, "1e-5">:$epsilon,
                       DefaultValuedAttr<F64Attr, "0.1">:$momentum);
  let assemblyFormat = [{
    $running_mean `,` $running_var `,` $mean `,` $inv_std `,` $input attr-dict
    `:` type($running_mean) `,` type($running_var) `,` type($mean) `,`
        type($inv_std) `,` type($input)
  }];
  let hasVerifier = 1;
}

def Rn_CountCorrectOp : Rn_InferredOp<"count_correct"> {
  let summary = "number of rows whose first argmax is the label";
  let description = [{
    ```mlir
    %c = rn.count_correct %logits, %labels : tensor<?x10xf32>, tensor<?xi32>
    // %c : tensor<i32>
    ```
  }];
  let arguments = (ins Rn_Tensor2D:$logits, Rn_Labels:$labels);
  let results = (outs 0DTensorOf<[I32]>:$result);
  let assemblyFormat = [{
    $logits `,` $labels attr-dict `:` type($logits) `,` type($labels)
  }];
}

//===----------------------------------------------------------------------===//
// Gradient ops (each is the reverse rule of one forward op)
//===----------------------------------------------------------------------===//

def Rn_BatchNormGradOp : Rn_InferredOp<"batch_norm_grad"> {
  let summary = "gradient of rn.batch_norm_train";
  let description = [{
    Given the result gradient `dy` and the saved `input`, `mean`, `inv_std`
    and `scale`, returns the gradients of the input, scale and shift (batch
    statistics are functions of the input, as in training).

    ```mlir
    %dx, %dgamma, %dbeta = rn.batch_norm_grad %dy, %x, %mean, %inv_std, %gamma
        : tensor<?x64x56x56xf32>, tensor<?x64x56x56xf32>, tensor<64xf32>,
          tensor<64xf32>, tensor<64xf32>
    ```
  }];
  let arguments = (ins Rn_Tensor2DOr4D:$result_grad, Rn_Tensor2DOr4D:$input,
                       Rn_Tensor1D:$mean, Rn_Tensor1D:$inv_std,
                       Rn_Tensor1D:$scale);
  let results = (outs Rn_Tensor2DOr4D:$input_grad, Rn_Tensor1D:$scale_grad,
                      Rn_Tensor1D:$shift_grad);
  let assemblyFormat = [{
    $result_grad `,` $input `,` $mean `,` $inv_std `,` $scale attr-dict
    `:` type($result_grad) `,` type($input) `,` type($mean) `,`
        type($inv_std) `,` type($scale)
  }];
}

def Rn_Conv2DGradInputOp : Rn_GradOp<"conv2d_grad_input"> {
  let summary = "gradient of rn.conv2d with respect to its input";
  let description = [{
    The transposed convolution of `result_grad` with `weight`; attributes as
    on the forward `rn.conv2d`. The input type is spelled out.

    ```mlir
    %dx = rn.conv2d_grad_input %dy, %w {padding = array<i64: 1, 1>}
        : tensor<?x64x56x56xf32>, tensor<64x64x3x3xf32> -> tensor<?x64x56x56xf32>
    ```
  }];
  let arguments = !con((ins Rn_Tensor4D:$result_grad, Rn_Tensor4D:$weight),
                       Rn_ConvArgs);
  let results = (outs Rn_Tensor4D:$input_grad);
  let assemblyFormat = [{
    $result_grad `,` $weight attr-dict `:` type($result_grad) `,` type($weight)
    `->` type($input_grad)
  }];
}

def Rn_Conv2DGradWeightOp : Rn_GradOp<"conv2d_grad_weight"> {
  let summary = "gradient of rn.conv2d with respect to its weight";
  let description = [{
    Correlates the saved `input` with `result_grad`, summed over the batch.

    ```mlir
    %dw = rn.conv2d_grad_weight %dy, %x {padding = array<i64: 1, 1>}
        : tensor<?x64x56x56xf32>, tensor<?x64x56x56xf32> -> tensor<64x64x3x3xf32>
    ```
  }];
  let arguments = !con((ins Rn_Tensor4D:$result_grad, Rn_Tensor4D:$input),
                       Rn_ConvArgs);
  let results = (outs Rn_Tensor4D:$weight_grad);
  let assemblyFormat = [{
    $result_grad `,` $input attr-dict `:` type($result_grad) `,` type($input)
    `->` type($weight_grad)
  }];
}

def Rn_BiasGradOp : Rn_InferredOp<"bias_grad"> {
  let summary = "gradient of a conv or linear bias: sum over all but dim 1";
  let description = [{
    ```mlir
    %db = rn.bias_grad %dy : tensor<?x10xf32>
    // %db : tensor<10xf32>
    ```
  }];
  let arguments = (ins Rn_Tensor2DOr4D:$result_grad);
  let results = (outs Rn_Tensor1D:$bias_grad);
  let assemblyFormat = "$result_grad attr-dict `:` type($result_grad)";
}

def Rn_ReluGradOp : Rn_InferredOp<"relu_grad"> {
  let summary = "gradient of rn.relu: dy where the ReLU output is positive";
  let description = [{
    ```mlir
    %dx = rn.relu_grad %dy, %y : tensor<?x64x56x56xf32>, tensor<?x64x56x56xf32>
    ```
  }];
  let arguments = (ins Rn_Tensor:$result_grad, Rn_Tensor:$result);
  let results = (outs Rn_Tensor:$input_grad);
  let assemblyFormat = [{
    $result_grad `,` $result attr-dict `:` type($result_grad) `,` type($result)
  }];
}

def Rn_MaxPool2DGradOp : Rn_InferredOp<"max_pool2d_grad"> {
  let summary = "gradient of rn.max_pool2d (to the first maximum of each window)";
  let description = [{
    Window attributes as on the forward op; `input` is the saved pool input.

    ```mlir
    %dx = rn.max_pool2d_grad %dy, %x {kernel = array<i64: 3, 3>, padding = array<i64: 1, 1>,
        stride = array<i64: 2, 2>} : tensor<?x64x56x56xf32>, tensor<?x64x112x112xf32>
    ```
  }];
  let arguments = !con((ins Rn_Tensor4D:$result_grad, Rn_Tensor4D:$input),
                       Rn_PoolWindowArgs);
  let results = (outs Rn_Tensor4D:$input_grad);
  let assemblyFormat = [{
    $result_grad `,` $input attr-dict `:` type($result_grad) `,` type($input)
  }];
  let hasVerifier = 1;
}

def Rn_AvgPool2DGradOp : Rn_GradOp<"avg_pool2d_grad"> {
  let summary = "gradient of rn.avg_pool2d";
  let description = [{
    ```mlir
    %dx = rn.avg_pool2d_grad %dy {kernel = array<i64: 2, 2>}
        : tensor<?x256x7x7xf32> -> tensor<?x256x14x14xf32>
    ```
  }];
  let arguments = !con((ins Rn_Tensor4D:$result_grad), Rn_PoolWindowArgs,
                       (ins DefaultValuedAttr<BoolAttr, "true">:$count_include_pad));
  let results = (outs Rn_Tensor4D:$input_grad);
  let assemblyFormat = [{
    $result_grad attr-dict `:` type($result_grad) `->` type($input_grad)
  }];
}

def Rn_GlobalAvgPoolGradOp : Rn_GradOp<"global_avg_pool_grad"> {
  let summary = "gradient of rn.global_avg_pool: dy / (H*W) over each plane";
  let description = [{
    ```mlir
    %dx = rn.global_avg_pool_grad %dy : tensor<?x512x1x1xf32> -> tensor<?x512x7x7xf32>
    ```
  }];
  let arguments = (ins Rn_Tensor4D:$result_grad);
  let results = (outs Rn_Tensor4D:$input_grad);
  let assemblyFormat = [{
    $result_grad attr-dict `:` type($result_grad) `->` type($input_grad)
  }];
}

def Rn_UnflattenOp : Rn_GradOp<"unflatten"> {
  let summary = "reshapes [N, K] back to [N, d1, ..., dk] (gradient of rn.flatten)";
  let description = [{
    ```mlir
    %dx = rn.unflatten %dy : tensor<?x512xf32> -> tensor<?x512x1x1xf32>
    ```
  }];
  let arguments = (ins Rn_Tensor2D:$input);
  let results = (outs Rn_Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
}

def Rn_LinearGradInputOp : Rn_InferredOp<"linear_grad_input"> {
  let summary = "gradient of rn.linear with respect to its input: dy W";
  let description = [{
    ```mlir
    %dx = rn.linear_grad_input %dy, %w : tensor<?x10xf32>, tensor<10x512xf32>
    // %dx : tensor<?x512xf32>
    ```
  }];
  let arguments = (ins Rn_Tensor2D:$result_grad, Rn_Tensor2D:$weight);
  let results = (outs Rn_Tensor2D:$input_grad);
  let assemblyFormat = [{
    $result_grad `,` $weight attr-dict `:` type($result_grad) `,` type($weight)
  }];
}

def Rn_LinearGradWeightOp : Rn_InferredOp<"linear_grad_weight"> {
  let summary = "gradient of rn.linear with respect to its weight: dy^T x";
  let description = [{
    ```mlir
    %dw = rn.linear_grad_weight %dy, %x : tensor<?x10xf32>, tensor<?x512xf32>
    // %dw : tensor<10x512xf32>
    ```
  }];
  let arguments = (ins Rn_Tensor2D:$result_grad, Rn_Tensor2D:$input);
  let results = (outs Rn_Tensor2D:$weight_grad);
  let assemblyFormat = [{
    $result_grad `,` $input attr-dict `:` type($result_grad) `,` type($input)
  }];
}

def Rn_SoftmaxCrossEntropyGradOp : Rn_InferredOp<"softmax_cross_entropy_grad"> {
  let summary = "gradient of the mean loss: (softmax(logits) - onehot) / N";
  let description = [{
    ```mlir
    %dl = rn.softmax_cross_entropy_grad %logits, %labels : tensor<?x10xf32>, tensor<?xi32>
    ```
  }];
  let arguments = (ins Rn_Tensor2D:$logits, Rn_Labels:$labels);
  let results = (outs Rn_Tensor2D:$logits_grad);
  let assemblyFormat = [{
    $logits `,` $labels attr-dict `:` type($logits) `,` type($labels)
  }];
}

//===----------------------------------------------------------------------===//
// Fused ops (created by the fusion passes)
//===----------------------------------------------------------------------===//

def Rn_Conv2DBatchNormTrainOp : Rn_Op<"conv2d_bn_train",
    [Pure, AttrSizedOperandSegments]> {
  let summary = "fused training forward: conv, BN statistics, BN apply, add, ReLU";
  let description = [{
    One kernel sequence for `conv2d -> batch_norm_train [-> add residual]
    [-> relu]` (created by `rnc-fuse-conv-bn-train`): the convolution stores
    `conv_result` (which the BN gradient reads) and accumulates the
    per-channel sum and sum of squares in its epilogue; a small finalize
    gives `mean` and `inv_std`; one more pass applies the normalization,
    `scale` and `shift`, then adds `residual` if present and applies a ReLU
    if `relu` is set, into `result`. Attributes as on `rn.conv2d` and
    `rn.batch_norm_train`.

    ```mlir
    %conv, %y, %mean, %inv_std = rn.conv2d_bn_train %x, %w scale %gamma shift %beta
        residual %res {padding = array<i64: 1, 1>, relu}
        : (tensor<?x64x56x56xf32>, tensor<64x64x3x3xf32>, tensor<64xf32>, tensor<64xf32>,
           tensor<?x64x56x56xf32>) -> (tensor<?x64x56x56xf32>, tensor<?x64x56x56xf32>,
           tensor<64xf32>, tensor<64xf32>)
    ```
  }];
  let arguments = !con((ins Rn_Tensor4D:$input, Rn_Tensor4D:$weight,
                            Optional<Rn_Tensor1D>:$bias, Rn_Tensor1D:$scale,
                            Rn_Tensor1D:$shift,
                            Optional<Rn_Tensor4D>:$residual),
                       Rn_ConvArgs,
                       (ins DefaultValuedAttr<F64Attr, "1e-5">:$epsilon,
                            UnitAttr:$relu));
  let results = (outs Rn_Tensor4D:$conv_result, Rn_Tensor4D:$result,
                      Rn_Tensor1D:$mean, Rn_Tensor1D:$inv_std);
  let assemblyFormat = [{
    $input `,` $weight (`bias` $bias^)? `scale` $scale `shift` $shift
    (`residual` $residual^)? attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Rn_Conv2DBatchNormEvalOp : Rn_Op<"conv2d_bn_eval",
    [Pure, AttrSizedOperandSegments]> {
  let summary = "fused inference: conv with BN, add and ReLU in its epilogue";
  let description = [{
    `conv2d -> batch_norm (running statistics) [-> add residual] [-> relu]`
    as one convolution (created by `rnc-fuse-conv-bn-eval`): its epilogue
    applies `y * s + t` per channel with `s = scale / sqrt(running_var +
    epsilon)` and `t = shift - running_mean * s` (plus `bias * s` if the conv
    has a bias), computed from the live parameters at every run, then adds
    `residual` and applies the ReLU if `relu` is set.
  }];
  let arguments = !con((ins Rn_Tensor4D:$input, Rn_Tensor4D:$weight,
                            Optional<Rn_Tensor1D>:$bias, Rn_Tensor1D:$scale,
                            Rn_Tensor1D:$shift, Rn_Tensor1D:$running_mean,
                            Rn_Tensor1D:$running_var,
                            Optional<Rn_Tensor4D>:$residual),
                       Rn_ConvArgs,
                       (ins DefaultValuedAttr<F64Attr, "1e-5">:$epsilon,
                            UnitAttr:$relu));
  let results = (outs Rn_Tensor4D:$result);
  let assemblyFormat = [{
    $input `,` $weight (`bias` $bias^)? `scale` $scale `shift` $shift
    `running_mean` $running_mean `running_var` $running_var
    (`residual` $residual^)? attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Rn_BatchNormReluGradOp : Rn_InferredOp<"batch_norm_relu_grad"> {
  let summary = "fused backward of relu(batch_norm_train(x)): mask + BN gradient";
  let description = [{
    `rn.relu_grad %dy, %relu_result` followed by `rn.batch_norm_grad` as one
    op (created by `rnc-fuse-relu-bn-grad`): the ReLU mask is applied to the
    result gradient on the fly, in the BN reductions and in the input
    gradient pass, so the masked gradient is never stored.

    ```mlir
    %dx, %dgamma, %dbeta = rn.batch_norm_relu_grad %dy, %r, %x, %mean, %inv_std, %gamma
        : tensor<?x64x56x56xf32>, tensor<?x64x56x56xf32>, tensor<?x64x56x56xf32>,
          tensor<64xf32>, tensor<64xf32>, tensor<64xf32>
    ```
  }];
  let arguments = (ins Rn_Tensor2DOr4D:$result_grad,
                       Rn_Tensor2DOr4D:$relu_result, Rn_Tensor2DOr4D:$input,
                       Rn_Tensor1D:$mean, Rn_Tensor1D:$inv_std,
                       Rn_Tensor1D:$scale);
  let results = (outs Rn_Tensor2DOr4D:$input_grad, Rn_Tensor1D:$scale_grad,
                      Rn_Tensor1D:$shift_grad);
  let assemblyFormat = [{
    $result_grad `,` $relu_result `,` $input `,` $mean `,` $inv_std `,` $scale
    attr-dict `:` type($result_grad) `,` type($relu_result) `,` type($input)
    `,` type($mean) `,` type($inv_std) `,` type($scale)
  }];
}

def Rn_MaxPool2DBatchNormReluGradOp
    : Rn_InferredOp<"max_pool2d_bn_relu_grad"> {
  let summary = "fused backward of max_pool2d(relu(batch_norm_train(x)))";
  let description = [{
    `rn.max_pool2d_grad %g, %r` followed by `rn.batch_norm_relu_grad` of
    its result as one op (created by `rnc-fuse-pool-bn-grad`): the
    gradient at the pool's input is routed from the pooled gradient `%g`
    plane by plane while the BN reductions and the input-gradient pass read
    it, so that full-resolution gradient is never stored. `relu_result` is
    the ReLU's output and the pool's input; `input` the BN's input. Window
    attributes as on `rn.max_pool2d`.

    ```mlir
    %dx, %dgamma, %dbeta = rn.max_pool2d_bn_relu_grad %g, %r, %x, %mean, %inv_std, %gamma
        {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>}
        : tensor<?x32x14x14xf32>, tensor<?x32x28x28xf32>, tensor<?x32x28x28xf32>,
          tensor<32xf32>, tensor<32xf32>, tensor<32xf32>
    ```
  }];
  let arguments = !con((ins Rn_Tensor4D:$result_grad, Rn_Tensor4D:$relu_result,
                            Rn_Tensor4D:$input, Rn_Tensor1D:$mean,
                            Rn_Tensor1D:$inv_std, Rn_Tensor1D:$scale),
                       Rn_PoolWindowArgs);
  let results = (outs Rn_Tensor4D:$input_grad, Rn_Tensor1D:$scale_grad,
                      Rn_Tensor1D:$shift_grad);
  let assemblyFormat = [{
    $result_grad `,` $relu_result `,` $input `,` $mean `,` $inv_std `,` $scale
    attr-dict `:` type($result_grad) `,` type($relu_result) `,` type($input)
    `,` type($mean) `,` type($inv_std) `,` type($scale)
  }];
  let hasVerifier = 1;
}

def Rn_Conv2DGradInputFanInOp : Rn_GradOp<"conv2d_grad_input_fanin"> {
  let summary = "fused backward: conv input gradient + gradient fan-in [+ ReLU mask]";
  let description = [{
    `rn.conv2d_grad_input -> rn.add %other [-> rn.relu_grad %relu_result]` as
    one kernel (created by `rnc-fuse-grad-fan-in`): where a block output fans
    out to a branch and a shortcut, its gradient is the sum of both paths;
    the transposed convolution adds `addend` (the other path's gradient) and
    applies the ReLU mask `relu_result > 0` in its epilogue, so neither the
    convolution's own gradient nor the unmasked sum is stored. Attributes as
    on `rn.conv2d_grad_input`; the input type is spelled out.

    ```mlir
    %dx = rn.conv2d_grad_input_fanin %dy, %w addend %other relu_result %r {padding = array<i64: 1, 1>}
        : (tensor<?x64x56x56xf32>, tensor<64x64x3x3xf32>, tensor<?x64x56x56xf32>,
           tensor<?x64x56x56xf32>) -> tensor<?x64x56x56xf32>
    ```
  }];
  let arguments = !con((ins Rn_Tensor4D:$result_grad, Rn_Tensor4D:$weight,
                            Rn_Tensor4D:$addend,
                            Optional<Rn_Tensor4D>:$relu_result),
                       Rn_ConvArgs);
  let results = (outs Rn_Tensor4D:$input_grad);
  let assemblyFormat = [{
    $result_grad `,` $weight `addend` $addend (`relu_result` $relu_result^)?
    attr-dict `:` functional-type(operands, results)
  }];
}

def Rn_Conv2DGradInputBnReduceOp : Rn_GradOp<"conv2d_grad_input_bn_reduce",
    [AttrSizedOperandSegments]> {
  let summary = "fused backward: conv input gradient [+ fan-in] [+ ReLU mask] + BN gradient sums";
  let description = [{
    The input gradient of a convolution whose result is the incoming
    gradient of a training batch norm (created by `rnc-fuse-bn-grad-reduce`
    from `rn.conv2d_grad_input` or `rn.conv2d_grad_input_fanin` and the
    `rn.batch_norm_grad` or `rn.batch_norm_relu_grad` that reads it). With
    `t` the transposed convolution of `result_grad` with `weight`
    (attributes as on `rn.conv2d_grad_input`; the input type is spelled
    out), every element of `input_grad` is

        g = t + addend                          (addend absent: g = t)
        g = relu_result > 0 ? g : 0             (only with relu_result)

    and, per channel c of `input_grad` (the BN's channels), over N, H, W:

        grad_sum[c]     = sum g
        grad_dev_sum[c] = sum g * (bn_input - bn_mean[c])

    `bn_input` and `bn_mean` are the BN's saved input and batch mean. The
    sums are accumulated while the convolution's output is in cache (the
    CPU kernel: per image and channel, then over images in order); they are
    what `rn.batch_norm_grad_from_sums` needs, so the BN gradient never
    reads `input_grad` twice. `input_grad` is stored, masked: the BN
    gradient reads it, and so may other users (a block output's masked
    gradient also flows into its shortcut).

    ```mlir
    %g, %sum, %dev = rn.conv2d_grad_input_bn_reduce %dy, %w relu_result %r
        bn_input %x bn_mean %mean {padding = array<i64: 1, 1>}
        : (tensor<?x64x56x56xf32>, tensor<64x64x3x3xf32>, tensor<?x64x56x56xf32>,
           tensor<?x64x56x56xf32>, tensor<64xf32>)
        -> (tensor<?x64x56x56xf32>, tensor<64xf32>, tensor<64xf32>)
    ```
  }];
  let arguments = !con((ins Rn_Tensor4D:$result_grad, Rn_Tensor4D:$weight,
                            Optional<Rn_Tensor4D>:$addend,
                            Optional<Rn_Tensor4D>:$relu_result,
                            Rn_Tensor4D:$bn_input, Rn_Tensor1D:$bn_mean),
                       Rn_ConvArgs);
  let results = (outs Rn_Tensor4D:$input_grad, Rn_Tensor1D:$grad_sum,
                      Rn_Tensor1D:$grad_dev_sum);
  let assemblyFormat = [{
    $result_grad `,` $weight (`addend` $addend^)? (`relu_result` $relu_result^)?
    `bn_input` $bn_input `bn_mean` $bn_mean attr-dict `:`
    functional-type(operands, results)
  }];
}

def Rn_BatchNormGradFromSumsOp : Rn_InferredOp<"batch_norm_grad_from_sums"> {
  let summary = "BN gradient from the per-channel sums of its result gradient";
  let description = [{
    `rn.batch_norm_grad` with its reductions already done (by
    `rn.conv2d_grad_input_bn_reduce`, created together by
    `rnc-fuse-bn-grad-reduce`): given the result gradient `g` (masked, if a
    ReLU followed the BN), the saved `input` x, `mean`, `inv_std`, the
    `scale` gamma and the sums `grad_sum` = sum g and `grad_dev_sum` =
    sum g * (x - mean) per channel over N, H, W, with m = N * H * W:

        shift_grad[c] = grad_sum[c]
        scale_grad[c] = grad_dev_sum[c] * inv_std[c]
        input_grad    = gamma[c] * inv_std[c] * (g - shift_grad[c] / m
                          - (x - mean[c]) * inv_std[c] * scale_grad[c] / m)

    One pass over g and x.

    ```mlir
    %dx, %dgamma, %dbeta = rn.batch_norm_grad_from_sums %g, %x, %mean, %inv_std, %gamma, %sum, %dev
        : tensor<?x64x56x56xf32>, tensor<?x64x56x56xf32>, tensor<64xf32>,
          tensor<64xf32>, tensor<64xf32>, tensor<64xf32>, tensor<64xf32>
    ```
  }];
  let arguments = (ins Rn_Tensor4D:$result_grad, Rn_Tensor4D:$input,
                       Rn_Tensor1D:$mean, Rn_Tensor1D:$inv_std,
                       Rn_Tensor1D:$scale, Rn_Tensor1D:$grad_sum,
                       Rn_Tensor1D:$grad_dev_sum);
  let results = (outs Rn_Tensor4D:$input_grad, Rn_Tensor1D:$scale_grad,
                      Rn_Tensor1D:$shift_grad);
  let assemblyFormat = [{
    $result_grad `,` $input `,` $mean `,` $inv_std `,` $scale `,` $grad_sum
    `,` $grad_dev_sum attr-dict `:` type($result_grad) `,` type($input) `,`
    type($mean) `,` type($inv_std) `,` type($scale) `,` type($grad_sum) `,`
    type($grad_dev_sum)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Optimizer
//===----------------------------------------------------------------------===//

def Rn_SgdUpdateOp : Rn_Op<"sgd_update", [MemoryEffects<[MemWrite]>]> {
  let summary = "one SGD-with-momentum step on a parameter, in place";
  let description = [{
    `param` and `momentum_buffer` must be `rn.param` values (the buffer an
    `optimizer` param); their storage is updated with PyTorch's SGD
    (dampening 0, no Nesterov): `d = grad + weight_decay * param`,
    `buf = momentum * buf + d`, `param -= lr * buf`. The hyperparameters are
    run-time scalars (arguments of the training step). The gradient is kept
    readable by the runtime as `<param>.grad`.

    ```mlir
    rn.sgd_update %w, %buf, %dw, %lr, %momentum, %wd
        : tensor<64x3x7x7xf32>, tensor<64x3x7x7xf32>, tensor<64x3x7x7xf32>
    ```
  }];
  let arguments = (ins Rn_Tensor:$param, Rn_Tensor:$momentum_buffer,
                       Rn_Tensor:$grad, F32:$lr, F32:$momentum,
                       F32:$weight_decay);
  let assemblyFormat = [{
    $param `,` $momentum_buffer `,` $grad `,` $lr `,` $momentum `,`
    $weight_decay attr-dict `:` type($param) `,` type($momentum_buffer) `,`
    type($grad)
  }];
  let hasVerifier = 1;
}

#endif // RNC_DIALECT_RNTRAINOPS_TD
