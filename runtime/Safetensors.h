// Safetensors: reading and atomically writing the safetensors file format.
//
// The format (https://huggingface.co/docs/safetensors): an 8-byte
// little-endian header length N, N bytes of JSON mapping each tensor name to
// {"dtype", "shape", "data_offsets": [begin, end)} (offsets relative to the
// end of the header) plus an optional "__metadata__" object of strings, then
// the raw little-endian tensor bytes. rnc writes F32 tensors (and I64 for
// BN's num_batches_tracked) and reads F32, F64, F16, BF16 (converted to
// float) and I64.
#pragma once

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace rnc {

/// Anything wrong with a checkpoint file. what() is one line starting with
/// the file name.
class CheckpointError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

struct SafeTensor {
  std::vector<int64_t> shape;  // empty for a scalar
  std::vector<float> values;   // float dtypes, converted to float
  std::vector<int64_t> ints;   // dtype I64
  bool isInt = false;
  int64_t numel() const;
};

struct SafetensorsFile {
  std::map<std::string, std::string> metadata;
  std::map<std::string, SafeTensor> tensors;
};

/// Reads and validates `path`: a regular file of at most `maxBytes` (never
/// a FIFO or device), header length within the file, JSON well-formed,
/// every dtype known, every shape matching its byte range, the ranges inside
/// the file and not overlapping. Throws CheckpointError.
SafetensorsFile readSafetensors(const std::string &path,
                                uint64_t maxBytes = uint64_t(64) << 30);

/// The same checks on the bytes of a whole file; `path` names it in errors.
SafetensorsFile parseSafetensors(const std::string &bytes,
                                 const std::string &path);

/// Writes `file` to `path` atomically: the bytes go to `path + ".partial"`,
/// are fsync'ed, then renamed over `path` and the folder is fsync'ed. A crash
/// or kill at any moment leaves either the old or the new complete file at
/// `path`. Throws CheckpointError. Test hook: with the environment variable
/// RNC_CHECKPOINT_WRITE_DELAY_MS set, the writer sleeps that long halfway
/// through the data (so a test can kill it mid-write).
void writeSafetensors(const std::string &path, const SafetensorsFile &file);

} // namespace rnc
