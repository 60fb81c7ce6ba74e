// Scan: one pass over a split that decodes every image, finds the bad ones and measures the per-channel mean and std.
#include "runtime/data/Scan.h"

#include "runtime/data/DataError.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <limits>
#include <mutex>
#include <thread>

namespace rnc::data {

namespace {

using u128 = unsigned __int128;

// Exact pixel sums: index 0-2 for RGB images' channels, 3 for gray images.
struct Sums {
  u128 sum[4] = {}, squares[4] = {};
  size_t gray = 0, rgb = 0;
  void add(const Sums &o) {
    for (int c = 0; c < 4; ++c) {
      sum[c] += o.sum[c];
      squares[c] += o.squares[c];
    }
    gray += o.gray;
    rgb += o.rgb;
  }
};

void accumulate(const Image &img, Sums &s) {
  uint64_t sum[3] = {}, squares[3] = {};
  const size_t n = img.pixels.size();
  const int c = img.channels;
  for (size_t i = 0; i < n; ++i) {
    uint64_t v = img.pixels[i];
    sum[i % c] += v;
    squares[i % c] += v * v;
  }
  if (c == 1) {
    s.sum[3] += sum[0];
    s.squares[3] += squares[0];
    ++s.gray;
  } else {
    for (int k = 0; k < 3; ++k) {
      s.sum[k] += sum[k];
      s.squares[k] += squares[k];
    }
    ++s.rgb;
  }
}

} // namespace

ScanResult scan(const ImageSet &set, int threads, bool stopAtFirstBad,
                const std::function<void(size_t, size_t)> &progress) {
  const size_t n = set.size();
  threads = std::max(1, std::min<int>(threads, static_cast<int>(std::max<size_t>(n, 1))));
  std::atomic<size_t> next{0}, done{0};
  // With stopAtFirstBad no index at or after `limit` is started; every
  // index before a bad one has been claimed, so the smallest bad index
  // found is the first bad image.
  std::atomic<size_t> limit{n};
  std::mutex m;
  std::condition_variable finished;
  int running = threads;
  Sums total;
  std::vector<std::pair<size_t, std::string>> bad;

  auto work = [&] {
    Sums mine;
    std::vector<std::pair<size_t, std::string>> myBad;
    for (;;) {
      size_t i = next.fetch_add(1);
      if (i >= limit.load())
        break;
      try {
        accumulate(set.loadNative(i), mine);
      } catch (const std::exception &e) {
        // DataError says `<file>: <reason>`; anything else gets the name.
        myBad.emplace_back(i, dynamic_cast<const DataError *>(&e)
                                  ? std::string(e.what())
                                  : set.name(i) + ": " + e.what());
        if (stopAtFirstBad) {
          size_t cur = limit.load();
          while (i < cur && !limit.compare_exchange_weak(cur, i)) {
          }
        }
      }
      done.fetch_add(1);
    }
    std::lock_guard<std::mutex> lock(m);
    total.add(mine);
    bad.insert(bad.end(), myBad.begin(), myBad.end());
    if (--running == 0)
      finished.notify_all();
  };
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back(work);
  {
    std::unique_lock<std::mutex> lock(m);
    while (running > 0) {
      finished.wait_for(lock, std::chrono::milliseconds(250));
      if (progress && running > 0) {
        lock.unlock();
        progress(std::min(done.load(), n), n);
        lock.lock();
      }
    }
  }
  for (std::thread &t : pool)
    t.join();

  ScanResult r;
  std::sort(bad.begin(), bad.end());
  if (stopAtFirstBad && !bad.empty())
    bad.resize(1);
  for (auto &[i, why] : bad) {
    r.bad.push_back(i);
    r.reasons.push_back(why);
  }
  r.images = total.gray + total.rgb;
  if (r.images == 0)
    return r;
  r.channels = total.rgb > 0 ? 3 : 1;
  // Population variance from exact integers: (n q - s^2) / n^2, where
  // n q and s^2 fit in 128 bits for any data set rnc can hold.
  const u128 count = static_cast<u128>(set.shape().height) *
                     static_cast<u128>(set.shape().width) * r.images;
  for (int c = 0; c < r.channels; ++c) {
    u128 s = total.sum[3], q = total.squares[3];
    if (r.channels == 3) {
      s += total.sum[c];
      q += total.squares[c];
    }
    const double n = static_cast<double>(count);
    r.mean.push_back(static_cast<double>(s) / n / 255.0);
    const u128 spread = count * q - s * s; // >= 0 (Cauchy-Schwarz)
    r.std.push_back(std::sqrt(static_cast<double>(spread) / (n * n)) / 255.0);
  }
  return r;
}

} // namespace rnc::data
