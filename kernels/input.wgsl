// Step: the raw values of a sample's row into the input neurons.
// CPU twin: cpu-fallback/engine.ts loadRow + cpu-fallback/steps.ts loadInputs.

/** Column `column` of row `row` of the batch's input rows. */
fn input_value(row: u32, column: u32) -> f32 {
  let base = row * batch.rowWords;
  if (batch.inputBytes != 0u) {
    let word = samples[base + (column >> 2u)];
    return f32((word >> ((column & 3u) * 8u)) & 0xffu);
  }
  return bitcast<f32>(samples[base + column]);
}

/** Every neuron of every input hexagon takes its column's value; zero, negative (and NaN)
 *  values are silent and stored as 0, and neurons no column feeds stay 0. */
fn load_inputs(slot: u32, row: u32, lid: u32) {
  let list = plan[PLAN_INPUTS_OFFSET];
  let count = plan[PLAN_INPUT_COUNT];
  for (var i = lid; i < count; i += WG) {
    let n = plan[list + 2u * i];
    let column = plan[list + 2u * i + 1u];
    var value = 0.0;
    if (column != NO_COLUMN) {
      let raw = input_value(row, column);
      if (raw > 0.0) { value = raw; }
    }
    let c = cell_index(slot, n);
    cells[c].act = value;
    cells[c].slope = 0.0;
  }
}

@compute @workgroup_size(WG)
fn step_input(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  load_inputs(batch.stepSlot + wg.x, batch.stepRow + wg.x, lid);
}
