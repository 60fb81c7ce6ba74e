// InputLimits: the nesting scan of rnc-opt's input (see InputLimits.h).
#include "InputLimits.h"

namespace rnc::opt {

std::string nestingProblem(const std::string &text) {
  int depth = 0, line = 1, column = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    ++column;
    if (c == '\n') {
      ++line;
      column = 0;
      continue;
    }
    if (c == '/' && i + 1 < text.size() && text[i + 1] == '/') {
      while (i + 1 < text.size() && text[i + 1] != '\n')
        ++i;
      continue;
    }
    if (c == '"') { // a string: skip to its end, escapes included
      for (++i; i < text.size() && text[i] != '"' && text[i] != '\n'; ++i)
        if (text[i] == '\\')
          ++i;
      continue;
    }
    bool open = c == '(' || c == '[' || c == '{' || c == '<';
    // "->" is an arrow, not a closing bracket.
    bool close = c == ')' || c == ']' || c == '}' ||
                 (c == '>' && !(i > 0 && text[i - 1] == '-'));
    if (open && ++depth > kMaxNesting)
      return "line " + std::to_string(line) + ", column " +
             std::to_string(column) + ": brackets nest deeper than " +
             std::to_string(kMaxNesting) + " levels";
    if (close && depth > 0)
      --depth;
  }
  return "";
}

} // namespace rnc::opt
