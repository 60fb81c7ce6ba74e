// JsonCursor: typed, bounds-checked reads from a JSON document that remember
// where they are, so every error names the JSON path of the offending value.
#pragma once

#include "frontend/Graph.h"
#include "frontend/SpecError.h"

#include <nlohmann/json.hpp>

#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

namespace rnc::spec {

class JsonCursor {
public:
  JsonCursor(const nlohmann::json &value, std::string path)
      : value_(&value), path_(std::move(path)) {}

  const std::string &path() const { return path_; }
  const nlohmann::json &json() const { return *value_; }

  [[noreturn]] void fail(const std::string &message) const;

  bool isObject() const { return value_->is_object(); }
  bool isString() const { return value_->is_string(); }
  bool has(const char *key) const;

  /// Member `key` of an object; fails if absent (or if this is no object).
  JsonCursor at(const char *key) const;
  std::optional<JsonCursor> find(const char *key) const;

  /// Fails naming the first member not in `allowed`, with a suggestion when
  /// one of the allowed names is close (a typo).
  void expectOnlyKeys(std::initializer_list<const char *> allowed) const;
  void expectOnlyKeys(const std::vector<std::string> &allowed) const;

  int64_t asInt(int64_t min, int64_t max) const;
  double asNumber(double min, double max) const;
  bool asBool() const;
  std::string asString() const;
  std::vector<JsonCursor> asArray(size_t minLen, size_t maxLen) const;
  /// An int (both dims) or a two-element array [h, w].
  Pair asPair(int64_t min, int64_t max) const;

  // Optional members with defaults.
  int64_t intOr(const char *key, int64_t dflt, int64_t min, int64_t max) const;
  double numberOr(const char *key, double dflt, double min, double max) const;
  bool boolOr(const char *key, bool dflt) const;
  std::string stringOr(const char *key, const std::string &dflt) const;
  Pair pairOr(const char *key, Pair dflt, int64_t min, int64_t max) const;

private:
  std::string typeName() const;
  const nlohmann::json *value_;
  std::string path_;
};

/// Parses JSON text; syntax errors become SpecError with "line L, column C".
nlohmann::json parseJsonText(const std::string &text);

} // namespace rnc::spec
