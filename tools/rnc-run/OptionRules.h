// The rules of `rnc-run train`'s hyperparameters and limits, one table used
// both by the flags and by the metadata a checkpoint brings back on --resume,
// so that a value refused as a flag is refused from a file too.
#pragma once

#include <string>

namespace rnc::run {

/// One rule: the flag, its key in a checkpoint's train_options, and the
/// values it allows.
struct OptionRule {
  const char *flag; // "--lr"
  const char *key;  // "lr"; nullptr for flags not saved in checkpoints
  enum Kind { Integer, Number, Choice } kind;
  double min, max;     // Integer, Number: inclusive, unless minOpen
  bool minOpen;        // Number: min itself is not allowed (lr > 0)
  const char *choices; // Choice: "constant|cosine"
  bool mayBeAbsent = false; // absent from older checkpoints: the default
};

/// The rule of `flag` ("--lr"); throws std::logic_error for an unknown flag.
const OptionRule &ruleOf(const std::string &flag);

/// "" when `text` is a value `rule` allows, else the reason, the same for a
/// flag and a file: "must be a positive number, got '-1'".
std::string checkOption(const OptionRule &rule, const std::string &text);

/// Every rule with a checkpoint key, for reading train_options back.
const OptionRule *rulesBegin();
const OptionRule *rulesEnd();

} // namespace rnc::run
