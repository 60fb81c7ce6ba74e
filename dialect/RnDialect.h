// Declares the `rn` dialect class (mlir::rn::RnDialect); ops are in RnOps.h.
#ifndef RNC_DIALECT_RNDIALECT_H
#define RNC_DIALECT_RNDIALECT_H

#include "mlir/IR/Dialect.h"

#include "dialect/RnDialect.h.inc"

#endif // RNC_DIALECT_RNDIALECT_H
