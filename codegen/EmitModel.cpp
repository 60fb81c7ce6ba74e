// Source emission for the cpu and cuda targets (EmitModel.h).
//
// Parameters, buffers, optimizer state and the gradients the updates consume
// live in the state block S (StateLayout); every other tensor lives in the
// workspace W at the offset rnc-plan-memory chose (without a plan, each
// value gets its own buffer), sized for the compiled maximum batch;
// flatten/unflatten are views. Each op becomes one call of a kernels/cpu (or
// kernels/cuda) kernel whose shape is a named constexpr at the top of the
// file; the few target differences are marked `cuda`.
#include "codegen/EmitModel.h"

#include "codegen/StateLayout.h"
#include "dialect/RnOps.h"
#include "dialect/Storage.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/ScopeExit.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/FormatVariadic.h"

#include <cstdio>
#include <map>

using namespace mlir;

namespace rnc::codegen {

namespace {

constexpr int64_t kAlignFloats = 16;

/// A float literal that round-trips: "1e-05f".
std::string floatLit(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.9gf", v);
  return buf;
}

/// RNC_CUDA_PRECISION for a --precision name (kernels/cuda/common.cuh).
int cudaPrecisionMacro(StringRef precision) {
  return precision == "fp32" ? 0 : precision == "tf32" ? 1 : 2;
}

/// A double literal that round-trips.
std::string doubleLit(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

std::string quoted(StringRef s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\')
      out += '\\';
    out += c;
  }
  return out + "\"";
}

RankedTensorType tensorType(Value v) {
  return cast<RankedTensorType>(v.getType());
}

/// Elements per sample of an activation (all dims after the batch).
int64_t perSample(RankedTensorType t) {
  int64_t p = 1;
  for (int64_t d : t.getShape().drop_front())
    p *= d;
  return p;
}

/// Named constexpr kernel shapes, deduplicated by their initializer.
class ShapeTable {
public:
  std::string get(StringRef type, StringRef prefix, const std::string &init) {
    std::string key = (type + init).str();
    auto it = names.find(key);
    if (it != names.end())
      return it->second;
    std::string name = llvm::formatv("k{0}{1}", prefix, names.size()).str();
    names.insert({key, name});
    defs.push_back(
        llvm::formatv("constexpr rnc::{0} {1}{2};", type, name, init));
    return name;
  }
  const std::vector<std::string> &definitions() const { return defs; }

private:
  std::map<std::string, std::string> names;
  std::vector<std::string> defs;
};

std::string convShape(ShapeTable &shapes, RankedTensorType in,
                      RankedTensorType w, ArrayRef<int64_t> stride,
                      ArrayRef<int64_t> pad, ArrayRef<int64_t> dil,
                      int64_t groups) {
  auto i = in.getShape(), k = w.getShape();
  return shapes.get(
      "Conv2DShape", "Conv",
      llvm::formatv("{{.in_channels = {0}, .out_channels = {1}, .in_h = {2}, "
                    ".in_w = {3}, .kernel_h = {4}, .kernel_w = {5}, "
                    ".stride_h = {6}, .stride_w = {7}, .pad_h = {8}, "
                    ".pad_w = {9}, .dilation_h = {10}, .dilation_w = {11}, "
                    ".groups = {12}}",
                    i[1], k[0], i[2], i[3], k[2], k[3], stride[0], stride[1],
                    pad[0], pad[1], dil[0], dil[1], groups)
          .str());
}

std::string bnShape(ShapeTable &shapes, RankedTensorType in) {
  int64_t plane = in.getRank() == 4 ? in.getDimSize(2) * in.getDimSize(3) : 1;
  return shapes.get(
      "BatchNormShape", "Bn",
      llvm::formatv("{{.channels = {0}, .plane = {1}}", in.getDimSize(1), plane)
          .str());
}

std::string poolShape(ShapeTable &shapes, RankedTensorType in,
                      ArrayRef<int64_t> kernel,
                      std::optional<ArrayRef<int64_t>> strideOpt,
                      ArrayRef<int64_t> pad, bool countIncludePad) {
  ArrayRef<int64_t> stride = strideOpt.value_or(kernel);
  return shapes.get(
      "Pool2DShape", "Pool",
      llvm::formatv("{{.channels = {0}, .in_h = {1}, .in_w = {2}, "
                    ".kernel_h = {3}, .kernel_w = {4}, .stride_h = {5}, "
                    ".stride_w = {6}, .pad_h = {7}, .pad_w = {8}, "
                    ".count_include_pad = {9}}",
                    in.getDimSize(1), in.getDimSize(2), in.getDimSize(3),
                    kernel[0], kernel[1], stride[0], stride[1], pad[0], pad[1],
                    countIncludePad ? "true" : "false")
          .str());
}

std::string linearShape(ShapeTable &shapes, RankedTensorType w) {
  return shapes.get("LinearShape", "Linear",
                    llvm::formatv("{{.in_features = {0}, .out_features = {1}}",
                                  w.getDimSize(1), w.getDimSize(0))
                        .str());
}

/// Emits the body of one function: storage for every value, then one kernel
/// call per op.
class FunctionEmitter {
public:
  FunctionEmitter(const StateLayout &state, ShapeTable &shapes,
                  int64_t maxBatch, std::vector<std::string> &profileNames,
                  bool cuda)
      : profileNames(profileNames), state(state), shapes(shapes),
        maxBatch(maxBatch), cuda(cuda) {}

