// RUN: rnc-opt %s -split-input-file -verify-diagnostics

// The `rn.role` attribute (dialect/FunctionRoles.h): a known role, on a
// func.func, at most one function per role in a module.

// expected-error@+1 {{'rn.role' must be "forward", "train_step" or "eval", got "training"}}
func.func @f(%x: tensor<?x4xf32>) -> tensor<?x4xf32> attributes {rn.role = "training"} {
  return %x : tensor<?x4xf32>
}

// -----

// expected-error@+1 {{'rn.role' must be "forward", "train_step" or "eval", got 3 : i64}}
func.func @f(%x: tensor<?x4xf32>) -> tensor<?x4xf32> attributes {rn.role = 3} {
  return %x : tensor<?x4xf32>
}

// -----

// expected-error@+1 {{'rn.role' is only valid on a func.func}}
module attributes {rn.role = "forward"} {
}

// -----

module {
  func.func @a(%x: tensor<?x4xf32>) -> tensor<?x4xf32> attributes {rn.role = "eval"} {
    return %x : tensor<?x4xf32>
  }
  // expected-error@+1 {{a second function with rn.role = "eval" (the first is @a)}}
  func.func @b(%x: tensor<?x4xf32>) -> tensor<?x4xf32> attributes {rn.role = "eval"} {
    return %x : tensor<?x4xf32>
  }
}
