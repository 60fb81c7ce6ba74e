// Graph form -> `rn` IR (see EmitMLIR.h).
#include "frontend/EmitMLIR.h"

#include "dialect/FunctionRoles.h"
#include "dialect/RnOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"

#include <map>

namespace rnc {

using namespace mlir;
using spec::Graph;
using spec::Node;
using spec::OpKind;

namespace {

class Emitter {
public:
  Emitter(MLIRContext &ctx, const EmitOptions &opts)
      : ctx_(ctx), b_(&ctx), opts_(opts), f32_(b_.getF32Type()) {}

  OwningOpRef<ModuleOp> run(const Graph &g) {
    Location fileLoc = FileLineColLoc::get(&ctx_, opts_.file, 0, 0);
    OwningOpRef<ModuleOp> module = ModuleOp::create(fileLoc);
    (*module)->setAttr("rn.model", b_.getStringAttr(g.name));
    b_.setInsertionPointToEnd(module->getBody());

    int64_t batch = opts_.batch > 0 ? opts_.batch : ShapedType::kDynamic;
    auto inputType = RankedTensorType::get(
        {batch, g.input[0], g.input[1], g.input[2]}, f32_);
    auto func = b_.create<func::FuncOp>(
        fileLoc, rn::roleName(rn::FunctionRole::Forward),
        b_.getFunctionType({inputType}, {}));
    rn::setRole(func, rn::FunctionRole::Forward);
    Block *entry = func.addEntryBlock();
    b_.setInsertionPointToStart(entry);
    values_[spec::kInputName] = entry->getArgument(0);

    for (const Node &n : g.nodes)
      values_[n.name] = emitNode(n);

    Value out = values_.at(g.output);
    b_.create<func::ReturnOp>(fileLoc, out);
    func.setFunctionType(b_.getFunctionType({inputType}, {out.getType()}));
    return module;
  }

private:
  Location loc(const Node &n) {
    return NameLoc::get(b_.getStringAttr(n.name),
                        FileLineColLoc::get(&ctx_, opts_.file, 0, 0));
  }

  Value param(const Node &n, const std::string &suffix,
              ArrayRef<int64_t> shape, const char *init, bool buffer = false) {
    auto type = RankedTensorType::get(shape, f32_);
    return b_.create<rn::ParamOp>(loc(n), type,
                                  b_.getStringAttr(n.name + "." + suffix),
                                  b_.getStringAttr(init),
                                  buffer ? b_.getUnitAttr() : UnitAttr());
  }

  DenseI64ArrayAttr pair(const spec::Pair &p) {
    return b_.getDenseI64ArrayAttr({p[0], p[1]});
  }

  static int64_t channels(Value v) {
    return cast<RankedTensorType>(v.getType()).getDimSize(1);
  }

  Value emitNode(const Node &n) {
    Value x = values_.at(n.inputs[0]);
    Location l = loc(n);
    switch (n.op) {
    case OpKind::Conv: {
      int64_t cin = channels(x);
      Value w = param(n, "weight",
                      {n.outChannels, cin / n.groups, n.kernel[0], n.kernel[1]},
                      "kaiming_normal");
      Value bias = n.bias ? param(n, "bias", {n.outChannels}, "conv_bias")
                          : Value();
      return b_.create<rn::Conv2DOp>(l, x, w, bias, pair(n.stride),
                                     pair(n.padding), pair(n.dilation),
                                     b_.getI64IntegerAttr(n.groups));
    }
    case OpKind::BatchNorm: {
      int64_t c = channels(x);
      Value scale = param(n, "weight", {c}, "ones");
      Value shift = param(n, "bias", {c}, "zeros");
      Value mean = param(n, "running_mean", {c}, "zeros", /*buffer=*/true);
      Value var = param(n, "running_var", {c}, "ones", /*buffer=*/true);
      return b_.create<rn::BatchNormOp>(
          l, x, scale, shift, mean, var, b_.getF64FloatAttr(n.epsilon),
          b_.getF64FloatAttr(n.momentum),
          opts_.bnTraining ? b_.getUnitAttr() : UnitAttr());
    }
    case OpKind::Relu:
      return b_.create<rn::ReluOp>(l, x);
    case OpKind::Add:
      return b_.create<rn::AddOp>(l, x, values_.at(n.inputs[1]));
    case OpKind::MaxPool:
      return b_.create<rn::MaxPool2DOp>(l, x, pair(n.kernel), pair(n.stride),
                                        pair(n.padding));
    case OpKind::AvgPool:
      return b_.create<rn::AvgPool2DOp>(l, x, pair(n.kernel), pair(n.stride),
                                        pair(n.padding),
                                        b_.getBoolAttr(n.countIncludePad));
    case OpKind::GlobalAvgPool:
      return b_.create<rn::GlobalAvgPoolOp>(l, x);
    case OpKind::Flatten:
      return b_.create<rn::FlattenOp>(l, x);
    case OpKind::Linear: {
      int64_t k = cast<RankedTensorType>(x.getType()).getDimSize(1);
      Value w = param(n, "weight", {n.outChannels, k}, "linear_weight");
      Value bias =
          n.bias ? param(n, "bias", {n.outChannels}, "linear_bias") : Value();
      return b_.create<rn::LinearOp>(l, x, w, bias);
    }
    }
    llvm_unreachable("unknown op kind");
  }

  MLIRContext &ctx_;
  OpBuilder b_;
  const EmitOptions &opts_;
  Type f32_;
  std::map<std::string, Value> values_;
};

} // namespace

OwningOpRef<ModuleOp> emitModule(MLIRContext &ctx, const Graph &graph,
                                 const EmitOptions &options) {
  return Emitter(ctx, options).run(graph);
}

} // namespace rnc
