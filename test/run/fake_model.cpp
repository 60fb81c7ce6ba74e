// A stand-in for a compiled model: softmax regression on 1x12x12 images behind
// the full rnc ABI, so that rnc-run is tested before the compiler exists.
//
// Switches for tests, read from the environment at each call:
//   RNC_FAKE_NAN_AT_STEP=N   the Nth rnc_train_step reports a NaN loss
//   RNC_FAKE_FAIL_AT_STEP=N  the Nth rnc_train_step fails (returns 1)
//   RNC_FAKE_INF_WEIGHT_AT_STEP=N  the Nth rnc_train_step leaves an inf in
//                            fc.weight but reports a finite loss (weights
//                            diverge a step before the loss shows it)
//   RNC_FAKE_LOG=FILE        append "train <batch> lr <lr>" per step and
//                            "eval <batch>" per eval call to FILE
//   RNC_FAKE_DIE_AT=R:N      in a data-parallel job (rnc_set_collectives),
//                            rank R kills itself (SIGKILL) at its Nth step
//   RNC_FAKE_HANG_AT=R:N     rank R sleeps for an hour at its Nth step
//   RNC_FAKE_TIME_OUT_AT=R:N rank R's Nth step fails with RNC_STEP_TIMED_OUT
//                            (as a cuda step whose sum never ends does after
//                            rnc_collectives.timeout_s); R = -1: every rank
// Compile definitions: FAKE_ABI_VERSION (default RNC_ABI_VERSION) builds a
// model for another ABI; FAKE_OMIT_EVAL leaves rnc_eval out; FAKE_CHANNELS
// (default 1) the input channels (3: a model that reads 3x12x12 per image).
#include "runtime/rnc_abi.h"

#ifndef FAKE_TARGET
#define FAKE_TARGET "cpu" // rnc_model_info::target
#endif

#include <algorithm>
#include <csignal>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#ifndef FAKE_ABI_VERSION
#define FAKE_ABI_VERSION RNC_ABI_VERSION
#endif
#ifndef FAKE_CHANNELS
#define FAKE_CHANNELS 1
#endif

namespace {

constexpr int kC = FAKE_CHANNELS, kH = 12, kW = 12, kIn = kC * kH * kW,
              kClasses = 10;
constexpr int kMaxBatch = 128;

const rnc_model_info kInfo = {FAKE_ABI_VERSION, "0.0.0-fake", "fake_softmax",
                              "0", FAKE_TARGET, kC, kH, kW, kClasses, kMaxBatch, 6};

const rnc_tensor_info kTensors[] = {
    {"fc.weight", RNC_PARAM, 2, {kClasses, kIn, 0, 0}, kClasses * kIn},
    {"fc.bias", RNC_PARAM, 1, {kClasses, 0, 0, 0}, kClasses},
    {"fc.weight.momentum_buffer", RNC_OPTIMIZER, 2, {kClasses, kIn, 0, 0}, kClasses * kIn},
    {"fc.bias.momentum_buffer", RNC_OPTIMIZER, 1, {kClasses, 0, 0, 0}, kClasses},
    {"fc.weight.grad", RNC_GRADIENT, 2, {kClasses, kIn, 0, 0}, kClasses * kIn},
    {"fc.bias.grad", RNC_GRADIENT, 1, {kClasses, 0, 0, 0}, kClasses},
};

// RNC_FAKE_DIE_AT / RNC_FAKE_HANG_AT: "R:N" names this rank and step.
bool envRankStep(const char *name, int rank, long step) {
  const char *v = std::getenv(name);
  int r = -1;
  long n = -1;
  return v && std::sscanf(v, "%d:%ld", &r, &n) == 2 &&
         (r == rank || r == -1) && n == step;
}

long envStep(const char *name) {
  const char *v = std::getenv(name);
  return v ? std::atol(v) : 0;
}

void log(const std::string &line) {
  if (const char *path = std::getenv("RNC_FAKE_LOG")) {
    if (FILE *f = std::fopen(path, "a")) {
      std::fprintf(f, "%s\n", line.c_str());
      std::fclose(f);
    }
  }
}

} // namespace

