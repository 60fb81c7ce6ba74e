// Checks shared by the verifiers and type inference of the `rn` ops
// (RnOps.cpp, RnTrainOps.cpp). Internal to the dialect library.
#ifndef RNC_DIALECT_RNOPCHECKS_H
#define RNC_DIALECT_RNOPCHECKS_H

#include "dialect/RnOps.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/CheckedArithmetic.h"
#include "llvm/Support/raw_ostream.h"

namespace mlir::rn::checks {

/// Reports the errors of one op through an optional location, worded like
/// Operation::emitOpError: "'rn.conv2d' op expected ...".
class OpErrors {
public:
  OpErrors(std::optional<Location> loc, StringRef opName)
      : loc(loc), opName(opName) {}

  template <typename... Args> LogicalResult operator()(Args &&...args) const {
    return emitOptionalError(loc, "'", opName, "' op ",
                             std::forward<Args>(args)...);
  }

  /// A diagnostic to stream into; inactive (drops everything) without a
  /// location.
  InFlightDiagnostic diag() const {
    if (!loc)
      return InFlightDiagnostic();
    return mlir::emitError(*loc) << "'" << opName << "' op ";
  }

private:
  std::optional<Location> loc;
  StringRef opName;
};

/// Formats the values of an array attribute as "[1, 2]".
inline std::string fmt(ArrayRef<int64_t> values) {
  std::string text;
  llvm::raw_string_ostream os(text);
  os << '[';
  llvm::interleaveComma(values, os, [&](int64_t v) {
    if (ShapedType::isDynamic(v))
      os << '?';
    else
      os << v;
  });
  os << ']';
  return text;
}

/// Returns `adaptor` with every inherent attribute in its properties and the
/// ODS defaults filled in. Inference sees ops under construction: the parser
/// hands attributes over in the dictionary, and MLIR fills in defaults only
/// when it creates the op, so the generated getters could see null attributes.
template <typename OpT>
FailureOr<typename OpT::Adaptor>
completeAdaptor(MLIRContext *ctx, const OpErrors &err,
                typename OpT::Adaptor adaptor) {
  typename OpT::Properties props = adaptor.getProperties();
  if (DictionaryAttr attrs = adaptor.getAttributes())
    if (failed(OpT::setPropertiesFromAttr(props, attrs,
                                          [&] { return err.diag(); })))
      return failure();
  OpT::populateDefaultProperties(OperationName(OpT::getOperationName(), ctx),
                                 props);
  return typename OpT::Adaptor(adaptor.getOperands(), adaptor.getAttributes(),
                               props);
}

/// Checks an activation: a ranked tensor whose rank is one of `ranks` (any
/// rank if empty), described by `layout`, with static dims after the batch.
inline FailureOr<RankedTensorType> checkActivation(const OpErrors &err, StringRef what,
                                            Type type, ArrayRef<int64_t> ranks,
                                            StringRef layout) {
  auto ranked = dyn_cast<RankedTensorType>(type);
  if (!ranked)
    return err("expected ", what, " to be a ranked tensor, got ", type);
  if (!ranks.empty() && !llvm::is_contained(ranks, ranked.getRank()))
    return err("expected ", what, " of rank ", layout, ", got ", type);
  if (ranked.getRank() > 1 &&
      llvm::any_of(ranked.getShape().drop_front(), ShapedType::isDynamic))
    return err("expected ", what,
               " to have static dims after the batch dim (only the batch "
               "may be dynamic), got ",
               type);
  return ranked;
}

/// Checks a parameter operand (a weight): a ranked tensor of rank `rank`,
/// described by `layout`, with a static shape and no zero-size dim.
inline FailureOr<RankedTensorType> checkParam(const OpErrors &err, StringRef what,
                                       Type type, int64_t rank,
                                       StringRef layout) {
  auto ranked = dyn_cast<RankedTensorType>(type);
  if (!ranked)
    return err("expected ", what, " to be a ranked tensor, got ", type);
  if (ranked.getRank() != rank)
    return err("expected ", what, " of rank ", layout, ", got ", type);
  if (!ranked.hasStaticShape() || llvm::is_contained(ranked.getShape(), 0))
    return err("expected ", what,
               " to have a static shape with no zero-size dim, got ", type);
  return ranked;
}

/// Type inference of an op whose result has the type of one activation
/// operand (`what`, checked as by checkActivation).
inline LogicalResult inferSameAsActivation(const OpErrors &err, StringRef what,
                                           Type type, ArrayRef<int64_t> ranks,
                                           StringRef layout,
                                           SmallVectorImpl<Type> &types) {
  FailureOr<RankedTensorType> t = checkActivation(err, what, type, ranks, layout);
  if (failed(t))
    return failure();
  types.push_back(*t);
  return success();
}

/// Checks an [h, w] attribute named `name`: two values (described by
/// `layout`), each at least `min`.
inline LogicalResult checkPair(const OpErrors &err, StringRef name,
                        ArrayRef<int64_t> values, int64_t min,
                        StringRef layout) {
  if (values.size() != 2)
    return err("expected ", name, " to have 2 values ", layout, ", got ",
               fmt(values));
  if (values[0] < min || values[1] < min)
    return err("expected ", name, " values to be >= ", min, ", got ",
               fmt(values));
  return success();
}

/// Output size along one dim of a `kernel` with `dilation` sliding with
/// `stride` over `size` padded by `pad` on both sides, rounded down as in
/// PyTorch (ceil_mode False). Fails if the output would be empty or the
/// arithmetic overflows.
inline FailureOr<int64_t> slidingOutputSize(const OpErrors &err, StringRef dim,
                                     int64_t size, int64_t pad, int64_t kernel,
                                     int64_t dilation, int64_t stride,
                                     StringRef windowName) {
  std::optional<int64_t> window =
      llvm::checkedMulAdd<int64_t>(dilation, kernel - 1, 1);
  std::optional<int64_t> padded = llvm::checkedMulAdd<int64_t>(2, pad, size);
  if (!window || !padded)
    return err("expected the ", dim, " window arithmetic to fit in 64 bits ",
               "(size ", size, ", padding ", pad, ", kernel ", kernel,
               ", dilation ", dilation, ")");
  if (*padded < *window)
    return err("expected the padded input ", dim, " (", size, " + 2 * ", pad,
               " = ", *padded, ") to be at least the ", windowName, " ",
               *window, " (the output would be empty)");
  return (*padded - *window) / stride + 1;
}

/// Checks that a per-channel operand `what` has the shape [size].
inline LogicalResult verifyVector(Operation *op, StringRef what, Value value,
                           int64_t size, StringRef meaning) {
  auto type = cast<RankedTensorType>(value.getType());
  if (type.getRank() != 1 || type.getDimSize(0) != size)
    return op->emitOpError() << "expected " << what << " of shape [" << size
                             << "] (" << meaning << "), got " << type;
  return success();
}

} // namespace mlir::rn::checks

#endif // RNC_DIALECT_RNOPCHECKS_H
