// Operations of the `rn` dialect; result types are inferred (RnOps.cpp).
#ifndef RNC_DIALECT_RNOPS_TD
#define RNC_DIALECT_RNOPS_TD

include "dialect/RnDialect.td"
include "dialect/RnInterfaces.td"
include "mlir/IR/CommonAttrConstraints.td"
include "mlir/IR/CommonTypeConstraints.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

//===----------------------------------------------------------------------===//
// Type constraints
//===----------------------------------------------------------------------===//

// Ranks and static dims are checked by type inference and the verifiers,
// which word the error; these constraints only pin down rank and element type.
def Rn_Tensor : RankedTensorOf<[F32]>;
def Rn_Tensor1D : 1DTensorOf<[F32]>;
def Rn_Tensor2D : 2DTensorOf<[F32]>;
def Rn_Tensor4D : 4DTensorOf<[F32]>;
def Rn_Tensor2DOr4D : TensorRankOf<[F32], [2, 4]>;
def Rn_Labels : 1DTensorOf<[I32]>;
def Rn_Scalar : 0DTensorOf<[F32]>;

// Base class of the ops whose result type is computed by a static
// `inferReturnTypes(context, location, adaptor, types)` in RnOps.cpp.
class Rn_InferredOp<string mnemonic, list<Trait> traits = []>
    : Rn_Op<mnemonic, !listconcat([Pure, InferTypeOpAdaptor], traits)>;

// Forward ops with a gradient rule (dialect/RnGradients.cpp).
defvar Rn_Differentiable = DeclareOpInterfaceMethods<Rn_DifferentiableOpInterface>;

//===----------------------------------------------------------------------===//
// ParamOp
//===----------------------------------------------------------------------===//

def Rn_ParamOp : Rn_Op<"param", [Pure]> {
  let summary = "a named model parameter or buffer";
  let description = [{
    Declares a tensor the runtime owns, under its PyTorch state-dict `name`.
    `init` says how it is initialized: one of `kaiming_normal`,
    `kaiming_uniform`, `zeros`, `ones`, `linear_weight`, `linear_bias`,
    `conv_bias`. A `buffer` is not trained (batch-norm running statistics);
    every other param receives a gradient, except an `optimizer` param
    (optimizer state such as a momentum buffer, created by
    `rnc-attach-optimizer`). The result type is spelled out
    and must be fully static.

    Example:

    ```mlir
    %w = rn.param "conv1.weight" {init = "kaiming_normal"} : tensor<64x3x7x7xf32>
    %m = rn.param "bn1.running_mean" {buffer, init = "zeros"} : tensor<64xf32>
    ```
  }];

  let arguments = (ins StrAttr:$name, StrAttr:$init, UnitAttr:$buffer,
                       UnitAttr:$optimizer);
  let results = (outs Rn_Tensor:$result);

  let assemblyFormat = "$name attr-dict `:` type($result)";
  let hasVerifier = 1;

  let extraClassDeclaration = [{
    /// The values `init` may take.
    static ::llvm::ArrayRef<::llvm::StringLiteral> getInitKinds();
  }];
}

//===----------------------------------------------------------------------===//
// Conv2DOp
//===----------------------------------------------------------------------===//

