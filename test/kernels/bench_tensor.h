// The benchmarks' buffers, allocated as the generated models allocate
// theirs (rnc::cpu::alloc_large: 64-byte aligned, huge pages from 2 MB on).
// std::vector's 16-byte alignment split every vector store of a 1x1 layer's
// GEMM across two cache lines: 256 x 3136 x 64 measured 11.3 ms that way
// against 8.7 ms aligned (eight images, one thread).
#pragma once

#include <algorithm>
#include <cstdlib>

#include "kernels/cpu/common.h"

struct BenchTensor {
  float *p;
  size_t n;
  BenchTensor(size_t count, float v = 0.0f)
      : p(static_cast<float *>(rnc::cpu::alloc_large(count * sizeof(float)))),
        n(count) {
    std::fill(p, p + n, v);
  }
  BenchTensor(const BenchTensor &) = delete;
  BenchTensor &operator=(const BenchTensor &) = delete;
  ~BenchTensor() { std::free(p); }
  float *data() { return p; }
  size_t size() const { return n; }
  float &operator[](size_t i) { return p[i]; }
};
