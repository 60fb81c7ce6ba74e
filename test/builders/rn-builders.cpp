// Builds every rn op with the builder calls RnOps.h documents, and provokes
// the inference errors only C++ can reach (unranked operands).
// RUN: rn-builders-test 2>&1 | FileCheck %s
#include "dialect/RnOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Verifier.h"
#include "llvm/Support/raw_ostream.h"

#include <array>

using namespace mlir;
using namespace mlir::rn;

namespace {

/// Builds `forward(x, labels) -> loss` with each op, in both builder forms.
void buildModel(OpBuilder &b, Location loc, ModuleOp module) {
  Type f32 = b.getF32Type();
  int64_t n = ShapedType::kDynamic;
  auto inputType = RankedTensorType::get({n, 3, 32, 32}, f32);
  auto labelsType = RankedTensorType::get({n}, b.getI32Type());
  b.setInsertionPointToEnd(module.getBody());
  auto func = b.create<func::FuncOp>(
      loc, "forward", b.getFunctionType({inputType, labelsType}, {}));
  b.setInsertionPointToStart(func.addEntryBlock());
  Value x = func.getArgument(0);
  Value labels = func.getArgument(1);

  auto param = [&](ArrayRef<int64_t> shape, StringRef name, StringRef init,
                   bool buffer = false) -> Value {
    return b.create<ParamOp>(loc, RankedTensorType::get(shape, f32), name, init,
                             /*buffer=*/buffer);
  };
  Value w1 = param({16, 3, 3, 3}, "conv1.weight", "kaiming_normal");
  Value b1 = param({16}, "conv1.bias", "conv_bias");
  Value w2 = param({32, 8, 3, 3}, "conv2.weight", "kaiming_uniform");
  Value scale = param({32}, "bn.weight", "ones");
  Value shift = param({32}, "bn.bias", "zeros");
  Value mean = param({32}, "bn.running_mean", "zeros", /*buffer=*/true);
  Value var = param({32}, "bn.running_var", "ones", /*buffer=*/true);
  Value fcW = param({10, 32}, "fc.weight", "linear_weight");
  Value fcB = param({10}, "fc.bias", "linear_bias");

  // Conv2DOp, unwrapped form: ArrayRef<int64_t>-convertible values.
  std::array<int64_t, 2> one = {1, 1};
  SmallVector<int64_t, 2> pad = {1, 1};
  Value c1 = b.create<Conv2DOp>(loc, x, w1, b1, /*stride=*/one,
                                /*padding=*/pad, /*dilation=*/one,
                                /*groups=*/1);
  // Conv2DOp, attribute form; nullptr keeps the default.
  Value c2 =
      b.create<Conv2DOp>(loc, c1, w2, Value(), b.getDenseI64ArrayAttr({2, 2}),
                         b.getDenseI64ArrayAttr({1, 1}),
                         /*dilation=*/nullptr, b.getI64IntegerAttr(2));
  Value bn =
      b.create<BatchNormOp>(loc, c2, scale, shift, mean, var,
                            b.getF64FloatAttr(1e-5), b.getF64FloatAttr(0.1),
                            /*training=*/b.getUnitAttr());
  Value bnDefaults = b.create<BatchNormOp>(loc, c2, scale, shift, mean, var,
                                           nullptr, nullptr, nullptr);
  Value r = b.create<ReluOp>(loc, bn);
  Value a = b.create<AddOp>(loc, r, bnDefaults);
  Value mp = b.create<MaxPool2DOp>(loc, a, /*kernel=*/ArrayRef<int64_t>{3, 3},
                                   /*stride=*/b.getDenseI64ArrayAttr({2, 2}),
                                   /*padding=*/ArrayRef<int64_t>{1, 1});
  Value ap = b.create<AvgPool2DOp>(loc, mp, /*kernel=*/ArrayRef<int64_t>{2, 2},
                                   /*stride=*/nullptr,
                                   /*padding=*/ArrayRef<int64_t>{0, 0},
                                   /*count_include_pad=*/false);
  Value gp = b.create<GlobalAvgPoolOp>(loc, ap);
  Value flat = b.create<FlattenOp>(loc, gp);
  Value logits = b.create<LinearOp>(loc, flat, fcW, fcB);
  Value loss = b.create<SoftmaxCrossEntropyOp>(loc, logits, labels);
  b.create<func::ReturnOp>(loc, loss);
  func.setFunctionType(
      b.getFunctionType({inputType, labelsType}, {loss.getType()}));
}

} // namespace

