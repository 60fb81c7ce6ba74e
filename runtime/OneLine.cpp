// One-line error text (see OneLine.h).
#include "runtime/OneLine.h"

#include <cstdio>

namespace rnc {

std::string oneLine(const std::string &text) {
  size_t end = text.find_last_not_of("\r\n");
  end = end == std::string::npos ? 0 : end + 1;
  std::string out;
  for (size_t i = 0; i < end; ++i) {
    unsigned char ch = static_cast<unsigned char>(text[i]);
    if (ch == '\n')
      out += "\\n";
    else if (ch == '\r')
      out += "\\r";
    else if (ch == '\t')
      out += ' ';
    else if (ch < 0x20 || ch == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", ch);
      out += buf;
    } else
      out += static_cast<char>(ch);
  }
  return out;
}

} // namespace rnc
