// RUN: rnc-opt %s -split-input-file -rnc-plan-memory=max-batch=2 -verify-diagnostics | FileCheck %s
// RUN: not rnc-opt %s -split-input-file -rnc-plan-memory=max-batch=0 2>&1 | FileCheck %s --check-prefix=ZERO

// ZERO: error: rnc-plan-memory: expected max-batch > 0, got 0

// Each [2, 8] value takes 16 floats. %a dies at the op defining %b, so %c
// reuses %a's buffer; the ReLU writes in place over %c (its last use). The
// peak is two buffers; one buffer per tensor would take four.
// CHECK-LABEL: func.func @chain
// CHECK-SAME: attributes {rn.arena_floats = 32 : i64, rn.unplanned_floats = 64 : i64}
func.func @chain(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  // CHECK: rn.param "w" {init = "zeros"} :
  %w = rn.param "w" {init = "zeros"} : tensor<8x8xf32>
  // CHECK: rn.linear %arg0, %{{.*}} {rn.offsets = array<i64: 0>}
  %a = rn.linear %x, %w : tensor<?x8xf32>, tensor<8x8xf32>
  // CHECK: rn.linear %{{.*}}, %{{.*}} {rn.offsets = array<i64: 16>}
  %b = rn.linear %a, %w : tensor<?x8xf32>, tensor<8x8xf32>
  // CHECK: rn.linear %{{.*}}, %{{.*}} {rn.offsets = array<i64: 0>}
  %c = rn.linear %b, %w : tensor<?x8xf32>, tensor<8x8xf32>
  // CHECK: rn.relu %{{.*}} {rn.offsets = array<i64: 0>}
  %d = rn.relu %c : tensor<?x8xf32>
  return %d : tensor<?x8xf32>
}

// -----

// Uses through a view keep the source alive: %g is read (through %f) by the
// last op, so the second ReLU must not write in place over it. Views get no
// offset. The add is the last use of both operands and writes over %g.
// CHECK-LABEL: func.func @view_keeps_alive
// CHECK-SAME: attributes {rn.arena_floats = 32 : i64, rn.unplanned_floats = 48 : i64}
func.func @view_keeps_alive(%x: tensor<?x2x2x2xf32>) -> tensor<?x8xf32> {
  // CHECK: rn.relu %arg0 {rn.offsets = array<i64: 0>}
  %g = rn.relu %x : tensor<?x2x2x2xf32>
  // CHECK: rn.flatten %{{.*}} : tensor<?x2x2x2xf32>
  %f = rn.flatten %g : tensor<?x2x2x2xf32>
  // CHECK: rn.relu %{{.*}} {rn.offsets = array<i64: 16>}
  %h = rn.relu %g : tensor<?x2x2x2xf32>
  %hf = rn.flatten %h : tensor<?x2x2x2xf32>
  // CHECK: rn.add %{{.*}}, %{{.*}} {rn.offsets = array<i64: 0>}
  %s = rn.add %f, %hf : tensor<?x8xf32>, tensor<?x8xf32>
  return %s : tensor<?x8xf32>
}

// -----

// A gradient an sgd_update consumes lives in the state block: no offset.
// Multi-result ops get one entry per result.
// CHECK-LABEL: func.func @state_gradient
func.func @state_gradient(%x: tensor<?x4xf32>, %lr: f32) {
  %s = rn.param "bn.weight" {init = "ones"} : tensor<4xf32>
  %m = rn.param "bn.weight.momentum_buffer" {init = "zeros", optimizer} : tensor<4xf32>
  // CHECK: rn.batch_norm_train {{.*}} {rn.offsets = array<i64: 0, 16, 32>}
  %y, %mean, %istd = rn.batch_norm_train %x, %s, %s : tensor<?x4xf32>, tensor<4xf32>, tensor<4xf32>
  // CHECK: rn.bias_grad %{{.*}} : tensor<?x4xf32>
  // CHECK-NOT: rn.offsets
  %g = rn.bias_grad %y : tensor<?x4xf32>
  rn.sgd_update %s, %m, %g, %lr, %lr, %lr : tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
  return
}

// -----

// Must not transform: a declaration has no body to plan.
// CHECK-LABEL: func.func private @external
// CHECK-NOT: rn.arena_floats
func.func private @external(tensor<?x4xf32>) -> tensor<?x4xf32>
