// RUN: rnc-opt %s -split-input-file -rnc-specialize-batch=batch=8 -verify-diagnostics | FileCheck %s
// RUN: not rnc-opt %s -split-input-file -rnc-specialize-batch=batch=0 2>&1 | FileCheck %s --check-prefix=ZERO

// ZERO: error: rnc-specialize-batch: expected batch > 0, got 0

// A whole network: every result type follows the new batch, and so does the
// function type.
// CHECK-LABEL: func.func @network
// CHECK-SAME: (%[[X:.*]]: tensor<8x3x32x32xf32>, %[[L:.*]]: tensor<8xi32>) -> (tensor<f32>, tensor<8x10xf32>)
func.func @network(%x: tensor<?x3x32x32xf32>, %labels: tensor<?xi32>) -> (tensor<f32>, tensor<?x10xf32>) {
  %w = rn.param "conv1.weight" {init = "kaiming_normal"} : tensor<16x3x3x3xf32>
  %c = rn.param "bn1.weight" {init = "ones"} : tensor<16xf32>
  %fw = rn.param "fc.weight" {init = "linear_weight"} : tensor<10x16xf32>
  // CHECK: %[[C:.*]] = rn.conv2d %[[X]], %{{.*}} {padding = array<i64: 1, 1>} : tensor<8x3x32x32xf32>, tensor<16x3x3x3xf32>
  %0 = rn.conv2d %x, %w {padding = array<i64: 1, 1>} : tensor<?x3x32x32xf32>, tensor<16x3x3x3xf32>
  // CHECK: %[[B:.*]] = rn.batch_norm %[[C]], {{.*}} {training} : tensor<8x16x32x32xf32>,
  %1 = rn.batch_norm %0, %c, %c, %c, %c {training} : tensor<?x16x32x32xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16xf32>
  // CHECK: %[[R:.*]] = rn.relu %[[B]] : tensor<8x16x32x32xf32>
  %2 = rn.relu %1 : tensor<?x16x32x32xf32>
  // CHECK: %[[A:.*]] = rn.add %[[R]], %[[C]] : tensor<8x16x32x32xf32>, tensor<8x16x32x32xf32>
  %3 = rn.add %2, %0 : tensor<?x16x32x32xf32>, tensor<?x16x32x32xf32>
  // CHECK: %[[P:.*]] = rn.max_pool2d %[[A]] {kernel = array<i64: 2, 2>} : tensor<8x16x32x32xf32>
  %4 = rn.max_pool2d %3 {kernel = array<i64: 2, 2>} : tensor<?x16x32x32xf32>
  // CHECK: %[[G:.*]] = rn.global_avg_pool %[[P]] : tensor<8x16x16x16xf32>
  %5 = rn.global_avg_pool %4 : tensor<?x16x16x16xf32>
  // CHECK: %[[F:.*]] = rn.flatten %[[G]] : tensor<8x16x1x1xf32>
  %6 = rn.flatten %5 : tensor<?x16x1x1xf32>
  // CHECK: %[[Y:.*]] = rn.linear %[[F]], %{{.*}} : tensor<8x16xf32>, tensor<10x16xf32>
  %7 = rn.linear %6, %fw : tensor<?x16xf32>, tensor<10x16xf32>
  // CHECK: %[[LOSS:.*]] = rn.softmax_cross_entropy %[[Y]], %[[L]] : tensor<8x10xf32>, tensor<8xi32>
  %8 = rn.softmax_cross_entropy %7, %labels : tensor<?x10xf32>, tensor<?xi32>
  // CHECK: return %[[LOSS]], %[[Y]] : tensor<f32>, tensor<8x10xf32>
  return %8, %7 : tensor<f32>, tensor<?x10xf32>
}

// -----

// Already static with the requested batch: nothing changes.
// CHECK-LABEL: func.func @already_static
// CHECK-SAME: (%[[X:.*]]: tensor<8x4xf32>) -> tensor<8x4xf32>
func.func @already_static(%x: tensor<8x4xf32>) -> tensor<8x4xf32> {
  // CHECK: rn.relu %[[X]] : tensor<8x4xf32>
  %0 = rn.relu %x : tensor<8x4xf32>
  return %0 : tensor<8x4xf32>
}

// -----

// Only rank >= 1 f32 and i32 tensors have a batch; other arguments keep
// their types.
// CHECK-LABEL: func.func @other_arguments
// CHECK-SAME: (%{{.*}}: tensor<f32>, %{{.*}}: tensor<?x4xi64>, %{{.*}}: tensor<?x4xf16>, %{{.*}}: i32, %{{.*}}: tensor<8x4xf32>) -> tensor<8x4xf32>
func.func @other_arguments(%s: tensor<f32>, %i: tensor<?x4xi64>, %h: tensor<?x4xf16>, %n: i32, %x: tensor<?x4xf32>) -> tensor<?x4xf32> {
  %0 = rn.relu %x : tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}

// -----

// Each function of the module is specialized; one without results too.
// CHECK-LABEL: func.func @first
// CHECK-SAME: (%{{.*}}: tensor<8x2xf32>)
// CHECK-NOT: ->
func.func @first(%x: tensor<?x2xf32>) {
  // CHECK: rn.relu %{{.*}} : tensor<8x2xf32>
  %0 = rn.relu %x : tensor<?x2xf32>
  return
}
// CHECK-LABEL: func.func @second
// CHECK-SAME: (%{{.*}}: tensor<8x3xf32>) -> tensor<8x3xf32>
func.func @second(%x: tensor<?x3xf32>) -> tensor<?x3xf32> {
  return %x : tensor<?x3xf32>
}

// -----

// expected-error@+1 {{argument #1 of @conflicting_batch ('tensor<4x10xf32>') has the static batch 4, expected 8 or a dynamic batch}}
func.func @conflicting_batch(%x: tensor<?x10xf32>, %y: tensor<4x10xf32>) -> tensor<?x10xf32> {
  %0 = rn.add %x, %y : tensor<?x10xf32>, tensor<4x10xf32>
  return %0 : tensor<?x10xf32>
}

// -----

// The new batch contradicts a static shape inside the function: the op
// that rejects it reports the error.
func.func @rejected_by_op(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
  %p = rn.param "table" {init = "zeros"} : tensor<2x4xf32>
  // expected-error@+1 {{'rn.add' op expected operands of the same shape, got 'tensor<8x4xf32>' and 'tensor<2x4xf32>'}}
  %0 = rn.add %x, %p : tensor<?x4xf32>, tensor<2x4xf32>
  return %0 : tensor<?x4xf32>
}
