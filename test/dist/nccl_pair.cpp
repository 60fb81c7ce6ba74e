// nccl-pair: the cuda target's data-parallel step over NCCL, on one GPU,
// without MPI (the GPU check's machine has none): two processes that share
// a GPU (NCCL 2.30+ with NCCL_MULTI_RANK_GPU_ENABLE=1) each train a model
// .so on half of every batch, with the NCCL plugin's sum inside the step's
// graph and the batch sizes summed over a socket pair; a third process
// trains the whole batch alone. The two ranks must end bit-identical to
// each other, and equal to the single process within a tolerance (the sums
// run in another order). Use a model without batch norm
// (test/dist/Inputs/nobn.json), whose gradient is a plain sum over images,
// or, with `sync`, a model with batch norm and SyncBN (its statistics over
// the global batch, so that the two ranks again compute the one process's
// step).
//
// A cpu model (PLUGIN "-") runs the same harness with every sum over the
// socket pair: how the test itself is tested without a GPU (compiled.test).
//
// Usage: nccl-pair MODEL.so PLUGIN.so|- [STEPS] [BATCH] [sync]
// Exit: 0 pass, 1 fail, 77 SKIPPED (an NCCL that cannot put two ranks on
// one GPU).
#include "runtime/rnc_abi.h"
#include "tools/rnc-run/nccl/NcclPlugin.h"

#include <dlfcn.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

// The model's C ABI, found with dlsym.
struct Abi {
  const rnc_model_info *(*info)();
  const rnc_tensor_info *(*tensor)(int32_t);
  rnc_model *(*create)();
  int (*init)(rnc_model *, uint64_t);
  int (*set_collectives)(rnc_model *, const rnc_collectives *);
  int (*train_step)(rnc_model *, const float *, const int32_t *, int32_t,
                    const rnc_sgd *, rnc_step_result *);
  int (*read_tensor)(rnc_model *, const char *, float *, int64_t);
  const char *(*last_error)(const rnc_model *);
};

[[noreturn]] void die(const std::string &why) {
  std::fprintf(stderr, "nccl-pair: %s\n", why.c_str());
  std::fflush(stderr);
  std::_Exit(1);
}

template <class F> void find(void *h, const char *name, F &fn) {
  fn = reinterpret_cast<F>(::dlsym(h, name));
  if (!fn)
    die(std::string("missing symbol ") + name);
}

Abi load(const char *path) {
  void *h = ::dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!h)
    die(std::string("cannot load ") + path + ": " + ::dlerror());
  Abi a{};
  find(h, "rnc_info", a.info);
  find(h, "rnc_tensor", a.tensor);
  find(h, "rnc_create", a.create);
  find(h, "rnc_init", a.init);
  find(h, "rnc_set_collectives", a.set_collectives);
  find(h, "rnc_train_step", a.train_step);
  find(h, "rnc_read_tensor", a.read_tensor);
  find(h, "rnc_last_error", a.last_error);
  return a;
}

rnc_nccl_api openPlugin(const char *path) {
  void *h = ::dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!h)
    die(std::string("cannot load ") + path + ": " + ::dlerror());
  decltype(&rnc_nccl_open) open;
  find(h, "rnc_nccl_open", open);
  rnc_nccl_api api{};
  char error[512] = "";
  if (open(&api, error, sizeof error) != 0)
    die(error);
  return api;
}

// The other rank, for the host sums (stream NULL): a socket pair.
struct Peer {
  int fd = -1;
  const rnc_nccl_api *nccl = nullptr;
};

bool full(ssize_t (*io)(int, void *, size_t), int fd, void *p, size_t n) {
  char *c = static_cast<char *>(p);
  while (n > 0) {
    ssize_t k = io(fd, c, n);
    if (k <= 0)
      return false;
    c += k;
    n -= size_t(k);
  }
  return true;
}
ssize_t writeSome(int fd, void *p, size_t n) { return ::write(fd, p, n); }
ssize_t readSome(int fd, void *p, size_t n) { return ::read(fd, p, n); }

