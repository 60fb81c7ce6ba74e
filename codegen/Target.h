// What differs between the code generation targets (cpu: C++ over
// kernels/cpu, cuda: CUDA C++ over kernels/cuda): the file's prologue and
// glue, the step's signature, how results reach the glue, and the few
// layout rules of a target. The op emitters (Emit*.cpp) ask a Target instead
// of testing for one.
#ifndef RNC_CODEGEN_TARGET_H
#define RNC_CODEGEN_TARGET_H

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdint>
#include <string>
#include <vector>

namespace rnc::codegen {

struct ModelMeta;

/// What the function emitters produced, for the parts of the file around
/// the functions.
struct EmittedModel {
  std::string trainBody, evalBody;
  /// "rn.conv2d (layer1.0.conv1)" per profiled op, in OpTimer index order.
  std::vector<std::string> profileNames;
  /// Batched updates: {param, momentum, grad, numel} initializers.
  std::vector<std::string> sgdTable;
  /// Channels of the widest fused BN (size of the g_sum/g_sumsq scratch).
  int64_t statChannels = 1;
  /// Names of the model's Conv2DShape constants (cuda: kConvShapes, from
  /// which the glue sizes the scratch of the convolutions' partial sums).
  std::vector<std::string> convShapes;
};

class Target {
public:
  /// The target called `name` ("cpu" or "cuda"), or nullptr.
  static const Target *get(llvm::StringRef name);
  virtual ~Target() = default;

  virtual llvm::StringRef name() const = 0;
  /// Activations are stored NHWC: a view between [N, C, H, W] and
  /// [N, C*H*W] is only the identity where H*W == 1.
  virtual bool nhwcActivations() const = 0;
  /// Every SGD update of a step runs in one launch where the step returns
  /// (kernels/cuda/optimizer.cuh), instead of one call per parameter.
  virtual bool batchesUpdates() const = 0;
  /// Each op's calls are timed as one RNC_PROFILE entry (an OpTimer scope;
  /// cuda: also checked op by op with RNC_CUDA_SYNC=1).
  virtual bool profilesOps() const = 0;
  /// C++ that copies `n` floats from `src` to `dst` (the target's memory).
  virtual std::string copyFloats(llvm::StringRef dst, llvm::StringRef src,
                                 llvm::StringRef n) const = 0;
  /// Data parallelism (runtime/rnc_abi.h, rnc_collectives), spelled the
  /// same on both targets, whose steps take a `comm` (StepComm,
  /// kernels/{cpu,cuda}/collectives.h): the C++ name of the step's global
  /// batch (the sum of every rank's N), which the loss gradient divides by;
  /// a statement that sums `count` floats of the state block from `offset`
  /// (the gradient region) over the ranks.
  std::string globalBatch() const;
  std::string sumOverRanks(int64_t offset, int64_t count) const;
  /// The gradient sum is cut into buckets summed during the backward pass
  /// (GradientBuckets.h): sumOverRanksAsync starts the sum of one bucket,
  /// joinSumsOverRanks waits for every sum started (before the first
  /// update). cuda: NCCL on a stream beside the kernels. cpu: no (both
  /// cores run the backward pass, and MPI moves data only inside MPI calls).
  virtual bool overlapsGradientSum() const = 0;
  std::string sumOverRanksAsync(int64_t offset, int64_t count) const;
  std::string joinSumsOverRanks() const;
  /// SyncBN: the batch the BN statistics of a step run over ("NB": the
  /// global batch under SyncBN, else N), a statement summing the fused BN
  /// sums `data` (n floats) over the ranks, and the sync argument the BN
  /// kernels take last (the target's own).
  std::string bnBatch() const;
  std::string bnSumOverRanks(llvm::StringRef data, int64_t n) const;
  virtual std::string bnSync() const = 0;
  /// Statements that hand @train_step's (loss, correct) to the glue.
  virtual std::vector<std::string> trainReturn(llvm::StringRef loss,
                                               llvm::StringRef correct) const = 0;
  /// Statements that hand @eval's `count` logits to the glue.
  virtual std::vector<std::string> evalReturn(llvm::StringRef logits,
                                              llvm::StringRef count) const = 0;

  /// Includes and `namespace gen {`.
  virtual void emitPrologue(const ModelMeta &meta,
                            llvm::raw_ostream &os) const = 0;
  /// The target's tables and scratch (profile names, optimizer table, BN
  /// sums), after the tensor table.
  virtual void emitTables(const EmittedModel &model,
                          llvm::raw_ostream &os) const = 0;
  /// init(), train_step(), eval(), the end of `gen` and the ABI glue.
  virtual void emitFunctions(const std::string &initBody,
                             const EmittedModel &model,
                             llvm::raw_ostream &os) const = 0;
};

/// A C++ string literal of `s`, every byte that is not printable ASCII (or
/// is a quote or backslash) escaped.
std::string cppStringLiteral(llvm::StringRef s);
/// `s` made safe inside a `//` comment: control characters and trailing
/// backslashes become '?'.
std::string cppCommentText(llvm::StringRef s);

} // namespace rnc::codegen

#endif // RNC_CODEGEN_TARGET_H
