// Round trip of every rn op and attribute form; custom and generic syntax.
// RUN: rnc-opt %s | rnc-opt | FileCheck %s
// RUN: rnc-opt %s --mlir-print-op-generic | rnc-opt | FileCheck %s
// RUN: rnc-opt %s --mlir-print-op-generic | FileCheck %s --check-prefix=GENERIC

// Operand types spelled at a later use must equal the inferred result types,
// so the custom form below also checks type inference.

// CHECK-LABEL: func.func @params
func.func @params() {
  // CHECK: rn.param "conv1.weight" {init = "kaiming_normal"} : tensor<64x3x7x7xf32>
  %0 = rn.param "conv1.weight" {init = "kaiming_normal"} : tensor<64x3x7x7xf32>
  // CHECK: rn.param "layer1.0.conv1.weight" {init = "kaiming_uniform"} : tensor<64x64x3x3xf32>
  %1 = rn.param "layer1.0.conv1.weight" {init = "kaiming_uniform"} : tensor<64x64x3x3xf32>
  // CHECK: rn.param "conv1.bias" {init = "conv_bias"} : tensor<64xf32>
  %2 = rn.param "conv1.bias" {init = "conv_bias"} : tensor<64xf32>
  // CHECK: rn.param "bn1.weight" {init = "ones"} : tensor<64xf32>
  %3 = rn.param "bn1.weight" {init = "ones"} : tensor<64xf32>
  // CHECK: rn.param "bn1.running_mean" {buffer, init = "zeros"} : tensor<64xf32>
  %4 = rn.param "bn1.running_mean" {buffer, init = "zeros"} : tensor<64xf32>
  // CHECK: rn.param "fc.weight" {init = "linear_weight"} : tensor<10x512xf32>
  %5 = rn.param "fc.weight" {init = "linear_weight"} : tensor<10x512xf32>
  // CHECK: rn.param "fc.bias" {init = "linear_bias"} : tensor<10xf32>
  %6 = rn.param "fc.bias" {init = "linear_bias"} : tensor<10xf32>
  return
}
// GENERIC-LABEL: sym_name = "params"
// GENERIC: "rn.param"() <{init = "kaiming_normal", name = "conv1.weight"}> : () -> tensor<64x3x7x7xf32>
// GENERIC: "rn.param"() <{buffer, init = "zeros", name = "bn1.running_mean"}> : () -> tensor<64xf32>

