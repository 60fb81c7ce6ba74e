// RUN: rnc-opt %s -split-input-file -rnc-build-training-step -verify-diagnostics | FileCheck %s

// @forward is cloned into @train_step: labels argument, BN on batch
// statistics plus the running update, loss and accuracy. @forward stays.
// CHECK-LABEL: func.func @forward
// CHECK: rn.batch_norm %
// CHECK-LABEL: func.func @train_step
// CHECK-SAME: (%[[X:.*]]: tensor<?x2x4x4xf32>, %[[L:.*]]: tensor<?xi32>) -> (tensor<f32>, tensor<i32>)
// CHECK: %[[S:.*]] = rn.param "bn.weight"
// CHECK: %[[T:.*]] = rn.param "bn.bias"
// CHECK: %[[RM:.*]] = rn.param "bn.running_mean"
// CHECK: %[[RV:.*]] = rn.param "bn.running_var"
// CHECK-NOT: rn.batch_norm %
// CHECK: %[[Y:.*]], %[[MEAN:.*]], %[[ISTD:.*]] = rn.batch_norm_train %[[X]], %[[S]], %[[T]] {epsilon = 1.000000e-03 : f64}
// CHECK: rn.batch_norm_running_update %[[RM]], %[[RV]], %[[MEAN]], %[[ISTD]], %[[X]] {epsilon = 1.000000e-03 : f64, momentum = 2.000000e-01 : f64}
// CHECK: %[[F:.*]] = rn.flatten %[[Y]]
// CHECK: %[[LOSS:.*]] = rn.softmax_cross_entropy %[[F]], %[[L]] : tensor<?x32xf32>, tensor<?xi32>
// CHECK: %[[C:.*]] = rn.count_correct %[[F]], %[[L]]
// CHECK: return %[[LOSS]], %[[C]] : tensor<f32>, tensor<i32>
func.func @forward(%x: tensor<?x2x4x4xf32>) -> tensor<?x32xf32> attributes {rn.role = "forward"} {
  %s = rn.param "bn.weight" {init = "ones"} : tensor<2xf32>
  %t = rn.param "bn.bias" {init = "zeros"} : tensor<2xf32>
  %m = rn.param "bn.running_mean" {buffer, init = "zeros"} : tensor<2xf32>
  %v = rn.param "bn.running_var" {buffer, init = "ones"} : tensor<2xf32>
  %0 = rn.batch_norm %x, %s, %t, %m, %v {epsilon = 1.0e-3 : f64, momentum = 0.2 : f64} : tensor<?x2x4x4xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>
  %1 = rn.flatten %0 : tensor<?x2x4x4xf32>
  return %1 : tensor<?x32xf32>
}

// -----

// Must not transform twice: a training step already exists (found by its
// role, whatever its name).
module {
  func.func @forward(%x: tensor<?x4xf32>) -> tensor<?x4xf32> attributes {rn.role = "forward"} {
    return %x : tensor<?x4xf32>
  }
  // expected-error@+1 {{rnc-build-training-step: a training step already exists}}
  func.func @step(%x: tensor<?x4xf32>) -> tensor<?x4xf32> attributes {rn.role = "train_step"} {
    return %x : tensor<?x4xf32>
  }
}

// -----

// A function named @forward without the role is not the model.
// expected-error@+1 {{rnc-build-training-step: expected a func with rn.role = "forward" and a body}}
module {
  func.func @forward(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
    return %x : tensor<?x4xf32>
  }
}

// -----

module {
  // expected-error@+1 {{rnc-build-training-step: expected @forward to take one tensor and return one [N, K] tensor, got '(tensor<?x4x2x2xf32>) -> tensor<?x4x2x2xf32>'}}
  func.func @forward(%x: tensor<?x4x2x2xf32>) -> tensor<?x4x2x2xf32> attributes {rn.role = "forward"} {
    return %x : tensor<?x4x2x2xf32>
  }
}
