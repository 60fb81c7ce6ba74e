// Safetensors: the file format, read and written (see Safetensors.h).
#include "runtime/Safetensors.h"

#include "runtime/InputFile.h"
#include "runtime/OutputFile.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <limits>
#include <string_view>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

namespace rnc {

namespace {

using json = nlohmann::json;

constexpr uint64_t kMaxHeader = 100u << 20; // as the reference implementation

[[noreturn]] void fail(const std::string &path, const std::string &what) {
  throw CheckpointError(path + ": " + what);
}

float halfToFloat(uint16_t h) {
  int sign = h >> 15, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
  float v;
  if (exp == 0)
    v = std::ldexp(float(man), -24);
  else if (exp == 31)
    v = man ? std::numeric_limits<float>::quiet_NaN()
            : std::numeric_limits<float>::infinity();
  else
    v = std::ldexp(float(man | 0x400), exp - 25);
  return sign ? -v : v;
}

float bf16ToFloat(uint16_t b) {
  uint32_t bits = uint32_t(b) << 16;
  float v;
  std::memcpy(&v, &bits, 4);
  return v;
}

// Bytes per element of a dtype this reader understands, 0 otherwise.
int dtypeSize(const std::string &dtype) {
  if (dtype == "F32")
    return 4;
  if (dtype == "F64" || dtype == "I64")
    return 8;
  if (dtype == "F16" || dtype == "BF16")
    return 2;
  return 0;
}

SafeTensor decode(const std::string &path, const std::string &name,
                  const json &entry, std::string_view data,
                  std::vector<std::pair<uint64_t, uint64_t>> &ranges) {
  auto bad = [&](const std::string &what) {
    fail(path, "tensor '" + name + "': " + what);
  };
  if (!entry.is_object() || !entry.contains("dtype") ||
      !entry.contains("shape") || !entry.contains("data_offsets"))
    bad("expected an object with dtype, shape and data_offsets");
  const json &dt = entry["dtype"], &shape = entry["shape"],
             &offsets = entry["data_offsets"];
  if (!dt.is_string())
    bad("dtype is not a string");
  std::string dtype = dt.get<std::string>();
  int size = dtypeSize(dtype);
  if (size == 0)
    bad("dtype " + dtype + " is not supported (F32, F64, F16, BF16, I64)");
  SafeTensor t;
  t.isInt = dtype == "I64";
  if (!shape.is_array())
    bad("shape is not an array");
  uint64_t numel = 1;
  for (const json &d : shape) {
    if (!d.is_number_unsigned() || d.get<uint64_t>() > (1ull << 40))
      bad("shape " + shape.dump() + " is not a list of sizes");
    t.shape.push_back(d.get<int64_t>());
    // Checked: two dims of 2^40 would wrap to 0 elements.
    if (__builtin_mul_overflow(numel, d.get<uint64_t>(), &numel) ||
        numel > (1ull << 40))
      bad("shape " + shape.dump() + " is too large");
  }
  if (!offsets.is_array() || offsets.size() != 2 ||
      !offsets[0].is_number_unsigned() || !offsets[1].is_number_unsigned())
    bad("data_offsets is not [begin, end]");
  uint64_t begin = offsets[0], end = offsets[1];
  if (begin > end || end > data.size())
    bad("data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
        ") outside the " + std::to_string(data.size()) +
        " data bytes (file truncated?)");
  if (end - begin != numel * size)
    bad("shape " + shape.dump() + " of " + dtype + " needs " +
        std::to_string(numel * size) + " bytes, data_offsets give " +
        std::to_string(end - begin));
  ranges.push_back({begin, end});
  const char *p = data.data() + begin;
  if (t.isInt) {
    t.ints.resize(numel);
    if (numel) // an empty tensor: no bytes (and data() may be null)
      std::memcpy(t.ints.data(), p, numel * 8);
    return t;
  }
  t.values.resize(numel);
  for (uint64_t i = 0; i < numel; ++i) {
    if (dtype == "F32") {
      std::memcpy(&t.values[i], p + 4 * i, 4);
    } else if (dtype == "F64") {
      double v;
      std::memcpy(&v, p + 8 * i, 8);
      t.values[i] = float(v);
    } else {
      uint16_t h;
      std::memcpy(&h, p + 2 * i, 2);
      t.values[i] = dtype == "F16" ? halfToFloat(h) : bf16ToFloat(h);
    }
  }
  return t;
}

} // namespace

int64_t SafeTensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

SafetensorsFile readSafetensors(const std::string &path, uint64_t maxBytes) {
  std::string bytes, error;
  if (!readInputFile(path, maxBytes, "a checkpoint for this model", bytes,
                     error))
    fail(path, "cannot open checkpoint: " + error);
  return parseSafetensors(bytes, path);
}

SafetensorsFile parseSafetensors(const std::string &bytes,
                                 const std::string &path) {
  if (bytes.size() < 8)
    fail(path, "not a safetensors file: " + std::to_string(bytes.size()) +
                   " bytes, shorter than the 8-byte header length");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i)
    n = n << 8 | uint8_t(bytes[i]);
  if (n > kMaxHeader || n > bytes.size() - 8)
    fail(path, "not a safetensors file (or truncated): header length " +
                   std::to_string(n) + " but the file has " +
                   std::to_string(bytes.size()) + " bytes");
  json header;
  try {
    header = json::parse(bytes.begin() + 8, bytes.begin() + 8 + long(n));
  } catch (const json::parse_error &e) {
    fail(path, "corrupt safetensors header: not valid JSON (parse error at "
               "header byte " + std::to_string(e.byte) + ")");
  } catch (const json::exception &e) {
    fail(path, "corrupt safetensors header: not valid JSON");
  }
  if (!header.is_object())
    fail(path, "corrupt safetensors header: not a JSON object");
  std::string_view data = std::string_view(bytes).substr(8 + n);
  SafetensorsFile out;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (auto &[name, entry] : header.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object())
        fail(path, "__metadata__ is not an object");
      for (auto &[k, v] : entry.items()) {
        if (!v.is_string())
          fail(path, "__metadata__ '" + k + "' is not a string");
        out.metadata[k] = v.get<std::string>();
      }
      continue;
    }
    out.tensors[name] = decode(path, name, entry, data, ranges);
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i)
    if (ranges[i].first < ranges[i - 1].second)
      fail(path, "corrupt safetensors header: tensor data ranges overlap");
  return out;
}

