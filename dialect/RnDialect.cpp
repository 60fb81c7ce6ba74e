// Registers the ops of the `rn` dialect.
#include "dialect/RnDialect.h"

#include "dialect/FunctionRoles.h"
#include "dialect/RnOps.h"

using namespace mlir;
using namespace mlir::rn;

#include "dialect/RnDialect.cpp.inc"

void RnDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "dialect/RnOps.cpp.inc"
      >();
}

LogicalResult RnDialect::verifyOperationAttribute(Operation *op,
                                                  NamedAttribute attr) {
  if (attr.getName() == kRoleAttrName)
    return verifyRoleAttribute(op, attr.getValue());
  return success();
}
