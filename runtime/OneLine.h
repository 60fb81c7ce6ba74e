// OneLine: an error message made to fit on one line, for every rnc tool.
#pragma once

#include <string>

namespace rnc {

/// `text` with trailing line breaks dropped, the others shown as \n and \r,
/// tabs as spaces and other control bytes as \xNN: a file name or JSON key
/// that holds them cannot break the one-line error rule or the terminal.
std::string oneLine(const std::string &text);

} // namespace rnc
