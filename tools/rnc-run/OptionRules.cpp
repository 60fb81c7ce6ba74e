// The rules of train's flags and of the options a checkpoint stores (see OptionRules.h).
#include "OptionRules.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <stdexcept>

namespace rnc::run {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
// 2^64 - 1 as a double rounds up; integers are parsed exactly below.
constexpr double kU64 = 18446744073709551615.0;

const OptionRule kRules[] = {
    {"--epochs", "epochs", OptionRule::Integer, 1, 1000000, false, nullptr},
    {"--batch-size", "batch_size", OptionRule::Integer, 1, 1 << 20, false,
     nullptr},
    {"--lr", "lr", OptionRule::Number, 0, kInf, true, nullptr},
    {"--momentum", "momentum", OptionRule::Number, 0, 1, false, nullptr},
    {"--weight-decay", "weight_decay", OptionRule::Number, 0, kInf, false,
     nullptr},
    {"--lr-schedule", "lr_schedule", OptionRule::Choice, 0, 0, false,
     "constant|cosine"},
    {"--seed", "seed", OptionRule::Integer, 0, kU64, false, nullptr},
    {"--train-limit", "train_limit", OptionRule::Integer, 0, kU64, false,
     nullptr},
    {"--test-limit", "test_limit", OptionRule::Integer, 0, kU64, false,
     nullptr},
    {"--crop-padding", "crop_padding", OptionRule::Integer, 0, 64, false,
     nullptr, true},
    {"--random-erasing", "random_erasing", OptionRule::Number, 0, 1, false,
     nullptr, true},
    {"--stop-after", nullptr, OptionRule::Integer, 1, 1000000, false, nullptr},
    {"--cache-mb", nullptr, OptionRule::Integer, 0, 1 << 30, false, nullptr},
    {"--mean", nullptr, OptionRule::Number, -1e6, 1e6, false, nullptr},
    {"--std", nullptr, OptionRule::Number, 0, kInf, true, nullptr},
};

std::string number(double v) {
  if (v == kU64)
    return "18446744073709551615";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.15g", v);
  return buf;
}

// "a positive number", "a number in [0, 1]", "an integer in [1, 1000000]".
std::string allowed(const OptionRule &r) {
  if (r.kind == OptionRule::Choice) {
    std::string c = r.choices, out;
    for (size_t at = 0;;) {
      size_t bar = c.find('|', at);
      out += (out.empty() ? "" : bar == std::string::npos ? " or " : ", ") +
             c.substr(at, bar - at);
      if (bar == std::string::npos)
        return out;
      at = bar + 1;
    }
  }
  const char *what = r.kind == OptionRule::Integer ? "an integer" : "a number";
  if (r.minOpen && r.min == 0 && r.max == kInf)
    return std::string("a positive ") + (r.kind == OptionRule::Integer
                                             ? "integer"
                                             : "number");
  if (r.max == kInf || r.max == kU64)
    return std::string(what) + " >= " + number(r.min);
  return std::string(what) + " in [" + number(r.min) + ", " + number(r.max) +
         "]";
}

} // namespace

const OptionRule &ruleOf(const std::string &flag) {
  for (const OptionRule &r : kRules)
    if (flag == r.flag)
      return r;
  throw std::logic_error("no option rule for " + flag);
}

const OptionRule *rulesBegin() { return std::begin(kRules); }
const OptionRule *rulesEnd() { return std::end(kRules); }

std::string checkOption(const OptionRule &r, const std::string &text) {
  const std::string refusal = "must be " + allowed(r) + ", got '" + text + "'";
  if (r.kind == OptionRule::Choice) {
    std::string c = std::string("|") + r.choices + "|";
    return !text.empty() && text.find('|') == std::string::npos &&
                   c.find("|" + text + "|") != std::string::npos
               ? ""
               : refusal;
  }
  const char *begin = text.data(), *end = text.data() + text.size();
  if (r.kind == OptionRule::Integer) {
    // Exactly, as the integer the option is: "1e3", "2.0" and "-0" are no
    // integers here. A value the flag's integer type cannot hold is refused.
    if (!text.empty() && text[0] == '-') // every integer option is >= 0
      return refusal;
    unsigned long long v;
    auto [p, ec] = std::from_chars(begin, end, v);
    if (ec != std::errc() || p != end || double(v) < r.min ||
        (r.max != kU64 && double(v) > r.max))
      return refusal;
    return "";
  }
  char *stop = nullptr;
  double v = std::strtod(text.c_str(), &stop);
  bool parsed = !text.empty() && stop == text.c_str() + text.size();
  // The options are floats: a value beyond float's range would become inf.
  if (!parsed || !std::isfinite(v) || v < r.min || v > r.max ||
      std::fabs(v) > std::numeric_limits<float>::max() ||
      (r.minOpen && v == r.min))
    return refusal;
  return "";
}

} // namespace rnc::run
