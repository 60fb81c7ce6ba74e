// RUN: not rnc-translate --rn-to-cuda --split-input-file %s 2>&1 | FileCheck %s --check-prefixes=CHECK,CUDA
// RUN: not rnc-translate --rn-to-cpu --split-input-file %s 2>&1 | FileCheck %s --check-prefixes=CHECK,CPU

// IR that code generation must refuse, with a diagnostic on the op.

// A view between [N, C, H, W] with H*W > 1 and [N, C*H*W]: the identity in
// NCHW (cpu) but not in NHWC (cuda).
// CUDA: error: 'rn.flatten' op cuda codegen: a view between [N, C, H, W] with H*W > 1 and [N, C*H*W] is not supported (activations are NHWC on this target); pool to 1x1 first
// CPU-NOT: rn.flatten' op
module {
  func.func @train_step(%x: tensor<?x2x2x2xf32>, %labels: tensor<?xi32>, %lr: f32, %mom: f32, %wd: f32) -> (tensor<f32>, tensor<i32>) attributes {rn.role = "train_step"} {
    %f = rn.flatten %x : tensor<?x2x2x2xf32>
    %loss = rn.softmax_cross_entropy %f, %labels : tensor<?x8xf32>, tensor<?xi32>
    %ok = rn.count_correct %f, %labels : tensor<?x8xf32>, tensor<?xi32>
    return %loss, %ok : tensor<f32>, tensor<i32>
  }
  func.func @eval(%x: tensor<?x2x2x2xf32>) -> tensor<?x8xf32> attributes {rn.role = "eval"} {
    %f = rn.flatten %x : tensor<?x2x2x2xf32>
    return %f : tensor<?x8xf32>
  }
}

// -----

// No @eval: the ABI glue calls both functions.
// CHECK: error: codegen: expected a func with rn.role = "eval" (run the training pipeline first)
module {
  func.func @train_step(%x: tensor<?x2x1x1xf32>, %labels: tensor<?xi32>, %lr: f32, %mom: f32, %wd: f32) -> (tensor<f32>, tensor<i32>) attributes {rn.role = "train_step"} {
    %f = rn.flatten %x : tensor<?x2x1x1xf32>
    %loss = rn.softmax_cross_entropy %f, %labels : tensor<?x2xf32>, tensor<?xi32>
    %ok = rn.count_correct %f, %labels : tensor<?x2xf32>, tensor<?xi32>
    return %loss, %ok : tensor<f32>, tensor<i32>
  }
}

// -----

// A batch norm still in training mode: rnc-build-training-step makes it
// rn.batch_norm_train, with statistics the gradient can read.
// CHECK: error: 'rn.batch_norm' op in training mode reached code generation; run rnc-build-training-step first
module {
  func.func @train_step(%x: tensor<?x2x1x1xf32>, %labels: tensor<?xi32>, %lr: f32, %mom: f32, %wd: f32) -> (tensor<f32>, tensor<i32>) attributes {rn.role = "train_step"} {
    %c = rn.param "bn.weight" {init = "ones"} : tensor<2xf32>
    %y = rn.batch_norm %x, %c, %c, %c, %c {training} : tensor<?x2x1x1xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>
    %f = rn.flatten %y : tensor<?x2x1x1xf32>
    %loss = rn.softmax_cross_entropy %f, %labels : tensor<?x2xf32>, tensor<?xi32>
    %ok = rn.count_correct %f, %labels : tensor<?x2xf32>, tensor<?xi32>
    return %loss, %ok : tensor<f32>, tensor<i32>
  }
  func.func @eval(%x: tensor<?x2x1x1xf32>) -> tensor<?x2xf32> attributes {rn.role = "eval"} {
    %f = rn.flatten %x : tensor<?x2x1x1xf32>
    return %f : tensor<?x2xf32>
  }
}

// -----

// A static batch: the batch is a run-time value of the ABI.
// CHECK: error: codegen: expected a dynamic batch (the batch is a run-time value), got 'tensor<8x2x1x1xf32>'
module {
  func.func @train_step(%x: tensor<8x2x1x1xf32>, %labels: tensor<8xi32>, %lr: f32, %mom: f32, %wd: f32) -> (tensor<f32>, tensor<i32>) attributes {rn.role = "train_step"} {
    %f = rn.flatten %x : tensor<8x2x1x1xf32>
    %loss = rn.softmax_cross_entropy %f, %labels : tensor<8x2xf32>, tensor<8xi32>
    %ok = rn.count_correct %f, %labels : tensor<8x2xf32>, tensor<8xi32>
    return %loss, %ok : tensor<f32>, tensor<i32>
  }
  func.func @eval(%x: tensor<?x2x1x1xf32>) -> tensor<?x2xf32> attributes {rn.role = "eval"} {
    %f = rn.flatten %x : tensor<?x2x1x1xf32>
    return %f : tensor<?x2xf32>
  }
}
