// InputLimits: what rnc-opt checks in an IR file before MLIR parses it. The
// parser recurses once per nested region, block or attribute, so a deeply
// nested file would overflow the stack; the text is scanned first.
#pragma once

#include <string>

namespace rnc::opt {

/// Deeper nesting of (), [], {} and <> than this is refused. rnc's own IR
/// nests a handful deep.
constexpr int kMaxNesting = 256;

/// "" when no bracket in `text` (outside strings and comments) nests deeper
/// than kMaxNesting, else "line L, column C: ..." naming where.
std::string nestingProblem(const std::string &text);

} // namespace rnc::opt
