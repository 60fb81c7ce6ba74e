// Builders for the text of generated kernel calls: one spelling for every
// call (`name<shape, ...>(out, in, ..., N)`) and for every epilogue chain
// (`Compose<First, Second>{First{...}, Second{...}}`), shared by both targets.
#ifndef RNC_CODEGEN_KERNELCALL_H
#define RNC_CODEGEN_KERNELCALL_H

#include "llvm/ADT/StringRef.h"

#include <string>
#include <vector>

namespace rnc::codegen {

/// A fused epilogue: functors applied in order to each output element, as in
/// kernels/{cpu,cuda}/epilogue: NoEpilogue{} when empty, T{init} for one,
/// Compose<...>{...} folded from the left for more.
class EpilogueChain {
public:
  /// Appends functor `type` built from the brace initializer list `init`.
  EpilogueChain &then(llvm::StringRef type, llvm::StringRef init = "");
  bool empty() const { return stages.empty(); }
  std::string str() const;

private:
  struct Stage {
    std::string type, init;
  };
  std::vector<Stage> stages;
};

/// One call of a kernel template: `kernel<targs...>(args...)`.
class KernelCall {
public:
  explicit KernelCall(llvm::StringRef kernel) : kernel(kernel.str()) {}
  /// A template argument (a shape constant, a channel count).
  KernelCall &tmpl(const std::string &a);
  KernelCall &arg(const std::string &a);
  /// The run-time batch, `N`.
  KernelCall &batch() { return arg("N"); }
  KernelCall &epilogue(const EpilogueChain &e) { return arg(e.str()); }
  std::string str() const;

private:
  std::string kernel;
  std::vector<std::string> targs, args;
};

/// A float literal that round-trips: "1e-05f".
std::string floatLiteral(double v);
/// A double literal that round-trips.
std::string doubleLiteral(double v);

} // namespace rnc::codegen

#endif // RNC_CODEGEN_KERNELCALL_H
