// Call and epilogue-chain spelling for generated code (KernelCall.h).
#include "codegen/KernelCall.h"

#include "llvm/ADT/StringExtras.h"

#include <cstdio>

namespace rnc::codegen {

EpilogueChain &EpilogueChain::then(llvm::StringRef type,
                                   llvm::StringRef init) {
  stages.push_back({type.str(), init.str()});
  return *this;
}

std::string EpilogueChain::str() const {
  if (stages.empty())
    return "NoEpilogue{}";
  std::string type = stages[0].type;
  std::string value = type + "{" + stages[0].init + "}";
  for (size_t i = 1; i < stages.size(); ++i) {
    const Stage &s = stages[i];
    type = "Compose<" + type + ", " + s.type + ">";
    value = type + "{" + value + ", " + s.type + "{" + s.init + "}}";
  }
  return value;
}

KernelCall &KernelCall::tmpl(const std::string &a) {
  targs.push_back(a);
  return *this;
}

KernelCall &KernelCall::arg(const std::string &a) {
  args.push_back(a);
  return *this;
}

std::string KernelCall::str() const {
  std::string s = kernel;
  if (!targs.empty())
    s += "<" + llvm::join(targs, ", ") + ">";
  return s + "(" + llvm::join(args, ", ") + ")";
}

std::string floatLiteral(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.9gf", v);
  return buf;
}

std::string doubleLiteral(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

} // namespace rnc::codegen
