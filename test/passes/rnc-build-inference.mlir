// RUN: rnc-opt %s -split-input-file -rnc-build-inference -verify-diagnostics | FileCheck %s

// @eval is @forward with every batch_norm reading the running statistics.
// CHECK-LABEL: func.func @forward
// CHECK: rn.batch_norm {{.*}} {training}
// CHECK-LABEL: func.func @eval
// CHECK-SAME: (%[[X:.*]]: tensor<?x4xf32>) -> tensor<?x4xf32>
// CHECK-NOT: training
// CHECK: %[[Y:.*]] = rn.batch_norm %[[X]], {{.*}} : tensor<?x4xf32>
// CHECK: return %[[Y]]
func.func @forward(%x: tensor<?x4xf32>) -> tensor<?x4xf32> attributes {rn.role = "forward"} {
  %s = rn.param "bn.weight" {init = "ones"} : tensor<4xf32>
  %m = rn.param "bn.running_mean" {buffer, init = "zeros"} : tensor<4xf32>
  %0 = rn.batch_norm %x, %s, %s, %m, %m {training} : tensor<?x4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
  return %0 : tensor<?x4xf32>
}

// -----

// Must not transform: an eval function exists already.
module {
  func.func @forward(%x: tensor<?x4xf32>) -> tensor<?x4xf32> attributes {rn.role = "forward"} {
    return %x : tensor<?x4xf32>
  }
  // expected-error@+1 {{rnc-build-inference: an eval function already exists}}
  func.func @eval(%x: tensor<?x4xf32>) -> tensor<?x4xf32> attributes {rn.role = "eval"} {
    return %x : tensor<?x4xf32>
  }
}

// -----

// expected-error@+1 {{rnc-build-inference: expected a func with rn.role = "forward" and a body}}
module {
}
