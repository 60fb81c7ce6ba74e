// Named constexpr kernel shapes, deduplicated by initializer (ShapeTable.h).
#include "codegen/ShapeTable.h"

#include "llvm/Support/FormatVariadic.h"

using mlir::RankedTensorType;

namespace rnc::codegen {

std::string ShapeTable::get(llvm::StringRef type, llvm::StringRef prefix,
                            const std::string &init) {
  std::string key = (type + init).str();
  auto it = names.find(key);
  if (it != names.end())
    return it->second;
  std::string name = llvm::formatv("k{0}{1}", prefix, names.size()).str();
  names.insert({key, name});
  typed.push_back({type.str(), name});
  defs.push_back(
      llvm::formatv("constexpr rnc::{0} {1}{2};", type, name, init));
  return name;
}

std::vector<std::string> ShapeTable::namesOf(llvm::StringRef type) const {
  std::vector<std::string> out;
  for (const auto &[t, name] : typed)
    if (t == type)
      out.push_back(name);
  return out;
}

std::string ShapeTable::conv(RankedTensorType in, RankedTensorType w,
                             llvm::ArrayRef<int64_t> stride,
                             llvm::ArrayRef<int64_t> pad,
                             llvm::ArrayRef<int64_t> dil, int64_t groups) {
  auto i = in.getShape(), k = w.getShape();
  return get("Conv2DShape", "Conv",
             llvm::formatv("{{.in_channels = {0}, .out_channels = {1}, .in_h "
                           "= {2}, .in_w = {3}, .kernel_h = {4}, .kernel_w = "
                           "{5}, .stride_h = {6}, .stride_w = {7}, .pad_h = "
                           "{8}, .pad_w = {9}, .dilation_h = {10}, "
                           ".dilation_w = {11}, .groups = {12}}",
                           i[1], k[0], i[2], i[3], k[2], k[3], stride[0],
                           stride[1], pad[0], pad[1], dil[0], dil[1], groups)
                 .str());
}

std::string ShapeTable::convBias(RankedTensorType dy) {
  return get("Conv2DShape", "Conv",
             llvm::formatv("{{.in_channels = {0}, .out_channels = {0}, .in_h "
                           "= {1}, .in_w = {2}}",
                           dy.getDimSize(1), dy.getDimSize(2),
                           dy.getDimSize(3))
                 .str());
}

std::string ShapeTable::batchNorm(RankedTensorType in) {
  int64_t plane = in.getRank() == 4 ? in.getDimSize(2) * in.getDimSize(3) : 1;
  return get("BatchNormShape", "Bn",
             llvm::formatv("{{.channels = {0}, .plane = {1}}",
                           in.getDimSize(1), plane)
                 .str());
}

std::string ShapeTable::pool(RankedTensorType in,
                             llvm::ArrayRef<int64_t> kernel,
                             std::optional<llvm::ArrayRef<int64_t>> strideOpt,
                             llvm::ArrayRef<int64_t> pad,
                             bool countIncludePad) {
  llvm::ArrayRef<int64_t> stride = strideOpt.value_or(kernel);
  return get("Pool2DShape", "Pool",
             llvm::formatv("{{.channels = {0}, .in_h = {1}, .in_w = {2}, "
                           ".kernel_h = {3}, .kernel_w = {4}, .stride_h = "
                           "{5}, .stride_w = {6}, .pad_h = {7}, .pad_w = {8}, "
                           ".count_include_pad = {9}}",
                           in.getDimSize(1), in.getDimSize(2),
                           in.getDimSize(3), kernel[0], kernel[1], stride[0],
                           stride[1], pad[0], pad[1],
                           countIncludePad ? "true" : "false")
                 .str());
}

std::string ShapeTable::linear(RankedTensorType w) {
  return get("LinearShape", "Linear",
             llvm::formatv("{{.in_features = {0}, .out_features = {1}}",
                           w.getDimSize(1), w.getDimSize(0))
                 .str());
}

std::string ShapeTable::linearBias(int64_t outFeatures) {
  return get("LinearShape", "Linear",
             llvm::formatv("{{.in_features = 1, .out_features = {0}}",
                           outFeatures)
                 .str());
}

} // namespace rnc::codegen
