// Step: output links learn and hand their share of the loss gradient to the source neurons.
// CPU twin: the row loop of cpu-fallback/steps.ts backwardOutputs. A neuron has at most one
// link row, so every row (one invocation) writes its own neuron's delta.

fn output_backward(g: u32, slot: u32, lid: u32) {
  let width = group_field(g, PLAN_GROUP_WIDTH);
  let stride = group_field(g, PLAN_GROUP_WIDTH_CAPACITY);
  let rows = group_field(g, PLAN_GROUP_ROWS);
  let weights = group_field(g, PLAN_GROUP_WEIGHTS_OFFSET);
  let uses = group_field(g, PLAN_GROUP_USES_OFFSET);
  let sources = group_field(g, PLAN_GROUP_SOURCES_OFFSET);
  let grad = batch.gradBase + slot * batch.totalWidth + group_field(g, PLAN_GROUP_OUT_OFFSET);
  for (var r = lid; r < rows; r += WG) {
    let source = plan[sources + r];
    let y = row_activation(slot, source);
    if (y == 0.0) { continue; }
    let used = links[uses + r];
    links[uses + r] = used + 1.0;
    let lr = LINK_LEARNING_RATE / (1.0 + used / LINK_LEARNING_TAU);
    let base = weights + r * stride;
    var d = 0.0;
    for (var k = 0u; k < width; k++) {
      let w = links[base + k];
      d += outcells[grad + k] * w;
      links[base + k] = w - lr * outcells[grad + k] * y;
    }
    let c = cell_index(slot, source & ~u32(INPUT_SOURCE_BIT));
    cells[c].delta = cells[c].delta + d;
  }
}

@compute @workgroup_size(WG)
fn step_output_backward(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  output_backward(batch.stepHex, batch.stepSlot + wg.x, lid);
}
