// Collects the state tensors of a module (StateLayout.h).
#include "codegen/StateLayout.h"

#include "dialect/RnOps.h"

using namespace mlir;

namespace rnc::codegen {

namespace {

constexpr int64_t kAlignFloats = 16; // 64 bytes

int64_t product(llvm::ArrayRef<int64_t> dims) {
  int64_t p = 1;
  for (int64_t d : dims)
    p *= d;
  return p;
}

/// PyTorch's fans of a weight: conv [O, I/g, KH, KW] or linear [O, I].
void weightFans(llvm::ArrayRef<int64_t> shape, int64_t &fanIn,
                int64_t &fanOut) {
  int64_t receptive = shape.size() > 2 ? product(shape.drop_front(2)) : 1;
  fanIn = shape.size() > 1 ? shape[1] * receptive : shape[0];
  fanOut = shape[0] * receptive;
}

/// The weight next to a bias: the weight operand of a conv or linear that
/// uses `bias` as its bias.
Value weightOfBias(Value bias) {
  for (Operation *user : bias.getUsers()) {
    if (auto conv = dyn_cast<rn::Conv2DOp>(user); conv && conv.getBias() == bias)
      return conv.getWeight();
    if (auto fc = dyn_cast<rn::LinearOp>(user); fc && fc.getBias() == bias)
      return fc.getWeight();
    if (auto f = dyn_cast<rn::Conv2DBatchNormTrainOp>(user);
        f && f.getBias() == bias)
      return f.getWeight();
    if (auto f = dyn_cast<rn::Conv2DBatchNormEvalOp>(user);
        f && f.getBias() == bias)
      return f.getWeight();
  }
  return Value();
}

} // namespace

FailureOr<StateLayout> planState(ModuleOp module) {
  StateLayout layout;
  std::vector<StateTensor> optimizer, gradients;
  bool failed = false;

  auto add = [&](std::vector<StateTensor> &into, StateTensor t,
                 Operation *op) {
    auto it = layout.index.find(t.name);
    if (it != layout.index.end() ||
        llvm::any_of(optimizer, [&](auto &o) { return o.name == t.name; }) ||
        llvm::any_of(gradients, [&](auto &o) { return o.name == t.name; })) {
      const StateTensor *seen =
          it != layout.index.end() ? &layout.tensors[it->second] : nullptr;
      if (seen && (seen->shape != t.shape || seen->kind != t.kind)) {
        op->emitOpError() << "declares \"" << t.name
                          << "\" with another shape or kind than before";
        failed = true;
      }
      return;
    }
    if (&into == &layout.tensors)
      layout.index[t.name] = layout.tensors.size();
    into.push_back(std::move(t));
  };

  module.walk([&](rn::ParamOp p) {
    StateTensor t;
    t.name = p.getName().str();
    t.kind = p.getOptimizer() ? TensorKind::Optimizer
             : p.getBuffer()  ? TensorKind::Buffer
                              : TensorKind::Param;
    t.shape.assign(p.getType().getShape().begin(), p.getType().getShape().end());
    t.numel = product(t.shape);
    t.init = p.getInit().str();
    Value weight = (t.init == "conv_bias" || t.init == "linear_bias")
                       ? weightOfBias(p.getResult())
                       : p.getResult();
    if (!weight) {
      p.emitOpError() << "is a bias (init \"" << t.init
                      << "\") that no conv2d or linear uses; its init needs "
                         "the weight's fan-in";
      failed = true;
      return;
    }
    weightFans(cast<RankedTensorType>(weight.getType()).getShape(), t.fanIn,
               t.fanOut);
    add(t.kind == TensorKind::Optimizer ? optimizer : layout.tensors,
        std::move(t), p);
  });
  module.walk([&](rn::SgdUpdateOp u) {
    auto param = u.getParam().getDefiningOp<rn::ParamOp>();
    StateTensor t;
    t.name = (param.getName() + ".grad").str();
    t.kind = TensorKind::Gradient;
    auto type = cast<RankedTensorType>(u.getGrad().getType());
    t.shape.assign(type.getShape().begin(), type.getShape().end());
    t.numel = product(t.shape);
    add(gradients, std::move(t), u);
  });
  if (failed)
    return failure();

  for (auto *group : {&optimizer, &gradients})
    for (StateTensor &t : *group) {
      layout.index[t.name] = layout.tensors.size();
      layout.tensors.push_back(std::move(t));
    }
  for (StateTensor &t : layout.tensors) {
    t.offset = layout.totalFloats;
    layout.totalFloats += (t.numel + kAlignFloats - 1) / kAlignFloats *
                          kAlignFloats;
  }
  return layout;
}

} // namespace rnc::codegen