struct rnc_model {
  // In kTensors order: weight, bias, their momentum buffers, their grads.
  std::vector<float> t[6];
  std::string error;
  long steps = 0;
  rnc_collectives comm{}; // world > 1: data parallel, as the ABI says
};

namespace {

int fail(rnc_model *m, const std::string &why) {
  m->error = why;
  return 1;
}

// logits[b, k] = bias[k] + sum_i weight[k, i] * x[b, i]
void forward(const rnc_model *m, const float *x, int32_t batch, float *logits) {
  for (int32_t b = 0; b < batch; ++b)
    for (int k = 0; k < kClasses; ++k) {
      float s = m->t[1][k];
      for (int i = 0; i < kIn; ++i)
        s += m->t[0][k * kIn + i] * x[b * kIn + i];
      logits[b * kClasses + k] = s;
    }
}

} // namespace

extern "C" {

uint32_t rnc_abi_version(void) { return FAKE_ABI_VERSION; }
const rnc_model_info *rnc_info(void) { return &kInfo; }
const rnc_tensor_info *rnc_tensor(int32_t i) {
  return i >= 0 && i < kInfo.num_tensors ? &kTensors[i] : nullptr;
}

rnc_model *rnc_create(void) {
  auto *m = new rnc_model;
  for (int i = 0; i < 6; ++i)
    m->t[i].assign(static_cast<size_t>(kTensors[i].numel), 0.0f);
  return m;
}
void rnc_destroy(rnc_model *m) { delete m; }
const char *rnc_last_error(const rnc_model *m) { return m->error.c_str(); }

int rnc_init(rnc_model *m, uint64_t seed) {
  uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
  for (float &w : m->t[0]) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    w = (static_cast<float>(s >> 40) / (1 << 24) - 0.5f) * 0.02f;
  }
  for (int i = 1; i < 6; ++i)
    std::fill(m->t[i].begin(), m->t[i].end(), 0.0f);
  m->steps = 0;
  return 0;
}

