// Op interfaces of the `rn` dialect.
#ifndef RNC_DIALECT_RNINTERFACES_TD
#define RNC_DIALECT_RNINTERFACES_TD

include "mlir/IR/OpBase.td"

def Rn_DifferentiableOpInterface : OpInterface<"DifferentiableOpInterface"> {
  let cppNamespace = "::mlir::rn";
  let description = [{
    An op that knows its reverse-mode gradient rule. The autodiff pass
    (`rnc-autodiff`) walks a function backwards and asks each op for the
    gradients of its operands given the gradients of its results; it never
    names an op itself (the rules live in dialect/RnGradients.cpp).
  }];
  let methods = [
    InterfaceMethod<[{
        Builds, at the builder's insertion point, the gradient of every
        operand `i` with `needed[i]` set, into `operandGrads[i]` (one entry
        per operand; entries left null get no gradient). `resultGrads[j]` is
        the gradient of result `j`: null if nothing depends on it, and for a
        scalar loss result that is the differentiated root, null as well with
        `isRoot` set (the seed d(loss)/d(loss) = 1). Fails with a diagnostic
        on the op if it cannot be differentiated in this form.
      }],
      "::mlir::LogicalResult", "buildGradients",
      (ins "::mlir::OpBuilder &":$builder,
           "::mlir::ArrayRef<::mlir::Value>":$resultGrads,
           "bool":$isRoot,
           "::llvm::ArrayRef<bool>":$needed,
           "::llvm::SmallVectorImpl<::mlir::Value> &":$operandGrads)>
  ];
}

#endif // RNC_DIALECT_RNINTERFACES_TD
