// RUN: rnc-opt %s | rnc-opt | FileCheck %s
// RUN: rnc-opt %s -mlir-print-op-generic | rnc-opt | FileCheck %s

// Every training op (RnTrainOps.td) parses, verifies and prints back.
// CHECK-LABEL: func.func @training_ops
func.func @training_ops(%x: tensor<?x4x8x8xf32>, %dy: tensor<?x4x8x8xf32>,
                        %labels: tensor<?xi32>, %lr: f32, %mom: f32, %wd: f32) {
  %g = rn.param "bn.weight" {init = "ones"} : tensor<4xf32>
  %b = rn.param "bn.bias" {init = "zeros"} : tensor<4xf32>
  %rm = rn.param "bn.running_mean" {buffer, init = "zeros"} : tensor<4xf32>
  %rv = rn.param "bn.running_var" {buffer, init = "ones"} : tensor<4xf32>
  %w = rn.param "c.weight" {init = "kaiming_normal"} : tensor<4x2x3x3xf32>
  %buf = rn.param "c.weight.momentum_buffer" {init = "zeros", optimizer} : tensor<4x2x3x3xf32>
  %fw = rn.param "fc.weight" {init = "linear_weight"} : tensor<10x4xf32>
  // CHECK: rn.batch_norm_train %{{.*}}, %{{.*}}, %{{.*}} : tensor<?x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>
  %y, %mean, %istd = rn.batch_norm_train %x, %g, %b : tensor<?x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>
  // CHECK: rn.batch_norm_running_update {{.*}} {momentum = 2.000000e-01 : f64}
  rn.batch_norm_running_update %rm, %rv, %mean, %istd, %x {momentum = 0.2 : f64} : tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<?x4x8x8xf32>
  // CHECK: rn.batch_norm_grad {{.*}} : tensor<?x4x8x8xf32>, tensor<?x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
  %dx, %dg, %db = rn.batch_norm_grad %dy, %x, %mean, %istd, %g : tensor<?x4x8x8xf32>, tensor<?x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
  // CHECK: rn.max_pool2d_bn_relu_grad {{.*}} {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>} : tensor<?x4x4x4xf32>, tensor<?x4x8x8xf32>, tensor<?x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
  %pg = rn.max_pool2d %x {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>} : tensor<?x4x8x8xf32>
  %dxp, %dgp, %dbp = rn.max_pool2d_bn_relu_grad %pg, %x, %x, %mean, %istd, %g {kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>} : tensor<?x4x4x4xf32>, tensor<?x4x8x8xf32>, tensor<?x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
  // CHECK: rn.conv2d_grad_input {{.*}} {groups = 2 : i64, padding = array<i64: 1, 1>} : tensor<?x4x8x8xf32>, tensor<4x2x3x3xf32> -> tensor<?x4x8x8xf32>
  %di = rn.conv2d_grad_input %dy, %w {groups = 2 : i64, padding = array<i64: 1, 1>} : tensor<?x4x8x8xf32>, tensor<4x2x3x3xf32> -> tensor<?x4x8x8xf32>
  // CHECK: rn.conv2d_grad_input_fanin {{.*}} {groups = 2 : i64, padding = array<i64: 1, 1>} : (tensor<?x4x8x8xf32>, tensor<4x2x3x3xf32>, tensor<?x4x8x8xf32>, tensor<?x4x8x8xf32>) -> tensor<?x4x8x8xf32>
  %df = rn.conv2d_grad_input_fanin %dy, %w addend %x relu_result %x {groups = 2 : i64, padding = array<i64: 1, 1>} : (tensor<?x4x8x8xf32>, tensor<4x2x3x3xf32>, tensor<?x4x8x8xf32>, tensor<?x4x8x8xf32>) -> tensor<?x4x8x8xf32>
  // CHECK: rn.conv2d_grad_input_bn_reduce %{{.*}}, %{{.*}} addend %{{.*}} relu_result %{{.*}} bn_input %{{.*}} bn_mean %{{.*}} {groups = 2 : i64, padding = array<i64: 1, 1>} : (tensor<?x4x8x8xf32>, tensor<4x2x3x3xf32>, tensor<?x4x8x8xf32>, tensor<?x4x8x8xf32>, tensor<?x4x8x8xf32>, tensor<4xf32>) -> (tensor<?x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>)
  %dr1, %s1, %sd1 = rn.conv2d_grad_input_bn_reduce %dy, %w addend %x relu_result %x bn_input %x bn_mean %mean {groups = 2 : i64, padding = array<i64: 1, 1>} : (tensor<?x4x8x8xf32>, tensor<4x2x3x3xf32>, tensor<?x4x8x8xf32>, tensor<?x4x8x8xf32>, tensor<?x4x8x8xf32>, tensor<4xf32>) -> (tensor<?x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>)
  // CHECK: rn.conv2d_grad_input_bn_reduce %{{.*}}, %{{.*}} bn_input %{{.*}} bn_mean %{{.*}} {groups = 2 : i64, padding = array<i64: 1, 1>} : (tensor<?x4x8x8xf32>, tensor<4x2x3x3xf32>, tensor<?x4x8x8xf32>, tensor<4xf32>) -> (tensor<?x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>)
  %dr2, %s2, %sd2 = rn.conv2d_grad_input_bn_reduce %dy, %w bn_input %x bn_mean %mean {groups = 2 : i64, padding = array<i64: 1, 1>} : (tensor<?x4x8x8xf32>, tensor<4x2x3x3xf32>, tensor<?x4x8x8xf32>, tensor<4xf32>) -> (tensor<?x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>)
  // CHECK: rn.batch_norm_grad_from_sums {{.*}} : tensor<?x4x8x8xf32>, tensor<?x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
  %dx3, %dg3, %db3 = rn.batch_norm_grad_from_sums %dr1, %x, %mean, %istd, %g, %s1, %sd1 : tensor<?x4x8x8xf32>, tensor<?x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
  // CHECK: rn.conv2d_grad_weight {{.*}} -> tensor<4x2x3x3xf32>
  %dw = rn.conv2d_grad_weight %dy, %x {groups = 2 : i64, padding = array<i64: 1, 1>} : tensor<?x4x8x8xf32>, tensor<?x4x8x8xf32> -> tensor<4x2x3x3xf32>
  // CHECK: rn.bias_grad %{{.*}} : tensor<?x4x8x8xf32>
  %dbias = rn.bias_grad %dy : tensor<?x4x8x8xf32>
  // CHECK: rn.relu_grad
  %dr = rn.relu_grad %dy, %x : tensor<?x4x8x8xf32>, tensor<?x4x8x8xf32>
  %pooled = rn.max_pool2d %x {kernel = array<i64: 2, 2>} : tensor<?x4x8x8xf32>
  // CHECK: rn.max_pool2d_grad {{.*}} {kernel = array<i64: 2, 2>} : tensor<?x4x4x4xf32>, tensor<?x4x8x8xf32>
  %dm = rn.max_pool2d_grad %pooled, %x {kernel = array<i64: 2, 2>} : tensor<?x4x4x4xf32>, tensor<?x4x8x8xf32>
  // CHECK: rn.avg_pool2d_grad {{.*}} -> tensor<?x4x8x8xf32>
  %da = rn.avg_pool2d_grad %pooled {kernel = array<i64: 2, 2>, count_include_pad = false} : tensor<?x4x4x4xf32> -> tensor<?x4x8x8xf32>
  %gap = rn.global_avg_pool %x : tensor<?x4x8x8xf32>
  // CHECK: rn.global_avg_pool_grad {{.*}} : tensor<?x4x1x1xf32> -> tensor<?x4x8x8xf32>
  %dgap = rn.global_avg_pool_grad %gap : tensor<?x4x1x1xf32> -> tensor<?x4x8x8xf32>
  %flat = rn.flatten %gap : tensor<?x4x1x1xf32>
  // CHECK: rn.unflatten {{.*}} : tensor<?x4xf32> -> tensor<?x4x1x1xf32>
  %unflat = rn.unflatten %flat : tensor<?x4xf32> -> tensor<?x4x1x1xf32>
  %logits = rn.linear %flat, %fw : tensor<?x4xf32>, tensor<10x4xf32>
  // CHECK: rn.count_correct
  %c = rn.count_correct %logits, %labels : tensor<?x10xf32>, tensor<?xi32>
  // CHECK: rn.softmax_cross_entropy_grad
  %dl = rn.softmax_cross_entropy_grad %logits, %labels : tensor<?x10xf32>, tensor<?xi32>
  // CHECK: rn.linear_grad_input {{.*}} : tensor<?x10xf32>, tensor<10x4xf32>
  %dfx = rn.linear_grad_input %dl, %fw : tensor<?x10xf32>, tensor<10x4xf32>
  // CHECK: rn.linear_grad_weight {{.*}} : tensor<?x10xf32>, tensor<?x4xf32>
  %dfw = rn.linear_grad_weight %dl, %flat : tensor<?x10xf32>, tensor<?x4xf32>
  // CHECK: rn.sgd_update {{.*}} : tensor<4x2x3x3xf32>, tensor<4x2x3x3xf32>, tensor<4x2x3x3xf32>
  rn.sgd_update %w, %buf, %dw, %lr, %mom, %wd : tensor<4x2x3x3xf32>, tensor<4x2x3x3xf32>, tensor<4x2x3x3xf32>
  return
}
