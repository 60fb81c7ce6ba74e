// libFuzzer target for the safetensors reader (runtime/Safetensors.h). Any
// input must either parse or be refused with a CheckpointError; a crash,
// hang, sanitizer report or other exception is a bug. A parsed file must
// hold, for every tensor, exactly the values its shape calls for.
#include "runtime/Safetensors.h"

#include <cstddef>
#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const std::string bytes(reinterpret_cast<const char *>(data), size);
  rnc::SafetensorsFile file;
  try {
    file = rnc::parseSafetensors(bytes, "fuzz.safetensors");
  } catch (const rnc::CheckpointError &) {
    return 0;
  }
  for (const auto &[name, t] : file.tensors) {
    uint64_t numel = 1;
    for (int64_t d : t.shape) {
      if (d < 0 || __builtin_mul_overflow(numel, uint64_t(d), &numel))
        __builtin_trap(); // a shape the reader should have refused
    }
    size_t held = t.isInt ? t.ints.size() : t.values.size();
    if (held != numel || (t.isInt ? !t.values.empty() : !t.ints.empty()))
      __builtin_trap();
  }
  return 0;
}