int main() {
  MLIRContext ctx;
  ctx.loadDialect<RnDialect, func::FuncDialect>();
  OpBuilder b(&ctx);
  Location loc = FileLineColLoc::get(&ctx, "builders", 1, 1);

  OwningOpRef<ModuleOp> module = ModuleOp::create(loc);
  buildModel(b, loc, *module);
  if (failed(verify(*module)))
    return 1;
  module->print(llvm::outs());
  llvm::outs() << "\n";
  llvm::outs().flush();

  // Unranked operands: the parser rejects them, builders can pass them.
  Block scratch;
  Value unranked =
      scratch.addArgument(UnrankedTensorType::get(b.getF32Type()), loc);
  Value x = scratch.addArgument(
      RankedTensorType::get({2, 3, 8, 8}, b.getF32Type()), loc);
  SmallVector<Type> types;
  bool failedAll =
      failed(ReluOp::inferReturnTypes(
          &ctx, loc, ReluOp::Adaptor(ValueRange{unranked}), types)) &&
      failed(Conv2DOp::inferReturnTypes(
          &ctx, loc, Conv2DOp::Adaptor(ValueRange{x, unranked}), types)) &&
      // Without a location inference fails silently.
      failed(ReluOp::inferReturnTypes(
          &ctx, std::nullopt, ReluOp::Adaptor(ValueRange{unranked}), types));
  llvm::errs() << (failedAll ? "inference failed as expected\n"
                             : "inference unexpectedly succeeded\n");
  return failedAll ? 0 : 1;
}

// CHECK-LABEL: func.func @forward
// CHECK-SAME: (%[[X:.*]]: tensor<?x3x32x32xf32>, %[[L:.*]]: tensor<?xi32>) ->
// tensor<f32> CHECK: rn.param "bn.running_mean" {buffer, init = "zeros"} :
// tensor<32xf32> CHECK: %[[C1:.*]] = rn.conv2d %[[X]], %{{.*}}, %{{.*}}
// {padding = array<i64: 1, 1>} : tensor<?x3x32x32xf32>, tensor<16x3x3x3xf32>,
// tensor<16xf32> CHECK: %[[C2:.*]] = rn.conv2d %[[C1]], %{{.*}} {groups = 2 :
// i64, padding = array<i64: 1, 1>, stride = array<i64: 2, 2>} :
// tensor<?x16x32x32xf32>, tensor<32x8x3x3xf32> CHECK: rn.batch_norm %[[C2]],
// {{.*}} {training} : tensor<?x32x16x16xf32>, CHECK: rn.batch_norm %[[C2]],
// {{.*}} : tensor<?x32x16x16xf32>, CHECK: rn.relu %{{.*}} :
// tensor<?x32x16x16xf32> CHECK: rn.add %{{.*}}, %{{.*}} :
// tensor<?x32x16x16xf32>, tensor<?x32x16x16xf32> CHECK: rn.max_pool2d %{{.*}}
// {kernel = array<i64: 3, 3>, padding = array<i64: 1, 1>, stride = array<i64:
// 2, 2>} : tensor<?x32x16x16xf32> CHECK: rn.avg_pool2d %{{.*}}
// {count_include_pad = false, kernel = array<i64: 2, 2>} : tensor<?x32x8x8xf32>
// CHECK: rn.global_avg_pool %{{.*}} : tensor<?x32x4x4xf32>
// CHECK: rn.flatten %{{.*}} : tensor<?x32x1x1xf32>
// CHECK: rn.linear %{{.*}}, %{{.*}}, %{{.*}} : tensor<?x32xf32>,
// tensor<10x32xf32>, tensor<10xf32> CHECK: %[[LOSS:.*]] =
// rn.softmax_cross_entropy %{{.*}}, %[[L]] : tensor<?x10xf32>, tensor<?xi32>
// CHECK: return %[[LOSS]] : tensor<f32>

// CHECK: error: 'rn.relu' op expected input to be a ranked tensor, got
// 'tensor<*xf32>' CHECK-NEXT: error: 'rn.conv2d' op expected weight to be a
// ranked tensor, got 'tensor<*xf32>' CHECK-NEXT: inference failed as expected