int rnc_train_step(rnc_model *m, const float *x, const int32_t *labels,
                   int32_t batch, const rnc_sgd *opt, rnc_step_result *out) {
  if (!x || !labels || !opt || !out)
    return fail(m, "rnc_train_step: NULL argument");
  if (batch < 1 || batch > kMaxBatch)
    return fail(m, "rnc_train_step: batch " + std::to_string(batch) +
                       " is outside [1, 128]");
  ++m->steps;
  char line[64];
  std::snprintf(line, sizeof line, "train %d lr %.6g", batch, opt->lr);
  log(line);
  if (m->steps == envStep("RNC_FAKE_FAIL_AT_STEP"))
    return fail(m, "fake failure at step " + std::to_string(m->steps));
  if (m->comm.world > 1 &&
      envRankStep("RNC_FAKE_DIE_AT", m->comm.rank, m->steps))
    std::raise(SIGKILL);
  if (m->comm.world > 1 &&
      envRankStep("RNC_FAKE_HANG_AT", m->comm.rank, m->steps))
    for (int i = 0; i < 3600; ++i)
      std::this_thread::sleep_for(std::chrono::seconds(1));
  if (m->comm.world > 1 &&
      envRankStep("RNC_FAKE_TIME_OUT_AT", m->comm.rank, m->steps)) {
    fail(m, "rnc_train_step: the step did not finish within 3 s (fake)");
    return RNC_STEP_TIMED_OUT;
  }

  // Data parallel (rnc_collectives): the loss gradient divides by the
  // global batch, and the gradients are summed over the ranks.
  const bool dist = m->comm.world > 1;
  float global = static_cast<float>(batch);
  if (dist && m->comm.allreduce_sum(m->comm.ctx, &global, 1, nullptr))
    return fail(m, "allreduce_sum failed");
  std::vector<float> logits(static_cast<size_t>(batch) * kClasses);
  forward(m, x, batch, logits.data());
  auto &gw = m->t[4], &gb = m->t[5];
  std::fill(gw.begin(), gw.end(), 0.0f);
  std::fill(gb.begin(), gb.end(), 0.0f);
  double loss = 0;
  int32_t correct = 0;
  for (int32_t b = 0; b < batch; ++b) {
    if (labels[b] < 0 || labels[b] >= kClasses)
      return fail(m, "rnc_train_step: label " + std::to_string(labels[b]) +
                         " out of range");
    float *z = &logits[b * kClasses];
    int best = 0;
    float mx = z[0];
    for (int k = 1; k < kClasses; ++k)
      if (z[k] > mx)
        mx = z[k], best = k;
    correct += best == labels[b];
    double sum = 0;
    for (int k = 0; k < kClasses; ++k)
      sum += std::exp(z[k] - mx);
    loss += std::log(sum) - (z[labels[b]] - mx);
    for (int k = 0; k < kClasses; ++k) {
      float p = static_cast<float>(std::exp(z[k] - mx) / sum);
      float d = (p - (k == labels[b] ? 1.0f : 0.0f)) / global;
      gb[k] += d;
      for (int i = 0; i < kIn; ++i)
        gw[k * kIn + i] += d * x[b * kIn + i];
    }
  }
  if (dist && (m->comm.allreduce_sum(m->comm.ctx, gw.data(),
                                     static_cast<int64_t>(gw.size()), nullptr) ||
               m->comm.allreduce_sum(m->comm.ctx, gb.data(),
                                     static_cast<int64_t>(gb.size()), nullptr)))
    return fail(m, "allreduce_sum failed");
  // SGD with PyTorch's momentum and weight decay.
  for (int p = 0; p < 2; ++p)
    for (size_t i = 0; i < m->t[p].size(); ++i) {
      float g = m->t[p + 4][i] + opt->weight_decay * m->t[p][i];
      float &buf = m->t[p + 2][i];
      buf = opt->momentum * buf + g;
      m->t[p][i] -= opt->lr * buf;
    }
  out->loss = static_cast<float>(loss / batch);
  out->correct = correct;
  if (m->steps == envStep("RNC_FAKE_INF_WEIGHT_AT_STEP"))
    m->t[0][3] = INFINITY;
  if (m->steps == envStep("RNC_FAKE_NAN_AT_STEP"))
    out->loss = NAN;
  return 0;
}

#ifndef FAKE_OMIT_EVAL
int rnc_eval(rnc_model *m, const float *x, int32_t batch, float *logits) {
  if (!x || !logits)
    return fail(m, "rnc_eval: NULL argument");
  if (batch < 1 || batch > kMaxBatch)
    return fail(m, "rnc_eval: batch " + std::to_string(batch) +
                       " is outside [1, 128]");
  log("eval " + std::to_string(batch));
  forward(m, x, batch, logits);
  return 0;
}
#endif

int rnc_set_collectives(rnc_model *m, const rnc_collectives *c) {
  if (c && (c->world < 1 || c->rank < 0 || c->rank >= c->world))
    return fail(m, "rnc_set_collectives: bad rank or world");
  m->comm = c ? *c : rnc_collectives{};
  return 0;
}

static int find(rnc_model *m, const char *name, int64_t numel) {
  for (int i = 0; i < kInfo.num_tensors; ++i)
    if (std::strcmp(name, kTensors[i].name) == 0) {
      if (numel != kTensors[i].numel)
        return fail(m, std::string("tensor '") + name + "': numel mismatch"), -1;
      return i;
    }
  return fail(m, std::string("no tensor named '") + name + "'"), -1;
}

int rnc_read_tensor(rnc_model *m, const char *name, float *dst, int64_t numel) {
  int i = find(m, name, numel);
  if (i < 0)
    return 1;
  std::memcpy(dst, m->t[i].data(), static_cast<size_t>(numel) * sizeof(float));
  return 0;
}

int rnc_write_tensor(rnc_model *m, const char *name, const float *src,
                     int64_t numel) {
  int i = find(m, name, numel);
  if (i < 0)
    return 1;
  std::memcpy(m->t[i].data(), src, static_cast<size_t>(numel) * sizeof(float));
  return 0;
}

} // extern "C"
