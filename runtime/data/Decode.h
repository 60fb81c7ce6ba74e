// Decoding JPEG (libjpeg-turbo) and PNG (libpng) files into 8-bit gray or RGB images.
#pragma once

#include "runtime/data/Image.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace rnc::data {

/// Images larger than this many pixels are refused before decoding.
constexpr uint64_t kMaxImagePixels = uint64_t(1) << 28;

/// The file's bytes. Throws DataError (`<path>: cannot open: ...`, `is a
/// directory`, `empty file`, read errors).
std::vector<uint8_t> readFileBytes(const std::string &path);

/// Decodes a JPEG or PNG held in memory, recognized by its first bytes (not
/// its name), into gray (1 channel) or RGB (3 channels) as Pillow's
/// Image.open(...).convert("L" or "RGB") would: JPEG gray stays gray, YCbCr
/// becomes RGB (libjpeg's default IDCT and fancy upsampling, as Pillow);
/// PNG palettes become RGB, gray of 1-4 bits is scaled to 8, 16-bit samples
/// keep their high byte, alpha and transparency are dropped (not composed).
/// Warnings from libjpeg (premature end, corrupt data) are errors, as are
/// truncation, bad CRCs of critical chunks, CMYK JPEGs and other formats.
/// Throws DataError(name, reason).
Image decodeImage(const uint8_t *data, size_t size, const std::string &name);

/// readFileBytes then decodeImage.
Image decodeImageFile(const std::string &path);

/// True when the bytes start like a JPEG or a PNG.
bool looksLikeImage(const uint8_t *data, size_t size);

} // namespace rnc::data