void writeSafetensors(const std::string &path, const SafetensorsFile &file) {
  // Header: tensors in name order, data laid out in the same order.
  json header = json::object();
  if (!file.metadata.empty())
    header["__metadata__"] = file.metadata;
  uint64_t offset = 0;
  for (const auto &[name, t] : file.tensors) {
    uint64_t bytes = uint64_t(t.numel()) * (t.isInt ? 8 : 4);
    header[name] = {{"dtype", t.isInt ? "I64" : "F32"},
                    {"shape", t.shape},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' '); // data 8-byte aligned
  char len[8];
  for (int i = 0; i < 8; ++i)
    len[i] = char(uint64_t(text.size()) >> (8 * i) & 0xff);

  const char *delay = std::getenv("RNC_CHECKPOINT_WRITE_DELAY_MS");
  auto body = [&](int fd) {
    if (!writeAll(fd, len, 8) || !writeAll(fd, text.data(), text.size()))
      return false;
    uint64_t written = 0;
    for (const auto &[name, t] : file.tensors) {
      const char *p = t.isInt ? reinterpret_cast<const char *>(t.ints.data())
                              : reinterpret_cast<const char *>(t.values.data());
      size_t bytes = size_t(t.numel()) * (t.isInt ? 8 : 4);
      // Test hook (see the header): pause inside the tensor that spans the
      // middle of the data.
      if (delay && written <= offset / 2 && written + bytes > offset / 2) {
        if (!writeAll(fd, p, bytes / 2))
          return false;
        std::this_thread::sleep_for(
            std::chrono::milliseconds(std::atoi(delay)));
        if (!writeAll(fd, p + bytes / 2, bytes - bytes / 2))
          return false;
      } else if (!writeAll(fd, p, bytes)) {
        return false;
      }
      written += bytes;
    }
    return true;
  };
  try {
    writeFileAtomically(path, "checkpoint", body);
  } catch (const std::runtime_error &e) {
    throw CheckpointError(e.what());
  }
}

} // namespace rnc
