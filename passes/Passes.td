// Declarations of the rnc passes (flags, options, descriptions).
#ifndef RNC_PASSES_PASSES_TD
#define RNC_PASSES_PASSES_TD

include "mlir/Pass/PassBase.td"

def SpecializeBatch : Pass<"rnc-specialize-batch", "::mlir::func::FuncOp"> {
  let summary = "Replace a dynamic batch dim with a static batch size";
  let description = [{
    Every rank >= 1 `f32` or `i32` tensor argument of the function is taken
    to carry the batch in dim 0 (parameters are `rn.param` ops, not
    arguments). The pass gives each such argument whose batch is dynamic
    (`?`) the static batch `batch`, infers the result types of the ops again,
    in order (every op implementing InferTypeOpInterface; the pass names no
    op), and sets the function type from the new argument types and the
    types `func.return` returns. Arguments that already have the batch
    `batch`, and all other arguments, keep their types.

    The pass fails if `batch` is not positive, if an argument has a static
    batch other than `batch` (the error names the argument), or if an op
    rejects its new operand types.

    Before (`--rnc-specialize-batch=batch=8`):

    ```mlir
    func.func @f(%x: tensor<?x3x32x32xf32>) -> tensor<?x16x30x30xf32> {
      %w = rn.param "conv.weight" {init = "kaiming_normal"} : tensor<16x3x3x3xf32>
      %y = rn.conv2d %x, %w : tensor<?x3x32x32xf32>, tensor<16x3x3x3xf32>
      return %y : tensor<?x16x30x30xf32>
    }
    ```

    After:

    ```mlir
    func.func @f(%x: tensor<8x3x32x32xf32>) -> tensor<8x16x30x30xf32> {
      %w = rn.param "conv.weight" {init = "kaiming_normal"} : tensor<16x3x3x3xf32>
      %y = rn.conv2d %x, %w : tensor<8x3x32x32xf32>, tensor<16x3x3x3xf32>
      return %y : tensor<8x16x30x30xf32>
    }
    ```
  }];
  let options = [
    Option<"batch", "batch", "int64_t", /*default=*/"0",
           "The static batch size (must be > 0)">
  ];
}

#endif // RNC_PASSES_PASSES_TD