int pairSum(void *ctx, float *data, int64_t count, void *stream) {
  Peer *peer = static_cast<Peer *>(ctx);
  if (stream)
    return peer->nccl ? peer->nccl->allreduce_sum(nullptr, data, count, stream)
                      : 1;
  std::vector<float> theirs(size_t(count), 0.0f);
  if (!full(writeSome, peer->fd, data, sizeof(float) * size_t(count)) ||
      !full(readSome, peer->fd, theirs.data(), sizeof(float) * size_t(count)))
    return 1;
  for (int64_t i = 0; i < count; ++i)
    data[i] += theirs[size_t(i)];
  return 0;
}

// Deterministic images in [0, 1) and labels.
float unit(uint64_t i) {
  uint64_t z = i * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return float((z ^ (z >> 31)) >> 40) / float(1ull << 24);
}

// Trains STEPS steps of images [first, first + n) of every batch of BATCH;
// writes every parameter into `out` (numel floats in ABI order).
void train(const Abi &abi, const rnc_collectives *comm, int steps, int batch,
           int first, int n, float *out, const char *who) {
  const rnc_model_info &info = *abi.info();
  rnc_model *m = abi.create();
  if (!m)
    die(std::string(who) + ": rnc_create failed (no GPU, or out of memory)");
  if (abi.init(m, 1) != 0 || abi.set_collectives(m, comm) != 0)
    die(std::string(who) + ": " + abi.last_error(m));
  const long per = long(info.input_c) * info.input_h * info.input_w;
  std::vector<float> x(size_t(n * per));
  std::vector<int32_t> y(static_cast<size_t>(n), 0);
  rnc_sgd sgd{0.05f, 0.9f, 5e-4f};
  for (int s = 0; s < steps; ++s) {
    for (int i = 0; i < n; ++i) {
      const uint64_t image = uint64_t(s) * batch + uint64_t(first + i);
      for (long p = 0; p < per; ++p)
        x[size_t(i * per + p)] = unit(image * uint64_t(per) + uint64_t(p));
      y[size_t(i)] = int32_t(image * 7 % uint64_t(info.num_classes));
    }
    rnc_step_result r{};
    if (abi.train_step(m, x.data(), y.data(), n, &sgd, &r) != 0)
      die(std::string(who) + ": step " + std::to_string(s) + ": " +
          abi.last_error(m));
  }
  for (int i = 0; i < info.num_tensors; ++i) {
    const rnc_tensor_info &t = *abi.tensor(i);
    if (t.kind != RNC_PARAM)
      continue;
    if (abi.read_tensor(m, t.name, out, t.numel) != 0)
      die(std::string(who) + ": " + abi.last_error(m));
    out += t.numel;
  }
}

int waitAll(const std::vector<pid_t> &kids) {
  int bad = 0;
  for (pid_t k : kids) {
    int st = 0;
    ::waitpid(k, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
      bad = 1;
  }
  return bad;
}

} // namespace