// CHECK-LABEL: func.func @conv2d
// CHECK-SAME: (%[[X:.*]]: tensor<?x3x224x224xf32>, %[[Y:.*]]: tensor<8x64x56x56xf32>)
func.func @conv2d(%x: tensor<?x3x224x224xf32>, %y: tensor<8x64x56x56xf32>) {
  // CHECK: %[[W:.*]] = rn.param "conv1.weight"
  %w = rn.param "conv1.weight" {init = "kaiming_normal"} : tensor<64x3x7x7xf32>
  // CHECK: %[[B:.*]] = rn.param "conv1.bias"
  %b = rn.param "conv1.bias" {init = "conv_bias"} : tensor<64xf32>
  // CHECK: %[[G:.*]] = rn.param "g.weight"
  %g = rn.param "g.weight" {init = "kaiming_normal"} : tensor<128x32x3x3xf32>
  // CHECK: %[[P:.*]] = rn.param "p.weight"
  %p = rn.param "p.weight" {init = "kaiming_normal"} : tensor<32x64x1x1xf32>

  // Defaults only: no attribute is printed.
  // CHECK: %[[C0:.*]] = rn.conv2d %[[X]], %[[W]] : tensor<?x3x224x224xf32>, tensor<64x3x7x7xf32>
  %c0 = rn.conv2d %x, %w : tensor<?x3x224x224xf32>, tensor<64x3x7x7xf32>
  // CHECK: rn.relu %[[C0]] : tensor<?x64x218x218xf32>
  %r0 = rn.relu %c0 : tensor<?x64x218x218xf32>

  // Attributes equal to their default are elided.
  // CHECK: %[[C1:.*]] = rn.conv2d %[[X]], %[[W]] : tensor<?x3x224x224xf32>, tensor<64x3x7x7xf32>
  %c1 = rn.conv2d %x, %w {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : tensor<?x3x224x224xf32>, tensor<64x3x7x7xf32>

  // The ResNet stem, with a bias.
  // CHECK: %[[C2:.*]] = rn.conv2d %[[X]], %[[W]], %[[B]] {padding = array<i64: 3, 3>, stride = array<i64: 2, 2>} : tensor<?x3x224x224xf32>, tensor<64x3x7x7xf32>, tensor<64xf32>
  %c2 = rn.conv2d %x, %w, %b {stride = array<i64: 2, 2>, padding = array<i64: 3, 3>} : tensor<?x3x224x224xf32>, tensor<64x3x7x7xf32>, tensor<64xf32>
  // CHECK: rn.relu %[[C2]] : tensor<?x64x112x112xf32>
  %r2 = rn.relu %c2 : tensor<?x64x112x112xf32>

  // Grouped (ResNeXt) and dilated, static batch.
  // CHECK: %[[C3:.*]] = rn.conv2d %[[Y]], %[[G]] {dilation = array<i64: 2, 2>, groups = 2 : i64, padding = array<i64: 2, 2>} : tensor<8x64x56x56xf32>, tensor<128x32x3x3xf32>
  %c3 = rn.conv2d %y, %g {groups = 2 : i64, padding = array<i64: 2, 2>, dilation = array<i64: 2, 2>} : tensor<8x64x56x56xf32>, tensor<128x32x3x3xf32>
  // CHECK: rn.relu %[[C3]] : tensor<8x128x56x56xf32>
  %r3 = rn.relu %c3 : tensor<8x128x56x56xf32>

  // Uneven stride and padding, 1x1 kernel (a downsample projection).
  // CHECK: %[[C4:.*]] = rn.conv2d %[[Y]], %[[P]] {padding = array<i64: 0, 1>, stride = array<i64: 2, 3>} : tensor<8x64x56x56xf32>, tensor<32x64x1x1xf32>
  %c4 = rn.conv2d %y, %p {stride = array<i64: 2, 3>, padding = array<i64: 0, 1>} : tensor<8x64x56x56xf32>, tensor<32x64x1x1xf32>
  // CHECK: rn.relu %[[C4]] : tensor<8x32x28x20xf32>
  %r4 = rn.relu %c4 : tensor<8x32x28x20xf32>
  return
}
// GENERIC-LABEL: sym_name = "conv2d"
// GENERIC: "rn.conv2d"(%{{.*}}, %{{.*}}) <{dilation = array<i64: 1, 1>, groups = 1 : i64, padding = array<i64: 0, 0>, stride = array<i64: 1, 1>}> : (tensor<?x3x224x224xf32>, tensor<64x3x7x7xf32>) -> tensor<?x64x218x218xf32>
// GENERIC: "rn.conv2d"(%{{.*}}, %{{.*}}, %{{.*}}) <{{.*}}> : (tensor<?x3x224x224xf32>, tensor<64x3x7x7xf32>, tensor<64xf32>) -> tensor<?x64x112x112xf32>
// GENERIC: "rn.conv2d"(%{{.*}}, %{{.*}}) <{dilation = array<i64: 2, 2>, groups = 2 : i64, padding = array<i64: 2, 2>, stride = array<i64: 1, 1>}> : (tensor<8x64x56x56xf32>, tensor<128x32x3x3xf32>) -> tensor<8x128x56x56xf32>

// CHECK-LABEL: func.func @batch_norm
// CHECK-SAME: (%[[X:.*]]: tensor<?x64x56x56xf32>, %[[V:.*]]: tensor<4x64xf32>, %[[C:.*]]: tensor<64xf32>)
func.func @batch_norm(%x: tensor<?x64x56x56xf32>, %v: tensor<4x64xf32>, %c: tensor<64xf32>) {
  // CHECK: %[[B0:.*]] = rn.batch_norm %[[X]], %[[C]], %[[C]], %[[C]], %[[C]] : tensor<?x64x56x56xf32>, tensor<64xf32>, tensor<64xf32>, tensor<64xf32>, tensor<64xf32>
  %b0 = rn.batch_norm %x, %c, %c, %c, %c : tensor<?x64x56x56xf32>, tensor<64xf32>, tensor<64xf32>, tensor<64xf32>, tensor<64xf32>
  // CHECK: rn.relu %[[B0]] : tensor<?x64x56x56xf32>
  %r0 = rn.relu %b0 : tensor<?x64x56x56xf32>
  // CHECK: rn.batch_norm %[[X]], %[[C]], %[[C]], %[[C]], %[[C]] {training} :
  %b1 = rn.batch_norm %x, %c, %c, %c, %c {training} : tensor<?x64x56x56xf32>, tensor<64xf32>, tensor<64xf32>, tensor<64xf32>, tensor<64xf32>
  // Defaults are elided.
  // CHECK: rn.batch_norm %[[X]], %[[C]], %[[C]], %[[C]], %[[C]] : tensor<?x64x56x56xf32>,
  %b2 = rn.batch_norm %x, %c, %c, %c, %c {epsilon = 1.0e-05 : f64, momentum = 0.1 : f64} : tensor<?x64x56x56xf32>, tensor<64xf32>, tensor<64xf32>, tensor<64xf32>, tensor<64xf32>
  // Rank 2 (BatchNorm1d), every attribute.
  // CHECK: %[[B3:.*]] = rn.batch_norm %[[V]], %[[C]], %[[C]], %[[C]], %[[C]] {epsilon = 1.000000e-03 : f64, momentum = 0.000000e+00 : f64, training} : tensor<4x64xf32>,
  %b3 = rn.batch_norm %v, %c, %c, %c, %c {epsilon = 1.0e-3 : f64, momentum = 0.0 : f64, training} : tensor<4x64xf32>, tensor<64xf32>, tensor<64xf32>, tensor<64xf32>, tensor<64xf32>
  // CHECK: rn.relu %[[B3]] : tensor<4x64xf32>
  %r3 = rn.relu %b3 : tensor<4x64xf32>
  return
}
// GENERIC-LABEL: sym_name = "batch_norm"
// GENERIC: "rn.batch_norm"({{.*}}) <{epsilon = 1.000000e-05 : f64, momentum = 1.000000e-01 : f64}> : ({{.*}}) -> tensor<?x64x56x56xf32>

// CHECK-LABEL: func.func @relu_add
// CHECK-SAME: (%[[A:.*]]: tensor<?x64x56x56xf32>, %[[B:.*]]: tensor<8x64x56x56xf32>, %[[S:.*]]: tensor<f32>)
func.func @relu_add(%a: tensor<?x64x56x56xf32>, %b: tensor<8x64x56x56xf32>, %s: tensor<f32>) -> tensor<?x64x56x56xf32> {
  // CHECK: rn.relu %[[S]] : tensor<f32>
  %r = rn.relu %s : tensor<f32>
  // CHECK: %[[AA:.*]] = rn.add %[[A]], %[[A]] : tensor<?x64x56x56xf32>, tensor<?x64x56x56xf32>
  %aa = rn.add %a, %a : tensor<?x64x56x56xf32>, tensor<?x64x56x56xf32>
  // A dynamic batch matches any batch; the result has the lhs type.
  // CHECK: %[[AB:.*]] = rn.add %[[A]], %[[B]] : tensor<?x64x56x56xf32>, tensor<8x64x56x56xf32>
  %ab = rn.add %a, %b : tensor<?x64x56x56xf32>, tensor<8x64x56x56xf32>
  // CHECK: %[[BA:.*]] = rn.add %[[B]], %[[A]] : tensor<8x64x56x56xf32>, tensor<?x64x56x56xf32>
  %ba = rn.add %b, %a : tensor<8x64x56x56xf32>, tensor<?x64x56x56xf32>
  // CHECK: rn.relu %[[BA]] : tensor<8x64x56x56xf32>
  %r2 = rn.relu %ba : tensor<8x64x56x56xf32>
  // CHECK: return %[[AB]] : tensor<?x64x56x56xf32>
  return %ab : tensor<?x64x56x56xf32>
}
// GENERIC-LABEL: sym_name = "relu_add"
// GENERIC: "rn.relu"(%{{.*}}) : (tensor<f32>) -> tensor<f32>
// GENERIC: "rn.add"(%{{.*}}, %{{.*}}) : (tensor<?x64x56x56xf32>, tensor<8x64x56x56xf32>) -> tensor<?x64x56x56xf32>

// CHECK-LABEL: func.func @pools
// CHECK-SAME: (%[[X:.*]]: tensor<?x64x112x112xf32>, %[[Y:.*]]: tensor<2x16x7x9xf32>)
func.func @pools(%x: tensor<?x64x112x112xf32>, %y: tensor<2x16x7x9xf32>) {
  // The ResNet stem pool.
  // CHECK: %[[M0:.*]] = rn.max_pool2d %[[X]] {kernel = array<i64: 3, 3>, padding = array<i64: 1, 1>, stride = array<i64: 2, 2>} : tensor<?x64x112x112xf32>
  %m0 = rn.max_pool2d %x {kernel = array<i64: 3, 3>, stride = array<i64: 2, 2>, padding = array<i64: 1, 1>} : tensor<?x64x112x112xf32>
  // CHECK: rn.relu %[[M0]] : tensor<?x64x56x56xf32>
  %r0 = rn.relu %m0 : tensor<?x64x56x56xf32>
  // No stride: it defaults to the kernel; the size is rounded down.
  // CHECK: %[[M1:.*]] = rn.max_pool2d %[[Y]] {kernel = array<i64: 2, 3>} : tensor<2x16x7x9xf32>
  %m1 = rn.max_pool2d %y {kernel = array<i64: 2, 3>} : tensor<2x16x7x9xf32>
  // CHECK: rn.relu %[[M1]] : tensor<2x16x3x3xf32>
  %r1 = rn.relu %m1 : tensor<2x16x3x3xf32>
  // A default padding is elided.
  // CHECK: rn.max_pool2d %[[Y]] {kernel = array<i64: 3, 3>, stride = array<i64: 1, 1>} : tensor<2x16x7x9xf32>
  %m2 = rn.max_pool2d %y {kernel = array<i64: 3, 3>, stride = array<i64: 1, 1>, padding = array<i64: 0, 0>} : tensor<2x16x7x9xf32>

  // CHECK: %[[A0:.*]] = rn.avg_pool2d %[[X]] {kernel = array<i64: 2, 2>} : tensor<?x64x112x112xf32>
  %a0 = rn.avg_pool2d %x {kernel = array<i64: 2, 2>, count_include_pad = true} : tensor<?x64x112x112xf32>
  // CHECK: rn.relu %[[A0]] : tensor<?x64x56x56xf32>
  %ra0 = rn.relu %a0 : tensor<?x64x56x56xf32>
  // CHECK: %[[A1:.*]] = rn.avg_pool2d %[[Y]] {count_include_pad = false, kernel = array<i64: 3, 3>, padding = array<i64: 1, 1>, stride = array<i64: 2, 2>} : tensor<2x16x7x9xf32>
  %a1 = rn.avg_pool2d %y {kernel = array<i64: 3, 3>, stride = array<i64: 2, 2>, padding = array<i64: 1, 1>, count_include_pad = false} : tensor<2x16x7x9xf32>
  // CHECK: rn.relu %[[A1]] : tensor<2x16x4x5xf32>
  %ra1 = rn.relu %a1 : tensor<2x16x4x5xf32>

  // CHECK: %[[G:.*]] = rn.global_avg_pool %[[X]] : tensor<?x64x112x112xf32>
  %g = rn.global_avg_pool %x : tensor<?x64x112x112xf32>
  // CHECK: rn.relu %[[G]] : tensor<?x64x1x1xf32>
  %rg = rn.relu %g : tensor<?x64x1x1xf32>
  return
}
// GENERIC-LABEL: sym_name = "pools"
// GENERIC: "rn.max_pool2d"(%{{.*}}) <{kernel = array<i64: 3, 3>, padding = array<i64: 1, 1>, stride = array<i64: 2, 2>}> : (tensor<?x64x112x112xf32>) -> tensor<?x64x56x56xf32>
// GENERIC: "rn.max_pool2d"(%{{.*}}) <{kernel = array<i64: 2, 3>, padding = array<i64: 0, 0>}> : (tensor<2x16x7x9xf32>) -> tensor<2x16x3x3xf32>
// GENERIC: "rn.avg_pool2d"(%{{.*}}) <{count_include_pad = true, kernel = array<i64: 2, 2>, padding = array<i64: 0, 0>}> : (tensor<?x64x112x112xf32>) -> tensor<?x64x56x56xf32>
// GENERIC: "rn.global_avg_pool"(%{{.*}}) : (tensor<?x64x112x112xf32>) -> tensor<?x64x1x1xf32>

// CHECK-LABEL: func.func @head
// CHECK-SAME: (%[[X:.*]]: tensor<?x512x1x1xf32>, %[[L:.*]]: tensor<?xi32>, %[[Z:.*]]: tensor<8x6x2xf32>)
func.func @head(%x: tensor<?x512x1x1xf32>, %labels: tensor<?xi32>, %z: tensor<8x6x2xf32>) -> tensor<f32> {
  // CHECK: %[[F:.*]] = rn.flatten %[[X]] : tensor<?x512x1x1xf32>
  %f = rn.flatten %x : tensor<?x512x1x1xf32>
  // CHECK: %[[F2:.*]] = rn.flatten %[[Z]] : tensor<8x6x2xf32>
  %f2 = rn.flatten %z : tensor<8x6x2xf32>
  // CHECK: rn.flatten %[[F2]] : tensor<8x12xf32>
  %f3 = rn.flatten %f2 : tensor<8x12xf32>
  // CHECK: %[[W:.*]] = rn.param "fc.weight"
  %w = rn.param "fc.weight" {init = "linear_weight"} : tensor<10x512xf32>
  // CHECK: %[[B:.*]] = rn.param "fc.bias"
  %b = rn.param "fc.bias" {init = "linear_bias"} : tensor<10xf32>
  // CHECK: %[[Y:.*]] = rn.linear %[[F]], %[[W]], %[[B]] : tensor<?x512xf32>, tensor<10x512xf32>, tensor<10xf32>
  %y = rn.linear %f, %w, %b : tensor<?x512xf32>, tensor<10x512xf32>, tensor<10xf32>
  // CHECK: %[[Y2:.*]] = rn.linear %[[F]], %[[W]] : tensor<?x512xf32>, tensor<10x512xf32>
  %y2 = rn.linear %f, %w : tensor<?x512xf32>, tensor<10x512xf32>
  // CHECK: %[[LOSS:.*]] = rn.softmax_cross_entropy %[[Y]], %[[L]] : tensor<?x10xf32>, tensor<?xi32>
  %loss = rn.softmax_cross_entropy %y, %labels : tensor<?x10xf32>, tensor<?xi32>
  // CHECK: return %[[LOSS]] : tensor<f32>
  return %loss : tensor<f32>
}
// GENERIC-LABEL: sym_name = "head"
// GENERIC: "rn.flatten"(%{{.*}}) : (tensor<?x512x1x1xf32>) -> tensor<?x512xf32>
// GENERIC: "rn.flatten"(%{{.*}}) : (tensor<8x6x2xf32>) -> tensor<8x12xf32>
// GENERIC: "rn.flatten"(%{{.*}}) : (tensor<8x12xf32>) -> tensor<8x12xf32>
// GENERIC: "rn.linear"(%{{.*}}, %{{.*}}, %{{.*}}) : (tensor<?x512xf32>, tensor<10x512xf32>, tensor<10xf32>) -> tensor<?x10xf32>
// GENERIC: "rn.linear"(%{{.*}}, %{{.*}}) : (tensor<?x512xf32>, tensor<10x512xf32>) -> tensor<?x10xf32>
// GENERIC: "rn.softmax_cross_entropy"(%{{.*}}, %{{.*}}) : (tensor<?x10xf32>, tensor<?xi32>) -> tensor<f32>
