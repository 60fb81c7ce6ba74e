// Per-layer parameters, output shapes and MACs from `rn` IR (see Summary.h).
#include "frontend/Summary.h"

#include "dialect/FunctionRoles.h"
#include "dialect/RnOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/Support/MathExtras.h"

#include <fmt/format.h>

#include <initializer_list>

namespace rnc {

using namespace mlir;

namespace {

std::string opName(Operation *op) {
  llvm::StringRef name = op->getName().getStringRef();
  name.consume_front("rn.");
  return name.str();
}

std::string locName(Location loc) {
  if (auto named = dyn_cast<NameLoc>(loc))
    return named.getName().str();
  return "<unnamed>";
}

int64_t numElements(Type type) {
  return cast<RankedTensorType>(type).getNumElements();
}

// Checked arithmetic: a count that does not fit 64 bits sets `overflow`
// (the summary then fails instead of printing a wrapped, negative number).
struct Counter {
  bool overflow = false;
  int64_t mul(std::initializer_list<int64_t> factors) {
    int64_t n = 1;
    for (int64_t f : factors)
      overflow |= llvm::MulOverflow(n, f, n);
    return n;
  }
  void add(int64_t &sum, int64_t v) { overflow |= llvm::AddOverflow(sum, v, sum); }
};

// Multiply-accumulates of one sample, as torchvision counts them: conv and
// linear layers only.
int64_t macsPerSample(Operation *op, Counter &c) {
  if (auto conv = dyn_cast<rn::Conv2DOp>(op)) {
    auto w = cast<RankedTensorType>(conv.getWeight().getType()).getShape();
    auto out = cast<RankedTensorType>(conv.getType()).getShape();
    return c.mul({out[1], out[2], out[3], w[1], w[2], w[3]});
  }
  if (auto linear = dyn_cast<rn::LinearOp>(op)) {
    auto w = cast<RankedTensorType>(linear.getWeight().getType()).getShape();
    return c.mul({w[0], w[1]});
  }
  return 0;
}

std::string groupName(const std::string &name, int depth) {
  if (depth <= 0)
    return name;
  size_t pos = 0;
  for (int i = 0; i < depth; ++i) {
    pos = name.find('.', pos);
    if (pos == std::string::npos)
      return name;
    if (i + 1 < depth)
      ++pos;
  }
  return name.substr(0, pos);
}

std::string thousands(int64_t v) {
  std::string s = std::to_string(v < 0 ? -v : v);
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3)
    s.insert(static_cast<size_t>(i), ",");
  return v < 0 ? "-" + s : s;
}

std::string shapeList(const std::vector<int64_t> &shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

} // namespace

bool summarize(ModuleOp module, int64_t batch, int depth, Summary &out) {
  auto func = mlir::rn::lookupFunction(module, mlir::rn::FunctionRole::Forward);
  if (!func) {
    module.emitError("no func.func with rn.role = \"forward\" to summarize");
    return false;
  }
  if (auto model = module->getAttrOfType<StringAttr>("rn.model"))
    out.model = model.str();
  auto inType = cast<RankedTensorType>(func.getArgument(0).getType());
  out.inputShape = {batch};
  for (int64_t d : inType.getShape().drop_front())
    out.inputShape.push_back(d);

  for (Operation &op : func.getBody().front()) {
    if (isa<rn::ParamOp, func::ReturnOp>(op))
      continue;
    SummaryRow row;
    row.name = groupName(locName(op.getLoc()), depth);
    row.op = opName(&op);
    auto type = cast<RankedTensorType>(op.getResult(0).getType());
    row.shape = {batch};
    for (int64_t d : type.getShape().drop_front())
      row.shape.push_back(d);
    Counter c;
    int64_t perSample = 1;
    for (int64_t d : type.getShape().drop_front())
      perSample = c.mul({perSample, d});
    row.activationElems = c.mul({batch, perSample});
    for (Value operand : op.getOperands()) {
      auto param = operand.getDefiningOp<rn::ParamOp>();
      if (!param)
        continue;
      c.add(param.getBuffer() ? row.buffers : row.params,
            numElements(param.getType()));
    }
    row.macs = c.mul({batch, macsPerSample(&op, c)});

    c.add(out.totalParams, row.params);
    c.add(out.totalBuffers, row.buffers);
    c.add(out.totalMacs, row.macs);
    c.add(out.totalActivationElems, row.activationElems);
    if (c.overflow) {
      op.emitError() << "summary: the counts of this layer at batch " << batch
                     << " do not fit 64 bits; lower --batch";
      return false;
    }
    if (depth > 0 && !out.rows.empty() && out.rows.back().name == row.name) {
      SummaryRow &last = out.rows.back();
      last.op = last.op == row.op ? last.op : "";
      last.shape = row.shape;
      c.add(last.params, row.params);
      c.add(last.buffers, row.buffers);
      c.add(last.macs, row.macs);
      c.add(last.activationElems, row.activationElems);
      continue; // these stay below the totals, which did not overflow
    }
    out.rows.push_back(std::move(row));
  }
  return true;
}

std::string formatSummary(const Summary &s) {
  std::string text;
  size_t nameWidth = 24;
  for (const SummaryRow &r : s.rows)
    nameWidth = std::max(nameWidth, r.name.size() + 2);
  const std::string rule(nameWidth + 18 + 22 + 14 + 18, '=');
  const std::string thin(rule.size(), '-');
  text += fmt::format("Model: {}    input: {}\n", s.model, shapeList(s.inputShape));
  text += rule + "\n";
  text += fmt::format("{:<{}}{:<18}{:<22}{:>14}{:>18}\n", "Layer", nameWidth,
                      "Op", "Output shape", "Params", "MACs");
  text += thin + "\n";
  for (const SummaryRow &r : s.rows)
    text += fmt::format("{:<{}}{:<18}{:<22}{:>14}{:>18}\n", r.name, nameWidth,
                        r.op.empty() ? "(block)" : r.op, shapeList(r.shape),
                        r.params ? thousands(r.params) : "--",
                        r.macs ? thousands(r.macs) : "--");
  text += rule + "\n";
  text += fmt::format("Total params: {}\n", thousands(s.totalParams));
  text += fmt::format("Trainable params: {}\n", thousands(s.totalParams));
  text += fmt::format("Non-trainable buffers (BN running statistics): {}\n",
                      thousands(s.totalBuffers));
  text += fmt::format("Total MACs: {:.2f} G ({})\n", s.totalMacs / 1e9,
                      thousands(s.totalMacs));
  text += thin + "\n";
  int64_t inElems = 1;
  for (int64_t d : s.inputShape)
    inElems *= d;
  text += fmt::format("Input size (MB): {:.2f}\n", inElems * 4 / 1e6);
  text += fmt::format("Forward pass activations (MB): {:.2f}\n",
                      s.totalActivationElems * 4 / 1e6);
  text += fmt::format("Params size (MB): {:.2f}\n",
                      (s.totalParams + s.totalBuffers) * 4 / 1e6);
  text += rule + "\n";
  return text;
}

} // namespace rnc
