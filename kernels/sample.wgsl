// Whole samples: the steps above in the engine's order (cpu-fallback/engine.ts forward,
// backward), separated by storage barriers, inside one workgroup.
//
// Training has batch-size-1 semantics: sample j + 1 must see the weights sample j left. A
// dispatch per step would cost ~10 launches (and their barriers) per sample, which is what
// made batch-size-1 GPU training slower than the CPU. Instead one workgroup runs every step of
// every sample of the batch: one dispatch per batch, with workgroup barriers between steps.
// Inference has no such dependency (non-spiking networks): one workgroup per sample, all
// samples of the batch in parallel in one dispatch.

fn forward_sample(slot: u32, row: u32, key: u32, train: bool, lid: u32) {
  load_inputs(slot, row, lid);
  storageBarrier();
  let hexagons = plan[PLAN_HEXAGON_COUNT];
  for (var o = 0u; o < hexagons; o++) {
    let h = order_hex(o);
    let kind = hex_kind(h);
    if (kind == HEX_OUTPUT) {
      let g = hex_field(h, PLAN_HEX_GROUP);
      output_forward(g, slot, lid);
      storageBarrier();
      output_finish(g, slot, row, train, lid);
      storageBarrier();
      continue;
    }
    if (kind == HEX_HIDDEN) {
      update_neurons(h, slot, lid);
      storageBarrier();
    }
    walk_hexagon(h, slot, row, key, train, lid);
    storageBarrier();
  }
}

fn backward_sample(slot: u32, lid: u32) {
  let hexagons = plan[PLAN_HEXAGON_COUNT];
  for (var o = hexagons; o > 0u; o--) {
    let h = order_hex(o - 1u);
    if (hex_kind(h) == HEX_OUTPUT) {
      output_backward(hex_field(h, PLAN_HEX_GROUP), slot, lid);
    } else {
      backward_hexagon(h, slot, lid);
    }
    storageBarrier();
  }
}

/** Trains batch.count samples in order (rows 0.., keys firstKey..). */
@compute @workgroup_size(WG)
fn train_batch(@builtin(local_invocation_index) lid: u32) {
  for (var j = 0u; j < batch.count; j++) {
    forward_sample(0u, j, batch.firstKey + j, true, lid);
    backward_sample(0u, lid);
  }
}

/** Inference, samples in parallel: workgroup x runs row x in scratch slot x. */
@compute @workgroup_size(WG)
fn infer_batch(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  let slot = wg.x;
  if (slot >= batch.count) { return; }
  forward_sample(slot, slot, 0u, false, lid);
}

/** Inference on spiking networks: potentials carry over, so rows run in order in slot 0. */
@compute @workgroup_size(WG)
fn infer_sequential(@builtin(local_invocation_index) lid: u32) {
  for (var j = 0u; j < batch.count; j++) {
    forward_sample(0u, j, 0u, false, lid);
    storageBarrier();
  }
}