int main(int argc, char **argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: nccl-pair MODEL.so PLUGIN.so|- [STEPS] "
                         "[BATCH] [sync]\n");
    return 2;
  }
  const int steps = argc > 3 ? std::atoi(argv[3]) : 4;
  const int batch = argc > 4 ? std::atoi(argv[4]) : 16;
  const bool syncBn = argc > 5 && std::string(argv[5]) == "sync";
  if (steps < 1 || batch < 2 || batch % 2)
    die("STEPS >= 1 and an even BATCH >= 2, please");
  Abi abi = load(argv[1]);
  const bool gpu = std::string(abi.info()->target) == "cuda";
  if (gpu == (std::string(argv[2]) == "-"))
    die("a cuda model needs the NCCL plugin, a cpu model takes -");
  rnc_nccl_api nccl{};
  if (gpu)
    nccl = openPlugin(argv[2]);
  const int v = nccl.nccl_version;
  if (gpu && v < 23000) {
    std::printf("SKIPPED: NCCL %d.%d.%d cannot put two ranks on one GPU "
                "(2.30+ can, with NCCL_MULTI_RANK_GPU_ENABLE=1)\n",
                v / 10000, v / 100 % 100, v % 100);
    return 77;
  }
  if (batch > 2 * abi.info()->max_batch || batch / 2 > abi.info()->max_batch)
    die("BATCH above the model's max batch");
  long numel = 0;
  for (int i = 0; i < abi.info()->num_tensors; ++i)
    if (abi.tensor(i)->kind == RNC_PARAM)
      numel += abi.tensor(i)->numel;
  // Three results side by side, shared with the children.
  void *mem = ::mmap(nullptr, sizeof(float) * size_t(3 * numel),
                     PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED)
    die("mmap failed");
  float *result = static_cast<float *>(mem);
  // The single process first, alone on the GPU (batch > max_batch: skip).
  std::vector<pid_t> kids;
  if (batch <= abi.info()->max_batch) {
    if (pid_t k = ::fork(); k == 0) {
      ::alarm(120);
      train(abi, nullptr, steps, batch, 0, batch, result + 2 * numel, "1 process");
      std::_Exit(0);
    } else {
      kids.push_back(k);
    }
  } else {
    die("BATCH above the model's max batch");
  }
  if (waitAll(kids))
    die("the single process failed (above)");
  kids.clear();
  int pair[2], idpipe[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM, 0, pair) != 0 || ::pipe(idpipe) != 0)
    die("socketpair/pipe failed");
  for (int rank = 0; rank < 2; ++rank) {
    pid_t k = ::fork();
    if (k != 0) {
      kids.push_back(k);
      continue;
    }
    ::alarm(120);
    char error[512] = "";
    unsigned char id[RNC_NCCL_ID_BYTES];
    if (gpu && rank == 0) {
      if (nccl.unique_id(id, error, sizeof error) != 0)
        die(error);
      if (!full(writeSome, idpipe[1], id, sizeof id))
        die("cannot pass the unique id");
    } else if (gpu && !full(readSome, idpipe[0], id, sizeof id)) {
      die("cannot read the unique id");
    }
    if (gpu && nccl.join(rank, 2, id, error, sizeof error) != 0)
      die(error);
    Peer peer{pair[rank], gpu ? &nccl : nullptr};
    rnc_collectives c{rank, 2, syncBn ? 1 : 0, 0, &peer, &pairSum};
    const std::string who = "rank " + std::to_string(rank);
    train(abi, &c, steps, batch, rank * batch / 2, batch / 2,
          result + rank * numel, who.c_str());
    if (gpu)
      nccl.finalize();
    std::_Exit(0);
  }
  if (waitAll(kids))
    die("a rank failed (above)");
  const float *r0 = result, *r1 = result + numel, *one = result + 2 * numel;
  if (std::memcmp(r0, r1, sizeof(float) * size_t(numel)) != 0)
    die("rank 0 and rank 1 hold different weights after the same steps");
  // Tolerance 1e-4 of the largest magnitude: the gradient of every image is
  // summed in another order (two halves, then NCCL's sum), fp32 kernels.
  double scale = 1e-12, worst = 0;
  for (long i = 0; i < numel; ++i)
    scale = std::max(scale, double(std::fabs(one[i])));
  for (long i = 0; i < numel; ++i)
    worst = std::max(worst, std::fabs(double(r0[i]) - double(one[i])) / scale);
  const std::string how =
      gpu ? "NCCL " + std::to_string(v / 10000) + "." +
                std::to_string(v / 100 % 100) + "." + std::to_string(v % 100) +
                ", 2 ranks on one GPU"
          : std::string("cpu target, 2 ranks summing over a socket pair");
  std::printf("nccl-pair: %s%s at %d images each vs 1 process at %d, %d "
              "steps, %ld parameters: largest difference %.3g of the largest "
              "weight (tolerance 1e-4); the ranks agree bit for bit\n",
              how.c_str(), syncBn ? " with SyncBN" : "", batch / 2, batch,
              steps, numel, worst);
  return worst <= 1e-4 ? 0 : 1;
}
