// RUN: rnc-opt %s -split-input-file -rnc-attach-optimizer -verify-diagnostics | FileCheck %s

// Each gradient result becomes an sgd_update of its parameter with a new
// zero momentum buffer; the hyperparameters become f32 arguments.
// CHECK-LABEL: func.func @train_step
// CHECK-SAME: (%{{.*}}: tensor<?x3xf32>, %{{.*}}: tensor<?xi32>, %[[LR:.*]]: f32 {rn.hyper = "lr"}, %[[MOM:.*]]: f32 {rn.hyper = "momentum"}, %[[WD:.*]]: f32 {rn.hyper = "weight_decay"}) -> tensor<f32>
// CHECK: %[[W:.*]] = rn.param "fc.weight" {init = "linear_weight"}
// CHECK: %[[BUF:.*]] = rn.param "fc.weight.momentum_buffer" {init = "zeros", optimizer} : tensor<10x3xf32>
// CHECK: %[[LOSS:.*]] = rn.softmax_cross_entropy
// CHECK: %[[DW:.*]] = rn.linear_grad_weight
// CHECK: rn.sgd_update %[[W]], %[[BUF]], %[[DW]], %[[LR]], %[[MOM]], %[[WD]] : tensor<10x3xf32>, tensor<10x3xf32>, tensor<10x3xf32>
// CHECK: return %[[LOSS]] : tensor<f32>
func.func @train_step(%x: tensor<?x3xf32>, %l: tensor<?xi32>) -> (tensor<f32>, tensor<10x3xf32> {rn.grad_of = "fc.weight"}) attributes {rn.role = "train_step"} {
  %w = rn.param "fc.weight" {init = "linear_weight"} : tensor<10x3xf32>
  %o = rn.linear %x, %w : tensor<?x3xf32>, tensor<10x3xf32>
  %loss = rn.softmax_cross_entropy %o, %l : tensor<?x10xf32>, tensor<?xi32>
  %d = rn.softmax_cross_entropy_grad %o, %l : tensor<?x10xf32>, tensor<?xi32>
  %dw = rn.linear_grad_weight %d, %x : tensor<?x10xf32>, tensor<?x3xf32>
  return %loss, %dw : tensor<f32>, tensor<10x3xf32>
}

// -----

// Must not transform: no gradient results, so no arguments or updates.
// CHECK-LABEL: func.func @train_step
// CHECK-SAME: (%{{.*}}: tensor<?x3xf32>) -> tensor<?x3xf32>
// CHECK-NOT: rn.sgd_update
func.func @train_step(%x: tensor<?x3xf32>) -> tensor<?x3xf32> attributes {rn.role = "train_step"} {
  return %x : tensor<?x3xf32>
}

// -----

// expected-error@+1 {{rnc-attach-optimizer: gradient result 1 names no rn.param "missing"}}
func.func @train_step(%x: tensor<?x3xf32>) -> (tensor<?x3xf32>, tensor<?x3xf32> {rn.grad_of = "missing"}) attributes {rn.role = "train_step"} {
  return %x, %x : tensor<?x3xf32>, tensor<?x3xf32>
}
