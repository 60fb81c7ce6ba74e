// Typed reads from JSON with path-carrying errors (see JsonCursor.h).
#include "frontend/JsonCursor.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace rnc::spec {

std::string formatSpecError(const std::string &file, const SpecError &err) {
  if (err.path().empty())
    return fmt::format("{}: {}", file, err.what());
  return fmt::format("{}: {}: {}", file, err.path(), err.what());
}

void JsonCursor::fail(const std::string &message) const {
  throw SpecError(path_, message);
}

std::string JsonCursor::typeName() const {
  if (value_->is_number_integer() || value_->is_number_unsigned())
    return "an integer";
  return fmt::format("{} {}",
                     value_->is_object() || value_->is_array() ? "an" : "a",
                     value_->type_name());
}

bool JsonCursor::has(const char *key) const {
  return value_->is_object() && value_->contains(key);
}

static std::string childPath(const std::string &parent, const char *key) {
  return parent.empty() ? std::string(key) : parent + "." + key;
}

JsonCursor JsonCursor::at(const char *key) const {
  if (!value_->is_object())
    fail(fmt::format("expected an object, got {}", typeName()));
  auto it = value_->find(key);
  if (it == value_->end())
    throw SpecError(path_, fmt::format("missing required field '{}'", key));
  return JsonCursor(*it, childPath(path_, key));
}

std::optional<JsonCursor> JsonCursor::find(const char *key) const {
  if (!value_->is_object())
    fail(fmt::format("expected an object, got {}", typeName()));
  auto it = value_->find(key);
  if (it == value_->end() || it->is_null())
    return std::nullopt;
  return JsonCursor(*it, childPath(path_, key));
}

// Levenshtein distance, for "did you mean" hints on misspelled fields.
static size_t editDistance(const std::string &a, const std::string &b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j)
    row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1,
                         diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

void JsonCursor::expectOnlyKeys(const std::vector<std::string> &allowed) const {
  if (!value_->is_object())
    fail(fmt::format("expected an object, got {}", typeName()));
  for (auto it = value_->begin(); it != value_->end(); ++it) {
    const std::string &key = it.key();
    if (std::find(allowed.begin(), allowed.end(), key) != allowed.end())
      continue;
    std::string best;
    size_t bestDist = 3; // suggest only close matches
    for (const std::string &cand : allowed) {
      size_t d = editDistance(key, cand);
      if (d < bestDist) {
        bestDist = d;
        best = cand;
      }
    }
    std::string where = childPath(path_, key.c_str());
    if (!best.empty())
      throw SpecError(where,
                      fmt::format("unknown field (did you mean '{}'?)", best));
    std::string list;
    for (const std::string &cand : allowed)
      list += (list.empty() ? "" : ", ") + cand;
    throw SpecError(where, fmt::format("unknown field (expected one of: {})", list));
  }
}

void JsonCursor::expectOnlyKeys(std::initializer_list<const char *> allowed) const {
  expectOnlyKeys(std::vector<std::string>(allowed.begin(), allowed.end()));
}

int64_t JsonCursor::asInt(int64_t min, int64_t max) const {
  int64_t v;
  if (value_->is_number_unsigned()) {
    uint64_t u = value_->get<uint64_t>();
    if (u > static_cast<uint64_t>(max))
      fail(fmt::format("{} is out of range [{}, {}]", u, min, max));
    v = static_cast<int64_t>(u);
  } else if (value_->is_number_integer()) {
    v = value_->get<int64_t>();
  } else if (value_->is_number_float()) {
    double d = value_->get<double>();
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9e15)
      v = static_cast<int64_t>(d); // 64.0 is accepted as 64
    else
      fail(fmt::format("expected an integer, got {}", value_->dump()));
  } else {
    fail(fmt::format("expected an integer, got {}", typeName()));
  }
  if (v < min || v > max)
    fail(fmt::format("{} is out of range [{}, {}]", v, min, max));
  return v;
}

double JsonCursor::asNumber(double min, double max) const {
  if (!value_->is_number())
    fail(fmt::format("expected a number, got {}", typeName()));
  double v = value_->get<double>();
  if (!(v >= min && v <= max))
    fail(fmt::format("{} is out of range [{}, {}]", v, min, max));
  return v;
}

bool JsonCursor::asBool() const {
  if (!value_->is_boolean())
    fail(fmt::format("expected true or false, got {}", typeName()));
  return value_->get<bool>();
}

std::string JsonCursor::asString() const {
  if (!value_->is_string())
    fail(fmt::format("expected a string, got {}", typeName()));
  return value_->get<std::string>();
}

std::vector<JsonCursor> JsonCursor::asArray(size_t minLen, size_t maxLen) const {
  if (!value_->is_array())
    fail(fmt::format("expected an array, got {}", typeName()));
  size_t n = value_->size();
  if (n < minLen || n > maxLen) {
    if (minLen == maxLen)
      fail(fmt::format("expected {} elements, got {}", minLen, n));
    fail(fmt::format("expected between {} and {} elements, got {}", minLen,
                     maxLen, n));
  }
  std::vector<JsonCursor> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i)
    out.emplace_back((*value_)[i], fmt::format("{}[{}]", path_, i));
  return out;
}

Pair JsonCursor::asPair(int64_t min, int64_t max) const {
  if (value_->is_array()) {
    auto elems = asArray(2, 2);
    return {elems[0].asInt(min, max), elems[1].asInt(min, max)};
  }
  if (!value_->is_number())
    fail(fmt::format("expected an integer or [height, width], got {}", typeName()));
  int64_t v = asInt(min, max);
  return {v, v};
}

int64_t JsonCursor::intOr(const char *key, int64_t dflt, int64_t min,
                          int64_t max) const {
  auto c = find(key);
  return c ? c->asInt(min, max) : dflt;
}

double JsonCursor::numberOr(const char *key, double dflt, double min,
                            double max) const {
  auto c = find(key);
  return c ? c->asNumber(min, max) : dflt;
}

bool JsonCursor::boolOr(const char *key, bool dflt) const {
  auto c = find(key);
  return c ? c->asBool() : dflt;
}

std::string JsonCursor::stringOr(const char *key, const std::string &dflt) const {
  auto c = find(key);
  return c ? c->asString() : dflt;
}

Pair JsonCursor::pairOr(const char *key, Pair dflt, int64_t min,
                        int64_t max) const {
  auto c = find(key);
  return c ? c->asPair(min, max) : dflt;
}

nlohmann::json parseJsonText(const std::string &text) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error &e) {
    // e.byte is 1-based; turn it into line and column.
    size_t line = 1, col = 1;
    size_t end = std::min<size_t>(e.byte ? e.byte - 1 : 0, text.size());
    for (size_t i = 0; i < end; ++i) {
      if (text[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    // Keep nlohmann's reason, drop its "[json.exception...] parse error at
    // line L, column C: " prefix since we print our own position.
    std::string what = e.what();
    size_t colon = what.find(": ");
    std::string reason =
        colon == std::string::npos ? what : what.substr(colon + 2);
    throw SpecError("", fmt::format("invalid JSON at line {}, column {}: {}",
                                    line, col, reason));
  } catch (const nlohmann::json::exception &e) {
    // e.g. out_of_range 406 for a number like 1e400.
    std::string what = e.what();
    size_t bracket = what.find("] ");
    throw SpecError("", fmt::format("invalid JSON: {}",
                                    bracket == std::string::npos
                                        ? what
                                        : what.substr(bracket + 2)));
  }
}

} // namespace rnc::spec
