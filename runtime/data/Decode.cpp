// Decoding JPEG (libjpeg-turbo) and PNG (libpng) files into 8-bit gray or RGB images.
//
// Both libraries report errors by longjmp. The C-style functions below hold
// no C++ object with a destructor between setjmp and a possible longjmp; they
// return a message instead of throwing, and the callers throw.
#include "runtime/data/Decode.h"

#include "runtime/data/DataError.h"
#include "runtime/InputFile.h"

#include <jpeglib.h>
#include <png.h>

#include <sys/stat.h>

#include <cerrno>
#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace rnc::data {

namespace {

constexpr uint8_t kPngMagic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

bool isJpeg(const uint8_t *d, size_t n) {
  return n >= 3 && d[0] == 0xff && d[1] == 0xd8 && d[2] == 0xff;
}
bool isPng(const uint8_t *d, size_t n) {
  return n >= 8 && std::memcmp(d, kPngMagic, 8) == 0;
}

// What a file that is not a JPEG or a PNG seems to be, for the message.
std::string notAnImage(const uint8_t *d, size_t n) {
  auto starts = [&](const char *s) {
    size_t len = std::strlen(s);
    return n >= len && std::memcmp(d, s, len) == 0;
  };
  std::string what;
  if (starts("GIF8"))
    what = " (a GIF)";
  else if (starts("BM"))
    what = " (a BMP?)";
  else if (starts("RIFF") && n >= 12 && std::memcmp(d + 8, "WEBP", 4) == 0)
    what = " (a WebP)";
  else if (starts("II*") || starts("MM\x00*"))
    what = " (a TIFF)";
  else if (n >= 2 && d[0] == 0xff && d[1] == 0xd8)
    what = " (a JPEG start marker without a segment after it)";
  else {
    bool text = true;
    for (size_t i = 0; i < std::min<size_t>(n, 64); ++i)
      text = text && (d[i] >= 0x20 || d[i] == '\n' || d[i] == '\r' ||
                      d[i] == '\t') && d[i] != 0x7f;
    if (text)
      what = " (text?)";
  }
  std::string hex;
  for (size_t i = 0; i < std::min<size_t>(n, 4); ++i) {
    char b[4];
    std::snprintf(b, sizeof b, "%s%02x", i ? " " : "", d[i]);
    hex += b;
  }
  return "not a JPEG or PNG image: it starts with bytes " + hex + what;
}

std::string sizeText(uint64_t w, uint64_t h) {
  return std::to_string(w) + "x" + std::to_string(h);
}

// Image dimensions rnc accepts, or the reason it does not.
const char *badDims(uint64_t w, uint64_t h) {
  if (w == 0 || h == 0)
    return "has a zero width or height";
  if (w > 16384 || h > 16384 || w * h > kMaxImagePixels)
    return "is larger than this reader accepts (16384 pixels a side, 2^28 "
           "pixels)";
  return nullptr;
}

// ---- JPEG ----

struct JpegError {
  jpeg_error_mgr mgr;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX + 64];
};

void jpegFail(j_common_ptr c) {
  auto *e = reinterpret_cast<JpegError *>(c->err);
  char text[JMSG_LENGTH_MAX];
  (*c->err->format_message)(c, text);
  std::snprintf(e->message, sizeof e->message, "corrupt JPEG: %s", text);
  std::longjmp(e->jump, 1);
}

// Level -1 is a warning about the data (premature end, extraneous bytes,
// corrupt Huffman data): libjpeg would go on and fill in gray; rnc stops.
void jpegMessage(j_common_ptr c, int level) {
  if (level < 0)
    jpegFail(c);
}

// Decodes into `out` (its pixels resized here); returns an error message,
// or an empty message on success.
void decodeJpeg(const uint8_t *data, size_t size, Image *out,
                JpegError *err) {
  jpeg_decompress_struct cinfo;
  cinfo.err = jpeg_std_error(&err->mgr);
  err->mgr.error_exit = jpegFail;
  err->mgr.emit_message = jpegMessage;
  err->message[0] = '\0';
  if (setjmp(err->jump)) {
    jpeg_destroy_decompress(&cinfo);
    return;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, data, static_cast<unsigned long>(size));
  jpeg_read_header(&cinfo, TRUE);
  int channels = 0;
  switch (cinfo.jpeg_color_space) {
  case JCS_GRAYSCALE:
    cinfo.out_color_space = JCS_GRAYSCALE;
    channels = 1;
    break;
  case JCS_YCbCr:
  case JCS_RGB:
    cinfo.out_color_space = JCS_RGB;
    channels = 3;
    break;
  default:
    std::snprintf(err->message, sizeof err->message,
                  "unsupported JPEG color space (%s); convert it to RGB",
                  cinfo.jpeg_color_space == JCS_CMYK   ? "CMYK"
                  : cinfo.jpeg_color_space == JCS_YCCK ? "YCCK"
                                                       : "unknown");
    jpeg_destroy_decompress(&cinfo);
    return;
  }
  if (const char *why = badDims(cinfo.image_width, cinfo.image_height)) {
    std::snprintf(err->message, sizeof err->message, "JPEG of %s pixels %s",
                  sizeText(cinfo.image_width, cinfo.image_height).c_str(), why);
    jpeg_destroy_decompress(&cinfo);
    return;
  }
  jpeg_start_decompress(&cinfo);
  out->height = static_cast<int>(cinfo.output_height);
  out->width = static_cast<int>(cinfo.output_width);
  out->channels = channels;
  out->pixels.resize(static_cast<size_t>(out->height) * out->width * channels);
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = out->row(static_cast<int>(cinfo.output_scanline));
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
}

