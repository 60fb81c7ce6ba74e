// The header users of the `rn` dialect include: dialect, ops and interfaces.
//
// Every op except rn.param infers its result type, so its builders take no
// result type. How the front end builds each op (`b` an OpBuilder; a missing
// bias is `Value()`; a null attribute means the default; `arr` is anything
// that converts to ArrayRef<int64_t> (SmallVector, std::array, ArrayRef{..}),
// not a braced list, which `create` cannot forward). All of these are
// compiled and run by test/builders/rn-builders.cpp.
//
//   b.create<ParamOp>(loc, tensorType, "layer1.0.conv1.weight",
//                     "kaiming_normal", /*buffer=*/false);   // or StringAttr,
//                                                 // StringAttr, UnitAttr
//   b.create<Conv2DOp>(loc, input, weight, bias, strideAttr, paddingAttr,
//                      dilationAttr, groupsAttr);  // DenseI64ArrayAttr x3,
//                                                  // IntegerAttr (i64)
//   b.create<Conv2DOp>(loc, input, weight, bias, strideArr, paddingArr,
//                      dilationArr, /*groups=*/1);
//   b.create<BatchNormOp>(loc, input, scale, shift, runningMean, runningVar,
//                         b.getF64FloatAttr(eps), b.getF64FloatAttr(momentum),
//                         training ? b.getUnitAttr() : UnitAttr());
//   b.create<ReluOp>(loc, input);
//   b.create<AddOp>(loc, lhs, rhs);
//   b.create<MaxPool2DOp>(loc, input, kernelAttr, strideAttr, paddingAttr);
//   b.create<MaxPool2DOp>(loc, input, kernelArr, strideAttr, paddingArr);
//   b.create<AvgPool2DOp>(loc, input, kernelAttr, strideAttr, paddingAttr,
//                         b.getBoolAttr(countIncludePad));
//   b.create<AvgPool2DOp>(loc, input, kernelArr, strideAttr, paddingArr,
//                         /*count_include_pad=*/true);
//     (pooling: a null strideAttr means stride = kernel)
//   b.create<GlobalAvgPoolOp>(loc, input);
//   b.create<FlattenOp>(loc, input);
//   b.create<LinearOp>(loc, input, weight, bias);
//   b.create<SoftmaxCrossEntropyOp>(loc, logits, labels);
//
// The training ops (RnTrainOps.td) are built by passes; those with an
// explicit result type take it first, e.g.
//   b.create<Conv2DGradInputOp>(loc, inputType, dy, weight, conv.getStrideAttr(),
//                               conv.getPaddingAttr(), conv.getDilationAttr(),
//                               conv.getGroupsAttr());
//
// Type inference reports bad operands or attributes as an error at `loc`,
// after which the generated builders abort (report_fatal_error). A front end
// that may see bad input checks shapes first, or calls
// `XOp::inferReturnTypes(ctx, loc, XOp::Adaptor(operands, ...), types)`.
#ifndef RNC_DIALECT_RNOPS_H
#define RNC_DIALECT_RNOPS_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "dialect/RnDialect.h"

#include "dialect/RnInterfaces.h.inc"

#define GET_OP_CLASSES
#include "dialect/RnOps.h.inc"

#endif // RNC_DIALECT_RNOPS_H
