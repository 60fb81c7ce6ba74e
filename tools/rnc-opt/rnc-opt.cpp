// rnc-opt: runs rnc passes on .mlir files, for tests and debugging.
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "mlir/Transforms/Passes.h"

#include "dialect/RnOps.h"
#include "passes/Passes.h"
#include "passes/Pipeline.h"

int main(int argc, char **argv) {
  mlir::rn::registerRncPasses();
  mlir::rn::registerRncPipelines();
  mlir::registerCanonicalizerPass();
  mlir::registerCSEPass();

  mlir::DialectRegistry registry;
  registry.insert<mlir::rn::RnDialect, mlir::func::FuncDialect,
                  mlir::arith::ArithDialect>();

  return mlir::asMainReturnCode(mlir::MlirOptMain(
      argc, argv, "rnc optimizer driver (rn dialect and rnc passes)\n",
      registry));
}
