// The `rn` dialect: residual-network layers on ranked f32 tensors.
#ifndef RNC_DIALECT_RNDIALECT_TD
#define RNC_DIALECT_RNDIALECT_TD

include "mlir/IR/OpBase.td"

def Rn_Dialect : Dialect {
  let name = "rn";
  let cppNamespace = "::mlir::rn";
  // `rn.role` on func.func (dialect/FunctionRoles.h).
  let hasOperationAttrVerify = 1;
  let summary = "Layers of residual networks (convolution, batch norm, pooling, ...)";
  let description = [{
    The `rn` dialect describes a residual network as a graph of whole layers
    on ranked tensors, at the level of a PyTorch `nn.Module` definition.
    Activations are NCHW `f32` tensors; the batch dim (dim 0) may be dynamic
    (`?`), every other dim of an activation must be static. Model parameters
    and buffers are named values created by `rn.param`.

    Result types are inferred from operands and attributes
    (InferTypeOpInterface), so the custom assembly form only spells the
    operand types:

    ```mlir
    %w = rn.param "conv1.weight" {init = "kaiming_normal"} : tensor<64x3x7x7xf32>
    %y = rn.conv2d %x, %w {padding = array<i64: 3, 3>, stride = array<i64: 2, 2>}
        : tensor<?x3x224x224xf32>, tensor<64x3x7x7xf32>
    ```
  }];
}

// Base class of every op in the dialect.
class Rn_Op<string mnemonic, list<Trait> traits = []>
    : Op<Rn_Dialect, mnemonic, traits>;

#endif // RNC_DIALECT_RNDIALECT_TD