def Rn_Conv2DOp : Rn_InferredOp<"conv2d", [Rn_Differentiable]> {
  let summary = "2-D convolution (PyTorch nn.Conv2d)";
  let description = [{
    Convolves `input` [N, C, H, W] with `weight` [O, C/groups, KH, KW] and
    adds the optional `bias` [O]. `padding` [ph, pw] is symmetric. The result
    is [N, O, OH, OW] with
    `OH = (H + 2*ph - dh*(KH-1) - 1) / sh + 1` (floor), likewise OW.
    Defaults: `stride` [1, 1], `padding` [0, 0], `dilation` [1, 1],
    `groups` 1; attributes equal to their default are not printed.

    Example (the 7x7 stem of ResNet-18, then a grouped 3x3 conv):

    ```mlir
    %y = rn.conv2d %x, %w {padding = array<i64: 3, 3>, stride = array<i64: 2, 2>}
        : tensor<?x3x224x224xf32>, tensor<64x3x7x7xf32>
    // %y : tensor<?x64x112x112xf32>
    %z = rn.conv2d %y, %g, %b {groups = 2 : i64, padding = array<i64: 1, 1>}
        : tensor<?x64x112x112xf32>, tensor<128x32x3x3xf32>, tensor<128xf32>
    // %z : tensor<?x128x112x112xf32>
    ```
  }];

  let arguments = (ins
    Rn_Tensor4D:$input,
    Rn_Tensor4D:$weight,
    Optional<Rn_Tensor1D>:$bias,
    DefaultValuedAttr<DenseI64ArrayAttr, "{1, 1}">:$stride,
    DefaultValuedAttr<DenseI64ArrayAttr, "{0, 0}">:$padding,
    DefaultValuedAttr<DenseI64ArrayAttr, "{1, 1}">:$dilation,
    DefaultValuedAttr<I64Attr, "1">:$groups
  );
  let results = (outs Rn_Tensor4D:$result);

  let assemblyFormat = [{
    $input `,` $weight (`,` $bias^)? attr-dict
    `:` type($input) `,` type($weight) (`,` type($bias)^)?
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// BatchNormOp
//===----------------------------------------------------------------------===//

def Rn_BatchNormOp : Rn_InferredOp<"batch_norm"> {
  let summary = "batch normalization (PyTorch nn.BatchNorm2d / BatchNorm1d)";
  let description = [{
    Normalizes each channel of `input` ([N, C, H, W] or [N, C]) and applies
    the affine `scale` (gamma) and `shift` (beta), all [C]. With `training`
    the batch statistics are used (and the runtime updates the running
    statistics with `momentum`, PyTorch convention:
    `running = (1 - momentum) * running + momentum * batch`); without it,
    `running_mean` and `running_var` are used, as in inference.
    Defaults: `epsilon` 1e-5, `momentum` 0.1. The result has the input type.

    Example:

    ```mlir
    %y = rn.batch_norm %x, %gamma, %beta, %mean, %var {training}
        : tensor<?x64x56x56xf32>, tensor<64xf32>, tensor<64xf32>,
          tensor<64xf32>, tensor<64xf32>
    ```
  }];

  let arguments = (ins
    Rn_Tensor2DOr4D:$input,
    Rn_Tensor1D:$scale,
    Rn_Tensor1D:$shift,
    Rn_Tensor1D:$running_mean,
    Rn_Tensor1D:$running_var,
    DefaultValuedAttr<F64Attr, "1e-5">:$epsilon,
    DefaultValuedAttr<F64Attr, "0.1">:$momentum,
    UnitAttr:$training
  );
  let results = (outs Rn_Tensor2DOr4D:$result);

  let assemblyFormat = [{
    $input `,` $scale `,` $shift `,` $running_mean `,` $running_var attr-dict
    `:` type($input) `,` type($scale) `,` type($shift) `,`
        type($running_mean) `,` type($running_var)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// ReluOp
//===----------------------------------------------------------------------===//

def Rn_ReluOp : Rn_InferredOp<"relu", [Rn_Differentiable]> {
  let summary = "elementwise max(x, 0)";
  let description = [{
    The result has the operand type.

    Example:

    ```mlir
    %y = rn.relu %x : tensor<?x64x56x56xf32>
    ```
  }];

  let arguments = (ins Rn_Tensor:$input);
  let results = (outs Rn_Tensor:$result);

  let assemblyFormat = "$input attr-dict `:` type($input)";
}

//===----------------------------------------------------------------------===//
// AddOp
//===----------------------------------------------------------------------===//

def Rn_AddOp : Rn_InferredOp<"add", [Rn_Differentiable]> {
  let summary = "elementwise sum (the residual connection)";
  let description = [{
    `lhs` and `rhs` must have the same shape; a dynamic batch dim is
    compatible with any batch. The result has the type of `lhs`.

    Example:

    ```mlir
    %y = rn.add %a, %b : tensor<?x64x56x56xf32>, tensor<?x64x56x56xf32>
    ```
  }];

  let arguments = (ins Rn_Tensor:$lhs, Rn_Tensor:$rhs);
  let results = (outs Rn_Tensor:$result);

  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` type($lhs) `,` type($rhs)";
}

//===----------------------------------------------------------------------===//
// MaxPool2DOp
//===----------------------------------------------------------------------===//

def Rn_MaxPool2DOp : Rn_InferredOp<"max_pool2d", [Rn_Differentiable]> {
  let summary = "2-D max pooling (PyTorch nn.MaxPool2d, ceil_mode=False)";
  let description = [{
    Takes the maximum over `kernel` [kh, kw] windows of `input` [N, C, H, W].
    `stride` is optional and defaults to the kernel (as in PyTorch);
    `padding` [ph, pw] defaults to [0, 0], pads with -inf and must be at
    most half the kernel. The output size is rounded down:
    `OH = (H + 2*ph - kh) / sh + 1`, likewise OW.

    Example (the ResNet stem pool):

    ```mlir
    %y = rn.max_pool2d %x {kernel = array<i64: 3, 3>, padding = array<i64: 1, 1>,
                           stride = array<i64: 2, 2>} : tensor<?x64x112x112xf32>
    // %y : tensor<?x64x56x56xf32>
    ```
  }];

  let arguments = (ins
    Rn_Tensor4D:$input,
    DenseI64ArrayAttr:$kernel,
    OptionalAttr<DenseI64ArrayAttr>:$stride,
    DefaultValuedAttr<DenseI64ArrayAttr, "{0, 0}">:$padding
  );
  let results = (outs Rn_Tensor4D:$result);

  let assemblyFormat = "$input attr-dict `:` type($input)";
}

//===----------------------------------------------------------------------===//
// AvgPool2DOp
//===----------------------------------------------------------------------===//

def Rn_AvgPool2DOp : Rn_InferredOp<"avg_pool2d", [Rn_Differentiable]> {
  let summary = "2-D average pooling (PyTorch nn.AvgPool2d, ceil_mode=False)";
  let description = [{
    Averages `kernel` [kh, kw] windows of `input` [N, C, H, W]. `stride`,
    `padding` and the output size are as for `rn.max_pool2d`. With
    `count_include_pad` (the default, true) padded zeros count in the
    divisor; with false only the input elements under the window do.

    Example:

    ```mlir
    %y = rn.avg_pool2d %x {count_include_pad = false, kernel = array<i64: 2, 2>}
        : tensor<?x256x14x14xf32>
    // %y : tensor<?x256x7x7xf32>
    ```
  }];

  let arguments = (ins
    Rn_Tensor4D:$input,
    DenseI64ArrayAttr:$kernel,
    OptionalAttr<DenseI64ArrayAttr>:$stride,
    DefaultValuedAttr<DenseI64ArrayAttr, "{0, 0}">:$padding,
    DefaultValuedAttr<BoolAttr, "true">:$count_include_pad
  );
  let results = (outs Rn_Tensor4D:$result);

  let assemblyFormat = "$input attr-dict `:` type($input)";
}

//===----------------------------------------------------------------------===//
// GlobalAvgPoolOp
//===----------------------------------------------------------------------===//

def Rn_GlobalAvgPoolOp : Rn_InferredOp<"global_avg_pool", [Rn_Differentiable]> {
  let summary = "mean over the spatial dims (nn.AdaptiveAvgPool2d(1))";
  let description = [{
    Maps [N, C, H, W] to [N, C, 1, 1].

    Example:

    ```mlir
    %y = rn.global_avg_pool %x : tensor<?x512x7x7xf32>
    // %y : tensor<?x512x1x1xf32>
    ```
  }];

  let arguments = (ins Rn_Tensor4D:$input);
  let results = (outs Rn_Tensor4D:$result);

  let assemblyFormat = "$input attr-dict `:` type($input)";
}

//===----------------------------------------------------------------------===//
// FlattenOp
//===----------------------------------------------------------------------===//

def Rn_FlattenOp : Rn_InferredOp<"flatten", [Rn_Differentiable]> {
  let summary = "collapses all dims after the batch (torch.flatten(x, 1))";
  let description = [{
    Maps [N, d1, ..., dk] (k >= 1) to [N, d1 * ... * dk].

    Example:

    ```mlir
    %y = rn.flatten %x : tensor<?x512x1x1xf32>
    // %y : tensor<?x512xf32>
    ```
  }];

  let arguments = (ins Rn_Tensor:$input);
  let results = (outs Rn_Tensor2D:$result);

  let assemblyFormat = "$input attr-dict `:` type($input)";
}

//===----------------------------------------------------------------------===//
// LinearOp
//===----------------------------------------------------------------------===//

def Rn_LinearOp : Rn_InferredOp<"linear", [Rn_Differentiable]> {
  let summary = "fully connected layer (PyTorch nn.Linear)";
  let description = [{
    Computes `input * weight^T + bias` for `input` [N, K], `weight` [M, K]
    (PyTorch layout) and the optional `bias` [M]; the result is [N, M].

    Example:

    ```mlir
    %y = rn.linear %x, %w, %b : tensor<?x512xf32>, tensor<10x512xf32>, tensor<10xf32>
    // %y : tensor<?x10xf32>
    ```
  }];

  let arguments = (ins
    Rn_Tensor2D:$input,
    Rn_Tensor2D:$weight,
    Optional<Rn_Tensor1D>:$bias
  );
  let results = (outs Rn_Tensor2D:$result);

  let assemblyFormat = [{
    $input `,` $weight (`,` $bias^)? attr-dict
    `:` type($input) `,` type($weight) (`,` type($bias)^)?
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// SoftmaxCrossEntropyOp
//===----------------------------------------------------------------------===//

def Rn_SoftmaxCrossEntropyOp : Rn_InferredOp<"softmax_cross_entropy", [Rn_Differentiable]> {
  let summary = "mean softmax cross-entropy loss (nn.CrossEntropyLoss)";
  let description = [{
    For `logits` [N, K] and class indices `labels` [N] (i32, each in
    [0, K)), returns the mean over the batch of
    `logsumexp(logits[n]) - logits[n, labels[n]]` as a 0-d tensor.

    Example:

    ```mlir
    %loss = rn.softmax_cross_entropy %logits, %labels
        : tensor<?x10xf32>, tensor<?xi32>
    // %loss : tensor<f32>
    ```
  }];

  let arguments = (ins Rn_Tensor2D:$logits, Rn_Labels:$labels);
  let results = (outs Rn_Scalar:$result);

  let assemblyFormat = [{
    $logits `,` $labels attr-dict `:` type($logits) `,` type($labels)
  }];
  let hasVerifier = 1;
}

include "dialect/RnTrainOps.td"

#endif // RNC_DIALECT_RNOPS_TD