  /// Emits `func` with the given C++ parameter names for its arguments.
  LogicalResult emit(func::FuncOp func, ArrayRef<std::string> argNames,
                     llvm::raw_ostream &os);
  int64_t workFloats() const { return next; }
  /// Kernel calls emitted (copies of results to the caller excluded).
  int kernelCalls() const { return kernels - 1; }
  /// "rn.conv2d (layer1.0.conv1)" per timed op, in OpTimer index order
  /// (shared by the functions of a model).
  std::vector<std::string> &profileNames;
  /// Channels of the widest fused BN (size of the g_sum/g_sumsq scratch).
  int64_t maxStatChannels = 0;
  /// CUDA: the parameters the one optimizer launch updates, as SgdTensor
  /// initializers {param, momentum, grad, numel} (offsets in S).
  std::vector<std::string> sgdTable;

private:
  std::string &ptr(Value v) { return ptrs[v]; }
  std::string use(Value v) { return ptrs.lookup(v); }
  /// Gives `v` its own workspace buffer.
  std::string allocate(Value v);
  /// Number of elements of an activation or state tensor, as C++.
  std::string count(Value v);
  LogicalResult emitOp(Operation *op, llvm::raw_ostream &os);

  const StateLayout &state;
  ShapeTable &shapes;
  int64_t maxBatch;
  bool cuda; // target cuda: device pointers, one graph per step
  int64_t next = 0;     // workspace floats used so far (or planned)
  bool planned = false; // offsets come from rnc-plan-memory
  int kernels = 0;
  llvm::DenseMap<Value, std::string> ptrs;
};

std::string FunctionEmitter::allocate(Value v) {
  if (planned) {
    auto offsets = v.getDefiningOp()->getAttrOfType<DenseI64ArrayAttr>(
        "rn.offsets");
    int64_t at = offsets ? offsets[cast<OpResult>(v).getResultNumber()] : -1;
    return ptr(v) = llvm::formatv("(W + {0})", at).str();
  }
  RankedTensorType t = tensorType(v);
  int64_t floats = 1;
  if (t.getRank() > 0)
    floats = ShapedType::isDynamic(t.getDimSize(0)) ? maxBatch * perSample(t)
                                                    : t.getNumElements();
  std::string p = llvm::formatv("(W + {0})", next).str();
  next += (floats + kAlignFloats - 1) / kAlignFloats * kAlignFloats;
  return ptr(v) = p;
}

std::string FunctionEmitter::count(Value v) {
  RankedTensorType t = tensorType(v);
  if (t.getRank() > 0 && ShapedType::isDynamic(t.getDimSize(0)))
    return llvm::formatv("long(N) * {0}", perSample(t)).str();
  return std::to_string(t.getNumElements());
}

LogicalResult FunctionEmitter::emit(func::FuncOp func,
                                    ArrayRef<std::string> argNames,
                                    llvm::raw_ostream &os) {
  Block &body = func.getBody().front();
  for (auto [arg, name] : llvm::zip(body.getArguments(), argNames))
    ptr(arg) = name;
  if (auto arena = func->getAttrOfType<IntegerAttr>("rn.arena_floats")) {
    planned = true;
    next = arena.getInt();
  }
  // Parameters live in the state block; a gradient an update consumes is
  // written straight into its "<param>.grad" slot (dialect/Storage.h).
  for (Operation &op : body) {
    if (auto p = dyn_cast<rn::ParamOp>(op))
      ptr(p) = llvm::formatv("(S + {0})", state.lookup(p.getName())->offset);
    for (Value r : op.getResults())
      if (rn::ParamOp p = rn::stateGradientOf(r))
        ptr(r) = llvm::formatv(
            "(S + {0})", state.lookup((p.getName() + ".grad").str())->offset);
  }
  for (Operation &op : body)
    if (failed(emitOp(&op, os)))
      return failure();
  return success();
}

/// "layer1.0.conv1" from a NameLoc, for comments.
std::string nodeName(Location loc) {
  if (auto name = dyn_cast<NameLoc>(loc))
    return name.getName().str();
  return "";
}

LogicalResult FunctionEmitter::emitOp(Operation *op, llvm::raw_ostream &out) {
  if (isa<rn::ParamOp>(op))
    return success();
  std::string node = nodeName(op->getLoc());
  std::string label = op->getName().getStringRef().str() +
                      (node.empty() ? "" : " (" + node + ")");
  out << "  // " << label << "\n";
  // The op's calls, timed as one entry of the profile (RNC_PROFILE=1).
  std::string code;
  llvm::raw_string_ostream os(code);
  int kernelsBefore = kernels;
  auto finish = llvm::make_scope_exit([&] {
    os.flush();
    if (cuda || kernels == kernelsBefore || isa<func::ReturnOp>(op)) {
      out << code;
      return;
    }
    out << "  { OpTimer timer_(" << profileNames.size() + 1 << ");\n"
        << code << "  }\n";
    profileNames.push_back(label);
  });
  for (Value r : op->getResults())
    if (!ptrs.count(r) && !isa<rn::FlattenOp, rn::UnflattenOp>(op))
      allocate(r);

  auto line = [&](const llvm::formatv_object_base &text) {
    os << "  " << text.str() << ";\n";
    ++kernels;
    return success();
  };
  auto optional = [&](Value v) { return v ? use(v) : std::string("nullptr"); };

  return llvm::TypeSwitch<Operation *, LogicalResult>(op)
      .Case([&](rn::Conv2DOp c) {
        std::string s = convShape(shapes, tensorType(c.getInput()),
                                  tensorType(c.getWeight()), c.getStride(),
                                  c.getPadding(), c.getDilation(),
                                  c.getGroups());
        return line(llvm::formatv("conv2d_forward<{0}>({1}, {2}, {3}, {4}, N)",
                                  s, use(c), use(c.getInput()),
                                  use(c.getWeight()), optional(c.getBias())));
      })
      .Case([&](rn::Conv2DGradInputOp c) {
        std::string s = convShape(shapes, tensorType(c.getInputGrad()),
                                  tensorType(c.getWeight()), c.getStride(),
                                  c.getPadding(), c.getDilation(),
                                  c.getGroups());
        return line(llvm::formatv("conv2d_backward_data<{0}>({1}, {2}, {3}, N)",
                                  s, use(c), use(c.getResultGrad()),
                                  use(c.getWeight())));
      })
      .Case([&](rn::Conv2DGradInputFanInOp c) {
        RankedTensorType in = tensorType(c.getInputGrad());
        std::string s = convShape(shapes, in, tensorType(c.getWeight()),
                                  c.getStride(), c.getPadding(),
                                  c.getDilation(), c.getGroups());
        std::string layout = llvm::formatv(
            "{0}, {1}", in.getDimSize(1), in.getDimSize(2) * in.getDimSize(3));
        // Aggregate deduction (C++20) spells the epilogue types.
        std::string epi = llvm::formatv("ResidualAddEpilogue<float>{{{0}, {1}}",
                                        use(c.getAddend()), layout);
        if (Value r = c.getReluResult())
          epi = llvm::formatv("Compose{{{0}, ReluMaskEpilogue<float>{{{1}, "
                              "{2}}}",
                              epi, use(r), layout);
        return line(llvm::formatv(
            "conv2d_backward_data<{0}>({1}, {2}, {3}, N, {4})", s, use(c),
            use(c.getResultGrad()), use(c.getWeight()), epi));
      })
      .Case([&](rn::Conv2DGradInputBnReduceOp c) {
        RankedTensorType in = tensorType(c.getInputGrad());
        std::string s = convShape(shapes, in, tensorType(c.getWeight()),
                                  c.getStride(), c.getPadding(),
                                  c.getDilation(), c.getGroups());
        std::string layout = llvm::formatv(
            "{0}, {1}", in.getDimSize(1), in.getDimSize(2) * in.getDimSize(3));
        // As for rn.conv2d_grad_input_fanin: the add, then the mask.
        std::string epi = "NoEpilogue{}";
        if (Value a = c.getAddend())
          epi = llvm::formatv("ResidualAddEpilogue<float>{{{0}, {1}}", use(a),
                              layout);
        if (Value r = c.getReluResult()) {
          std::string mask = llvm::formatv(
              "ReluMaskEpilogue<float>{{{0}, {1}}", use(r), layout);
          epi = c.getAddend() ? "Compose{" + epi + ", " + mask + "}" : mask;
        }
        return line(llvm::formatv(
            "conv2d_backward_data_bn_sums<{0}>({1}, {2}, {3}, {4}, {5}, {6}, "
            "{7}, N, {8})",
            s, use(c.getInputGrad()), use(c.getGradSum()),
            use(c.getGradDevSum()), use(c.getResultGrad()), use(c.getWeight()),
            use(c.getBnInput()), use(c.getBnMean()), epi));
      })
      .Case([&](rn::Conv2DGradWeightOp c) {
        std::string s = convShape(shapes, tensorType(c.getInput()),
                                  tensorType(c.getWeightGrad()), c.getStride(),
                                  c.getPadding(), c.getDilation(),
                                  c.getGroups());
        return line(
            llvm::formatv("conv2d_backward_weight<{0}>({1}, {2}, {3}, N)", s,
                          use(c), use(c.getResultGrad()), use(c.getInput())));
      })
      .Case([&](rn::BiasGradOp b) {
        RankedTensorType dy = tensorType(b.getResultGrad());
        if (dy.getRank() == 2)
          return line(llvm::formatv(
              "linear_backward_bias<{0}>({1}, {2}, N)",
              shapes.get("LinearShape", "Linear",
                         llvm::formatv("{{.in_features = 1, .out_features = {0}}",
                                       dy.getDimSize(1))
                             .str()),
              use(b), use(b.getResultGrad())));
        std::string s = shapes.get(
            "Conv2DShape", "Conv",
            llvm::formatv("{{.in_channels = {0}, .out_channels = {0}, "
                          ".in_h = {1}, .in_w = {2}}",
                          dy.getDimSize(1), dy.getDimSize(2), dy.getDimSize(3))
                .str());
        return line(llvm::formatv("conv2d_backward_bias<{0}>({1}, {2}, N)", s,
                                  use(b), use(b.getResultGrad())));
      })
      .Case([&](rn::Conv2DBatchNormTrainOp f) {
        RankedTensorType out = tensorType(f.getConvResult());
        int64_t channels = out.getDimSize(1);
        maxStatChannels = std::max(maxStatChannels, channels);
        std::string conv = convShape(shapes, tensorType(f.getInput()),
                                     tensorType(f.getWeight()), f.getStride(),
                                     f.getPadding(), f.getDilation(),
                                     f.getGroups());
        line(llvm::formatv("conv2d_forward_stats<{0}>({1}, g_sum, g_sumsq, "
                           "{2}, {3}, {4}, N)",
                           conv, use(f.getConvResult()), use(f.getInput()),
                           use(f.getWeight()), optional(f.getBias())));
        line(llvm::formatv("batch_norm_stats_from_sums({0}, {1}, "
                           "static_cast<float *>(nullptr), g_sum, g_sumsq, "
                           "{2}, {3} / {2}, {4})",
                           use(f.getMean()), use(f.getInvStd()), channels,
                           count(f.getConvResult()),
                           floatLit(f.getEpsilon().convertToDouble())));
        std::string epi = "NoEpilogue{}";
        int64_t plane = out.getDimSize(2) * out.getDimSize(3);
        if (Value r = f.getResidual())
          epi = llvm::formatv("ResidualAddEpilogue<float>{{{0}, {1}, {2}}",
                              use(r), channels, plane);
        if (f.getRelu())
          epi = f.getResidual()
                    ? "Compose<ResidualAddEpilogue<float>, ReluEpilogue>{" +
                          epi + ", {}}"
                    : std::string("ReluEpilogue{}");
        return line(llvm::formatv(
            "batch_norm_apply<{0}>({1}, {2}, {3}, {4}, {5}, {6}, N, {7})",
            bnShape(shapes, out), use(f.getResult()), use(f.getConvResult()),
            use(f.getMean()), use(f.getInvStd()), use(f.getScale()),
            use(f.getShift()), epi));
      })
      .Case([&](rn::Conv2DBatchNormEvalOp f) {
        RankedTensorType out = tensorType(f.getResult());
        int64_t channels = out.getDimSize(1);
        maxStatChannels = std::max(maxStatChannels, channels);
        line(llvm::formatv(
            "batch_norm_fold_eval(g_sum, g_sumsq, {0}, {1}, {2}, {3}, {4}, "
            "{5}, {6})",
            use(f.getScale()), use(f.getShift()), use(f.getRunningMean()),
            use(f.getRunningVar()),
            f.getBias() ? use(f.getBias())
                        : std::string("static_cast<const float *>(nullptr)"),
            channels, doubleLit(f.getEpsilon().convertToDouble())));
        std::string epi = "ChannelAffineEpilogue<float>{g_sum, g_sumsq}";
        std::string type = "ChannelAffineEpilogue<float>";
        if (Value r = f.getResidual()) {
          epi = llvm::formatv("Compose<{0}, ResidualAddEpilogue<float>>{{{1}, "
                              "{{{2}, {3}, {4}}}",
                              type, epi, use(r), channels,
                              out.getDimSize(2) * out.getDimSize(3));
          type = "Compose<" + type + ", ResidualAddEpilogue<float>>";
        }
        if (f.getRelu())
          epi = "Compose<" + type + ", ReluEpilogue>{" + epi + ", {}}";
        return line(llvm::formatv(
            "conv2d_forward<{0}>({1}, {2}, {3}, nullptr, N, {4})",
            convShape(shapes, tensorType(f.getInput()),
                      tensorType(f.getWeight()), f.getStride(),
                      f.getPadding(), f.getDilation(), f.getGroups()),
            use(f), use(f.getInput()), use(f.getWeight()), epi));
      })
      .Case([&](rn::BatchNormOp b) {
        if (b.getTraining())
          return LogicalResult(
              b.emitOpError("in training mode reached code generation; run "
                            "rnc-build-training-step first"));
        return line(llvm::formatv(
            "batch_norm_forward_eval<{0}>({1}, {2}, {3}, {4}, {5}, {6}, N, "
            "{7})",
            bnShape(shapes, tensorType(b.getInput())), use(b),
            use(b.getInput()), use(b.getScale()), use(b.getShift()),
            use(b.getRunningMean()), use(b.getRunningVar()),
            floatLit(b.getEpsilon().convertToDouble())));
      })
      .Case([&](rn::BatchNormTrainOp b) {
        return line(llvm::formatv(
            "batch_norm_forward_train<{0}>({1}, {2}, {3}, nullptr, nullptr, "
            "{4}, {5}, {6}, N, {7})",
            bnShape(shapes, tensorType(b.getInput())), use(b.getResult()),
            use(b.getMean()), use(b.getInvStd()), use(b.getInput()),
            use(b.getScale()), use(b.getShift()),
            floatLit(b.getEpsilon().convertToDouble())));
      })
      .Case([&](rn::BatchNormRunningUpdateOp b) {
        RankedTensorType in = tensorType(b.getInput());
        return line(llvm::formatv(
            "batch_norm_running_update_from_inv_std({0}, {1}, {2}, {3}, {4}, "
            "{5} / {4}, {6}, {7})",
            use(b.getRunningMean()), use(b.getRunningVar()), use(b.getMean()),
            use(b.getInvStd()), in.getDimSize(1), count(b.getInput()),
            doubleLit(b.getEpsilon().convertToDouble()),
            floatLit(b.getMomentum().convertToDouble())));
      })
      .Case([&](rn::BatchNormGradOp b) {
        return line(llvm::formatv(
            "batch_norm_backward<{0}>({1}, {2}, {3}, {4}, {5}, {6}, {7}, {8}, "
            "N)",
            bnShape(shapes, tensorType(b.getInput())), use(b.getInputGrad()),
            use(b.getScaleGrad()), use(b.getShiftGrad()),
            use(b.getResultGrad()), use(b.getInput()), use(b.getMean()),
            use(b.getInvStd()), use(b.getScale())));
      })
      .Case([&](rn::BatchNormReluGradOp b) {
        return line(llvm::formatv(
            "batch_norm_relu_backward<{0}>({1}, {2}, {3}, {4}, {5}, {6}, {7}, "
            "{8}, {9}, N)",
            bnShape(shapes, tensorType(b.getInput())), use(b.getInputGrad()),
            use(b.getScaleGrad()), use(b.getShiftGrad()),
            use(b.getResultGrad()), use(b.getReluResult()), use(b.getInput()),
            use(b.getMean()), use(b.getInvStd()), use(b.getScale())));
      })
      .Case([&](rn::BatchNormGradFromSumsOp b) {
        return line(llvm::formatv(
            "batch_norm_backward_from_sums<{0}>({1}, {2}, {3}, {4}, {5}, {6}, "
            "{7}, {8}, {9}, {10}, N)",
            bnShape(shapes, tensorType(b.getInput())), use(b.getInputGrad()),
            use(b.getScaleGrad()), use(b.getShiftGrad()),
            use(b.getResultGrad()), use(b.getInput()), use(b.getMean()),
            use(b.getInvStd()), use(b.getScale()), use(b.getGradSum()),
            use(b.getGradDevSum())));
      })
      .Case([&](rn::ReluOp r) {
        return line(llvm::formatv("relu_forward({0}, {1}, {2})", use(r),
                                  use(r.getInput()), count(r)));
      })
      .Case([&](rn::ReluGradOp r) {
        return line(llvm::formatv("relu_backward({0}, {1}, {2}, {3})", use(r),
                                  use(r.getResultGrad()), use(r.getResult()),
                                  count(r)));
      })
      .Case([&](rn::AddOp a) {
        return line(llvm::formatv("add_forward({0}, {1}, {2}, {3})", use(a),
                                  use(a.getLhs()), use(a.getRhs()), count(a)));
      })
      .Case([&](rn::MaxPool2DOp p) {
        return line(llvm::formatv(
            "max_pool2d_forward<{0}>({1}, {2}, N)",
            poolShape(shapes, tensorType(p.getInput()), p.getKernel(),
                      p.getStride(), p.getPadding(), true),
            use(p), use(p.getInput())));
      })
      .Case([&](rn::MaxPool2DGradOp p) {
        return line(llvm::formatv(
            "max_pool2d_backward<{0}>({1}, {2}, {3}, N)",
            poolShape(shapes, tensorType(p.getInput()), p.getKernel(),
                      p.getStride(), p.getPadding(), true),
            use(p), use(p.getResultGrad()), use(p.getInput())));
      })
      .Case([&](rn::AvgPool2DOp p) {
        return line(llvm::formatv(
            "avg_pool2d_forward<{0}>({1}, {2}, N)",
            poolShape(shapes, tensorType(p.getInput()), p.getKernel(),
                      p.getStride(), p.getPadding(), p.getCountIncludePad()),
            use(p), use(p.getInput())));
      })
      .Case([&](rn::AvgPool2DGradOp p) {
        return line(llvm::formatv(
            "avg_pool2d_backward<{0}>({1}, {2}, N)",
            poolShape(shapes, tensorType(p.getInputGrad()), p.getKernel(),
                      p.getStride(), p.getPadding(), p.getCountIncludePad()),
            use(p), use(p.getResultGrad())));
      })
      .Case([&](rn::GlobalAvgPoolOp p) {
        RankedTensorType in = tensorType(p.getInput());
        return line(llvm::formatv(
            "global_avg_pool_forward<{0}, {1}>({2}, {3}, N)", in.getDimSize(1),
            in.getDimSize(2) * in.getDimSize(3), use(p), use(p.getInput())));
      })
      .Case([&](rn::GlobalAvgPoolGradOp p) {
        RankedTensorType in = tensorType(p.getInputGrad());
        return line(llvm::formatv(
            "global_avg_pool_backward<{0}, {1}>({2}, {3}, N)",
            in.getDimSize(1), in.getDimSize(2) * in.getDimSize(3), use(p),
            use(p.getResultGrad())));
      })
      .Case<rn::FlattenOp, rn::UnflattenOp>([&](Operation *view) {
        // NCHW and NHWC agree only where H = W = 1.
        RankedTensorType a = tensorType(view->getOperand(0)),
                         b = tensorType(view->getResult(0));
        RankedTensorType image = a.getRank() == 4 ? a : b;
        if (cuda && image.getRank() == 4 &&
            image.getDimSize(2) * image.getDimSize(3) != 1)
          return LogicalResult(view->emitOpError(
              "cuda codegen: a view between [N, C, H, W] with H*W > 1 and "
              "[N, C*H*W] is not supported (activations are NHWC on the "
              "GPU); pool to 1x1 first"));
        ptr(view->getResult(0)) = use(view->getOperand(0));
        os << "  // (a view of the same buffer)\n";
        return success();
      })
      .Case([&](rn::LinearOp l) {
        return line(llvm::formatv(
            "linear_forward<{0}>({1}, {2}, {3}, {4}, N)",
            linearShape(shapes, tensorType(l.getWeight())), use(l),
            use(l.getInput()), use(l.getWeight()), optional(l.getBias())));
      })
      .Case([&](rn::LinearGradInputOp l) {
        return line(llvm::formatv(
            "linear_backward_data<{0}>({1}, {2}, {3}, N)",
            linearShape(shapes, tensorType(l.getWeight())), use(l),
            use(l.getResultGrad()), use(l.getWeight())));
      })
      .Case([&](rn::LinearGradWeightOp l) {
        return line(llvm::formatv(
            "linear_backward_weight<{0}>({1}, {2}, {3}, N)",
            linearShape(shapes, tensorType(l.getWeightGrad())), use(l),
            use(l.getResultGrad()), use(l.getInput())));
      })
      .Case([&](rn::SoftmaxCrossEntropyOp s) {
        return line(llvm::formatv(
            "softmax_cross_entropy_forward<{0}>({1}, nullptr, {2}, {3}, N)",
            tensorType(s.getLogits()).getDimSize(1), use(s),
            use(s.getLogits()), use(s.getLabels())));
      })
      .Case([&](rn::CountCorrectOp s) {
        return line(llvm::formatv(
            "softmax_cross_entropy_forward<{0}, float>(nullptr, "
            "reinterpret_cast<int *>({1}), {2}, {3}, N)",
            tensorType(s.getLogits()).getDimSize(1), use(s),
            use(s.getLogits()), use(s.getLabels())));
      })
      .Case([&](rn::SoftmaxCrossEntropyGradOp s) {
        return line(llvm::formatv(
            "softmax_cross_entropy_backward<{0}>({1}, {2}, {3}, N)",
            tensorType(s.getLogits()).getDimSize(1), use(s),
            use(s.getLogits()), use(s.getLabels())));
      })
      .Case([&](rn::SgdUpdateOp u) {
        auto name = u.getParam().getDefiningOp<rn::ParamOp>().getName();
        const StateTensor *grad = state.lookup((name + ".grad").str());
        std::string slot = llvm::formatv("(S + {0})", grad->offset).str();
        if (use(u.getGrad()) != slot)
          line(llvm::formatv(cuda ? "copy_floats({0}, {1}, {2})"
                                  : "std::memcpy({0}, {1}, sizeof(float) * {2})",
                             slot, use(u.getGrad()), grad->numel));
        if (cuda) {
          // Every update runs in one launch where the step returns.
          auto buf = u.getMomentumBuffer().getDefiningOp<rn::ParamOp>();
          sgdTable.push_back(llvm::formatv(
              "{{{0}, {1}, {2}, {3}}", state.lookup(name)->offset,
              state.lookup(buf.getName())->offset, grad->offset, grad->numel));
          return success();
        }
        return line(llvm::formatv(
            "sgd_momentum_step({0}, {1}, {2}, {3}, {4}, {5}, {6})",
            use(u.getParam()), use(u.getMomentumBuffer()), slot, grad->numel,
            use(u.getLr()), use(u.getMomentum()), use(u.getWeightDecay())));
      })
      .Case([&](func::ReturnOp r) {
        if (cuda && r.getNumOperands() == 2) {
          if (!sgdTable.empty())
            line(llvm::formatv("sgd_momentum_step_all<{0}>(S, kSgdTable, "
                               "hyper)",
                               sgdTable.size()));
          line(llvm::formatv("copy_floats(loss_out, {0}, 1)",
                             use(r.getOperand(0))));
          return line(llvm::formatv(
              "copy_floats(reinterpret_cast<float *>(correct_out), {0}, 1)",
              use(r.getOperand(1))));
        }
        if (cuda)
          return line(llvm::formatv("copy_floats(logits_out, {0}, {1})",
                                    use(r.getOperand(0)),
                                    count(r.getOperand(0))));
        if (r.getNumOperands() == 2) // train_step: loss, correct
          return line(llvm::formatv(
              "*loss_out = *{0}; *correct_out = *reinterpret_cast<const "
              "int32_t *>({1})",
              use(r.getOperand(0)), use(r.getOperand(1))));
        return line(llvm::formatv("std::memcpy(logits_out, {0}, sizeof(float) "
                                  "* {1})",
                                  use(r.getOperand(0)), count(r.getOperand(0))));
      })
      .Default([&](Operation *other) {
        return LogicalResult(
            other->emitOpError("has no CPU code generation rule"));
      });
}

/// Checks that `func` exists with the argument and result kinds the ABI glue
/// calls it with.
func::FuncOp expectFunction(ModuleOp module, StringRef name,
                            unsigned numArgs, unsigned numResults) {
  auto func = module.lookupSymbol<func::FuncOp>(name);
  if (!func || func.isExternal()) {
    module.emitError() << "cpu codegen: expected a func @" << name
                       << " (run the training pipeline first)";
    return nullptr;
  }
  if (func.getNumArguments() != numArgs || func.getNumResults() != numResults) {
    func.emitError() << "cpu codegen: expected @" << name << " to take "
                     << numArgs << " arguments and return " << numResults
                     << " values, got " << func.getFunctionType();
    return nullptr;
  }
  for (BlockArgument arg : func.getArguments())
    if (auto t = dyn_cast<RankedTensorType>(arg.getType());
        t && t.getRank() > 0 && !ShapedType::isDynamic(t.getDimSize(0))) {
      func.emitError() << "cpu codegen: expected a dynamic batch (the batch "
                          "is a run-time value), got "
                       << t;
      return nullptr;
    }
  return func;
}

const char *kindName(TensorKind k) {
  switch (k) {
  case TensorKind::Param:
    return "RNC_PARAM";
  case TensorKind::Buffer:
    return "RNC_BUFFER";
  case TensorKind::Optimizer:
    return "RNC_OPTIMIZER";
  case TensorKind::Gradient:
    return "RNC_GRADIENT";
  }
  return "RNC_PARAM";
}

/// The init() body: each parameter by its rule, keyed by its table index.
void emitInitBody(const StateLayout &state, llvm::raw_ostream &os) {
  for (auto [i, t] : llvm::enumerate(state.tensors)) {
    std::string p = llvm::formatv("S + {0}, {1}", t.offset, t.numel).str();
    std::string call;
    if (t.init == "kaiming_normal")
      call = llvm::formatv("init_kaiming_normal_fan_out({0}, {1}, seed, {2})",
                           p, t.fanOut, i);
    else if (t.init == "kaiming_uniform" || t.init == "linear_weight")
      call = llvm::formatv("init_kaiming_uniform_default({0}, {1}, seed, {2})",
                           p, t.fanIn, i);
    else if (t.init == "conv_bias" || t.init == "linear_bias")
      call = llvm::formatv("init_bias_uniform({0}, {1}, seed, {2})", p,
                           t.fanIn, i);
    else if (t.init == "ones")
      call = llvm::formatv("init_ones({0})", p);
    else
      continue; // zeros, gradients: the block is zeroed before init()
    os << "  " << call << "; // " << t.name << "\n";
  }
}

/// CPU: the profile tables (RNC_PROFILE=1) and the fused-BN scratch.
void emitCpuTables(llvm::raw_ostream &os,
                   const std::vector<std::string> &profileNames,
                   int64_t statChannels) {
  os << "// Per-op wall time when RNC_PROFILE is set (kernels/cpu/profile.h).\n"
     << "const char *const kOpNames[] = {\n    \"\",\n";
  for (const std::string &name : profileNames)
    os << "    " << quoted(name) << ",\n";
  os << "};\nconstexpr int kNumOps = " << profileNames.size() << ";\n"
     << "double g_op_seconds[kNumOps + 1];\nlong g_op_calls[kNumOps + 1];\n"
     << "using OpTimer = rnc::cpu::OpTimer<g_op_seconds, g_op_calls>;\n\n";
  os << "// Per-channel sums of the fused conv + BN statistics.\n"
     << "float g_sum[" << statChannels << "], g_sumsq[" << statChannels
     << "];\n\n";
}

/// CUDA: the optimizer's table and the fused-BN scratch (device memory the
/// glue allocates in rnc_create).
void emitCudaTail(llvm::raw_ostream &os, const FunctionEmitter &train,
                  int64_t statChannels) {
  os << "// The parameters rnc::cuda::sgd_momentum_step_all updates in one "
        "launch:\n// {param, momentum buffer, gradient, numel}, offsets in "
        "the state block.\n";
  size_t n = std::max<size_t>(1, train.sgdTable.size());
  os << "constexpr SgdTable<" << n << "> kSgdTable = {{\n";
  for (const std::string &row : train.sgdTable)
    os << "    " << row << ",\n";
  os << "}};\n\n";
  os << "// Per-channel sums of the fused conv + BN statistics (device).\n"
     << "constexpr int kStatChannels = " << statChannels << ";\n"
     << "float *g_sum = nullptr, *g_sumsq = nullptr;\n\n";
}

} // namespace

LogicalResult emitModel(ModuleOp module, const ModelMeta &meta,
                        llvm::raw_ostream &os, ModelStats *stats) {
  const bool cuda = meta.target == "cuda";
  if (!cuda && meta.target != "cpu")
    return module.emitError() << "codegen: unknown target '" << meta.target
                              << "' (expected cpu or cuda)";
  func::FuncOp step = expectFunction(module, "train_step", 5, 2);
  func::FuncOp eval = expectFunction(module, "eval", 1, 1);
  if (!step || !eval)
    return failure();
  FailureOr<StateLayout> state = planState(module);
  if (failed(state))
    return failure();

  ShapeTable shapes;
  std::string trainBody, evalBody;
  llvm::raw_string_ostream trainOs(trainBody), evalOs(evalBody);
  std::vector<std::string> profileNames;
  FunctionEmitter trainEmitter(*state, shapes, meta.maxBatch, profileNames,
                               cuda);
  FunctionEmitter evalEmitter(*state, shapes, meta.maxBatch, profileNames,
                              cuda);
  if (failed(trainEmitter.emit(
          step, {"x", "labels", "lr", "momentum", "weight_decay"}, trainOs)) ||
      failed(evalEmitter.emit(eval, {"x"}, evalOs)))
    return failure();
  int64_t workFloats =
      std::max(trainEmitter.workFloats(), evalEmitter.workFloats());

  if (stats) {
    stats->trainKernels = trainEmitter.kernelCalls();
    stats->evalKernels = evalEmitter.kernelCalls();
    stats->workspaceFloats = workFloats;
    stats->stateFloats = state->totalFloats;
  }
  RankedTensorType input = tensorType(eval.getArgument(0));
  RankedTensorType logits = cast<RankedTensorType>(eval.getResultTypes()[0]);
  if (input.getRank() != 4)
    return eval.emitError("cpu codegen: expected an NCHW input, got ") << input;

  os << "// Generated by rnc " << meta.rncVersion << " from model '"
     << meta.name << "' (target " << meta.target
     << (cuda ? ", precision " + meta.precision : std::string())
     << "). Do not edit.\n"
     << "// Spec hash " << meta.specHash << ".\n";
  if (cuda)
    os << "#ifndef RNC_CUDA_PRECISION\n#define RNC_CUDA_PRECISION "
       << cudaPrecisionMacro(meta.precision) << " // " << meta.precision
       << "\n#endif\n"
       << "#include <cstring>\n\n"
       << "#include \"kernels/init.h\"\n"
       << "#include \"kernels/cuda/rnc_cuda.cuh\"\n"
       << "#include \"runtime/rnc_abi.h\"\n\n"
       << "namespace gen {\nusing namespace rnc::cuda;\n\n";
  else
    os << "#include <cstring>\n\n"
       << "#include \"kernels/cpu/profile.h\"\n"
       << "#include \"kernels/init.h\"\n"
       << "#include \"kernels/cpu/rnc_cpu.h\"\n"
       << "#include \"runtime/rnc_abi.h\"\n\n"
       << "namespace gen {\nusing namespace rnc::cpu;\n\n";

  os << "// Kernel calls: " << trainEmitter.kernelCalls()
     << " per training step, " << evalEmitter.kernelCalls()
     << " per eval batch.\n";
  os << "// State block: " << state->tensors.size() << " tensors, "
     << state->totalFloats << " floats. Workspace: " << workFloats
     << " floats for batch " << meta.maxBatch << ".\n";
  os << "constexpr long kStateFloats = " << state->totalFloats << ";\n"
     << "constexpr long kWorkFloats = " << workFloats << ";\n\n";
  os << "const rnc_tensor_info kTensors[] = {\n";
  for (const StateTensor &t : state->tensors) {
    int64_t dims[4] = {0, 0, 0, 0};
    for (auto [i, d] : llvm::enumerate(t.shape))
      dims[i] = d;
    os << llvm::formatv("    {{{0}, {1}, {2}, {{{3}, {4}, {5}, {6}}, {7}},\n",
                        quoted(t.name), kindName(t.kind), t.shape.size(),
                        dims[0], dims[1], dims[2], dims[3], t.numel);
  }
  os << "};\nconst long kOffsets[] = {";
  for (const StateTensor &t : state->tensors)
    os << t.offset << ", ";
  os << "};\n\n";
  os << llvm::formatv(
      "const rnc_model_info kInfo = {{RNC_ABI_VERSION, {0}, {1}, {2}, {3}, "
      "{4}, {5}, {6}, {7}, {8}, {9}};\n\n",
      quoted(meta.rncVersion), quoted(meta.name), quoted(meta.specHash),
      quoted(meta.target), input.getDimSize(1), input.getDimSize(2),
      input.getDimSize(3), logits.getDimSize(1), meta.maxBatch,
      state->tensors.size());

  int64_t statChannels = std::max(
      int64_t(1), std::max(trainEmitter.maxStatChannels,
                           evalEmitter.maxStatChannels));
  if (cuda)
    emitCudaTail(os, trainEmitter, statChannels);
  else
    emitCpuTables(os, profileNames, statChannels);
  os << "// Kernel shapes (compile-time constants).\n";
  for (const std::string &def : shapes.definitions())
    os << def << "\n";
  os << "\n";
  if (cuda) {
    os << "void init(float *S, uint64_t seed) {\n  using namespace rnc::init;"
          " // on the host\n";
    emitInitBody(*state, os);
    os << "}\n\n"
       << "void train_step(float *S, float *W, const float *x, const int32_t "
          "*labels, int N, const float *hyper, float *loss_out, int32_t "
          "*correct_out) {\n"
       << trainBody << "}\n\n"
       << "void eval(float *S, float *W, const float *x, int N, float "
          "*logits_out) {\n"
       << evalBody << "}\n\n"
       << "} // namespace gen\n\n#include \"kernels/cuda/model_abi.cuh\"\n";
    return success();
  }
  os << "void init(float *S, uint64_t seed) {\n  using namespace rnc::init;\n";
  emitInitBody(*state, os);
  os << "}\n\n";
  os << "void train_step(float *S, float *W, const float *x, const int32_t "
        "*labels, int N, float lr, float momentum, float weight_decay, float "
        "*loss_out, int32_t *correct_out) {\n"
     << trainBody << "}\n\n"
     << "void eval(float *S, float *W, const float *x, int N, float "
        "*logits_out) {\n"
     << evalBody << "}\n\n"
     << "} // namespace gen\n\n#include \"kernels/cpu/model_abi.h\"\n";
  return success();
}

} // namespace rnc::codegen
