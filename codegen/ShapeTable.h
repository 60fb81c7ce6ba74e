// The named compile-time kernel shapes of a generated model: one constexpr
// rnc::Conv2DShape / BatchNormShape / Pool2DShape / LinearShape
// (kernels/shapes.h) per distinct shape, built from op types and attributes.
#ifndef RNC_CODEGEN_SHAPETABLE_H
#define RNC_CODEGEN_SHAPETABLE_H

#include "mlir/IR/BuiltinTypes.h"
#include "llvm/ADT/ArrayRef.h"

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace rnc::codegen {

class ShapeTable {
public:
  /// The name of the constant `rnc::<type> k<prefix><n><init>;`, defined once
  /// per distinct (type, init).
  std::string get(llvm::StringRef type, llvm::StringRef prefix,
                  const std::string &init);
  const std::vector<std::string> &definitions() const { return defs; }
  /// The names of the constants of `type`, in definition order.
  std::vector<std::string> namesOf(llvm::StringRef type) const;

  /// Shape of a convolution with input (or input gradient) type `in` and
  /// weight (or weight gradient) type `w`.
  std::string conv(mlir::RankedTensorType in, mlir::RankedTensorType w,
                   llvm::ArrayRef<int64_t> stride, llvm::ArrayRef<int64_t> pad,
                   llvm::ArrayRef<int64_t> dilation, int64_t groups);
  /// Shape of the bias gradient of a convolution with output type `dy`.
  std::string convBias(mlir::RankedTensorType dy);
  /// Shape of a batch norm over `in` ([N, C] or [N, C, H, W]).
  std::string batchNorm(mlir::RankedTensorType in);
  std::string pool(mlir::RankedTensorType in, llvm::ArrayRef<int64_t> kernel,
                   std::optional<llvm::ArrayRef<int64_t>> stride,
                   llvm::ArrayRef<int64_t> pad, bool countIncludePad);
  /// Shape of a linear layer with weight type `w` ([out, in]).
  std::string linear(mlir::RankedTensorType w);
  /// Shape of a linear bias gradient with `outFeatures` outputs.
  std::string linearBias(int64_t outFeatures);

private:
  std::map<std::string, std::string> names;
  std::vector<std::string> defs;
  std::vector<std::pair<std::string, std::string>> typed; // (type, name)
};

} // namespace rnc::codegen

#endif // RNC_CODEGEN_SHAPETABLE_H
