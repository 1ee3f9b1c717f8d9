// Step: the output layer of one output group. CPU twins: cpu-fallback/steps.ts
// computeOutputs (logits, softmax / scaled values) and the first half of backwardOutputs
// (loss gradient, bias step).

/** Activation a neuron feeds into output links: hidden activations as they are, raw input
 *  values compressed the way hidden potentials are. */
fn row_activation(slot: u32, source: u32) -> f32 {
  let v = cells[cell_index(slot, source & ~u32(INPUT_SOURCE_BIT))].act;
  if ((source & INPUT_SOURCE_BIT) == 0u) { return v; }
  if (v > 0.0) { return hidden_activation(v); }
  return 0.0;
}

/** z = bias + Σ_rows y · W. The workgroup splits the rows of each output value into
 *  WG / width interleaved parts and sums the parts in a fixed order (deterministic). */
fn output_forward(g: u32, slot: u32, lid: u32) {
  let width = group_field(g, PLAN_GROUP_WIDTH);
  let stride = group_field(g, PLAN_GROUP_WIDTH_CAPACITY);
  let rows = group_field(g, PLAN_GROUP_ROWS);
  let weights = group_field(g, PLAN_GROUP_WEIGHTS_OFFSET);
  let bias = group_field(g, PLAN_GROUP_BIAS_OFFSET);
  let sources = group_field(g, PLAN_GROUP_SOURCES_OFFSET);
  let out = slot * batch.totalWidth + group_field(g, PLAN_GROUP_OUT_OFFSET);
  let parts = max(1u, WG / max(width, 1u));
  let perChunk = WG / parts;
  for (var k0 = 0u; k0 < width; k0 += perChunk) {
    let k = k0 + lid % perChunk;
    let part = lid / perChunk;
    var sum = 0.0;
    if (k < width && part < parts) {
      for (var r = part; r < rows; r += parts) {
        let y = row_activation(slot, plan[sources + r]);
        if (y != 0.0) { sum += y * links[weights + r * stride + k]; }
      }
    }
    partial[lid] = sum;
    workgroupBarrier();
    if (part == 0u && k < width) {
      var z = links[bias + k];
      for (var q = 0u; q < parts; q++) { z += partial[q * perChunk + lid]; }
      outcells[out + k] = z;
    }
    workgroupBarrier();
  }
}

/** Output values from the logits: softmax per class interface, z × scale per value interface.
 *  In training also the loss gradient (p − one-hot for classes; z − target / scale for values,
 *  the scale first growing to the largest |target| seen) and the bias step. One invocation per
 *  interface. */
fn output_finish(g: u32, slot: u32, row: u32, train: bool, lid: u32) {
  let ifaceStart = group_field(g, PLAN_GROUP_IFACE_START);
  let ifaceCount = group_field(g, PLAN_GROUP_IFACE_COUNT);
  let groupOut = group_field(g, PLAN_GROUP_OUT_OFFSET);
  let z = slot * batch.totalWidth + groupOut;
  let grad = batch.gradBase + slot * batch.totalWidth + groupOut;
  let value = batch.valueBase + row * batch.totalWidth + groupOut;
  let targets = batch.targetsOffset + row * batch.totalWidth + groupOut;
  let bias = group_field(g, PLAN_GROUP_BIAS_OFFSET);
  let scale = group_field(g, PLAN_GROUP_SCALE_OFFSET);
  for (var i = lid; i < ifaceCount; i += WG) {
    let lo = iface_field(ifaceStart + i, PLAN_IFACE_OFFSET);
    let hi = lo + iface_field(ifaceStart + i, PLAN_IFACE_SIZE);
    if (iface_field(ifaceStart + i, PLAN_IFACE_MODE) == IFACE_CLASS) {
      var largest = outcells[z + lo];
      for (var k = lo + 1u; k < hi; k++) { largest = max(largest, outcells[z + k]); }
      var sum = 0.0;
      for (var k = lo; k < hi; k++) { sum += exp(outcells[z + k] - largest); }
      for (var k = lo; k < hi; k++) {
        let p = exp(outcells[z + k] - largest) / sum;
        outcells[value + k] = p;
        if (train) { outcells[grad + k] = p - bitcast<f32>(samples[targets + k]); }
      }
    } else {
      for (var k = lo; k < hi; k++) {
        outcells[value + k] = outcells[z + k] * links[scale + k];
        if (train) {
          let t = bitcast<f32>(samples[targets + k]);
          let magnitude = abs(t);
          if (magnitude > links[scale + k]) { links[scale + k] = magnitude; }
          outcells[grad + k] = outcells[z + k] - t / links[scale + k];
        }
      }
    }
    if (train) {
      for (var k = lo; k < hi; k++) { links[bias + k] = links[bias + k] - BIAS_LEARNING_RATE * outcells[grad + k]; }
    }
  }
}

@compute @workgroup_size(WG)
fn step_output(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  output_forward(batch.stepHex, batch.stepSlot + wg.x, lid);
  storageBarrier();
  output_finish(batch.stepHex, batch.stepSlot + wg.x, batch.stepRow + wg.x, batch.stepTrain != 0u, lid);
}