// ---- PNG ----

struct PngReader {
  const uint8_t *data;
  size_t size, pos;
  char message[256];
};

void pngRead(png_structp png, png_bytep dst, png_size_t n) {
  auto *r = static_cast<PngReader *>(png_get_io_ptr(png));
  if (n > r->size - r->pos)
    png_error(png, "the file ends early (truncated)");
  std::memcpy(dst, r->data + r->pos, n);
  r->pos += n;
}

void pngFail(png_structp png, png_const_charp msg) {
  auto *r = static_cast<PngReader *>(png_get_error_ptr(png));
  std::snprintf(r->message, sizeof r->message, "corrupt PNG: %s", msg);
  png_longjmp(png, 1);
}

// Warnings (a bad CRC in an ancillary chunk, an odd ICC profile) do not
// change the pixels; Pillow ignores them too.
void pngWarn(png_structp, png_const_charp) {}

void decodePng(PngReader *r, Image *out) {
  r->message[0] = '\0';
  png_structp png =
      png_create_read_struct(PNG_LIBPNG_VER_STRING, r, pngFail, pngWarn);
  if (!png) {
    std::snprintf(r->message, sizeof r->message, "cannot start libpng");
    return;
  }
  png_infop info = png_create_info_struct(png);
  uint8_t *volatile buffer = nullptr;
  png_bytep *volatile rows = nullptr;
  if (setjmp(png_jmpbuf(png))) {
    std::free(buffer);
    std::free(rows);
    png_destroy_read_struct(&png, &info, nullptr);
    return;
  }
  if (!info)
    png_error(png, "out of memory");
  png_set_read_fn(png, r, pngRead);
  png_read_info(png, info);
  png_uint_32 w = png_get_image_width(png, info);
  png_uint_32 h = png_get_image_height(png, info);
  if (const char *why = badDims(w, h)) {
    std::snprintf(r->message, sizeof r->message, "PNG of %s pixels %s",
                  sizeText(w, h).c_str(), why);
    png_longjmp(png, 1);
  }
  int colorType = png_get_color_type(png, info);
  if (png_get_bit_depth(png, info) == 16)
    png_set_strip_16(png); // the high byte, as Pillow's RGB;16B
  if (colorType == PNG_COLOR_TYPE_PALETTE)
    png_set_palette_to_rgb(png);
  if (colorType == PNG_COLOR_TYPE_GRAY && png_get_bit_depth(png, info) < 8)
    png_set_expand_gray_1_2_4_to_8(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  const int inChannels = png_get_channels(png, info); // 1-4: alpha last
  const size_t rowBytes = png_get_rowbytes(png, info);
  if (rowBytes != static_cast<size_t>(w) * inChannels)
    png_error(png, "unexpected row layout after conversion to 8 bits");
  buffer = static_cast<uint8_t *>(std::malloc(rowBytes * h));
  rows = static_cast<png_bytep *>(std::malloc(sizeof(png_bytep) * h));
  if (!buffer || !rows)
    png_error(png, "out of memory");
  for (png_uint_32 y = 0; y < h; ++y)
    rows[y] = buffer + y * rowBytes;
  png_read_image(png, rows);
  // Alpha (2 or 4 channels) is dropped, as Pillow's convert("L"/"RGB").
  const int channels = inChannels >= 3 ? 3 : 1;
  out->height = static_cast<int>(h);
  out->width = static_cast<int>(w);
  out->channels = channels;
  out->pixels.resize(static_cast<size_t>(w) * h * channels);
  const size_t pixels = static_cast<size_t>(w) * h;
  for (size_t i = 0; i < pixels; ++i)
    for (int c = 0; c < channels; ++c)
      out->pixels[i * channels + c] = buffer[i * inChannels + c];
  std::free(buffer);
  std::free(rows);
  png_destroy_read_struct(&png, &info, nullptr);
}

} // namespace

bool looksLikeImage(const uint8_t *data, size_t size) {
  return isJpeg(data, size) || isPng(data, size);
}

std::vector<uint8_t> readFileBytes(const std::string &path) {
  // runtime/InputFile.h: a regular file of bounded size, opened without
  // blocking (a FIFO or device is refused before any read).
  constexpr uint64_t kMaxImageBytes = uint64_t(256) << 20;
  std::string bytes, error;
  if (!readInputFile(path, kMaxImageBytes, "an image file", bytes, error))
    throw DataError(path, "cannot open: " + error);
  if (bytes.empty())
    throw DataError(path, "empty file");
  return std::vector<uint8_t>(bytes.begin(), bytes.end());
}

Image decodeImage(const uint8_t *data, size_t size, const std::string &name) {
  Image out;
  if (isJpeg(data, size)) {
    JpegError err;
    decodeJpeg(data, size, &out, &err);
    if (err.message[0])
      throw DataError(name, err.message);
    return out;
  }
  if (isPng(data, size)) {
    PngReader r{data, size, 0, {}};
    decodePng(&r, &out);
    if (r.message[0])
      throw DataError(name, r.message);
    return out;
  }
  if (size == 0)
    throw DataError(name, "empty file");
  throw DataError(name, notAnImage(data, size));
}

Image decodeImageFile(const std::string &path) {
  std::vector<uint8_t> bytes = readFileBytes(path);
  return decodeImage(bytes.data(), bytes.size(), path);
}

} // namespace rnc::data
