// Step: hidden neurons turn their gathered input into potential and activation.
// CPU twin: cpu-fallback/steps.ts updateNeurons.

const LN2_INV: f32 = 1.4426950408889634;

/** y = log2(1 + u). Below 1 through 2·atanh(u / (2 + u)) / ln 2, which keeps full relative
 *  precision for small potentials where forming 1 + u in f32 would not. */
fn hidden_activation(u: f32) -> f32 {
  if (u < 1.0) {
    let z = u / (2.0 + u);
    let z2 = z * z;
    let series = z * (1.0 + z2 * (1.0 / 3.0 + z2 * (1.0 / 5.0 + z2 * (1.0 / 7.0 + z2 * (1.0 / 9.0 + z2 * (1.0 / 11.0 + z2 * (1.0 / 13.0 + z2 / 15.0)))))));
    return 2.0 * LN2_INV * series;
  }
  return log2(1.0 + u);
}

/** Spiking clusters first carry the previous potential over (divided by the cooldown) and
 *  accept input only every refractoryTime cycles. Clears the cell's delta for backward. */
fn update_neurons(h: u32, slot: u32, lid: u32) {
  let base = hex_base(h);
  let count = hex_count(h);
  for (var i = lid; i < count; i += WG) {
    let n = base + i;
    let c = cell_index(slot, n);
    let gathered = take_accumulated(c);
    var u = gathered;
    if (batch.spiking != 0u) {
      let carried = neurons[n].carry / batch.cooldown;
      let refractory = neurons[n].refractory;
      if (refractory > 0) {
        neurons[n].refractory = refractory - 1;
        u = carried;
      } else {
        u = carried + gathered;
        neurons[n].refractory = i32(batch.refractoryTime) - 1;
      }
      neurons[n].carry = u;
    }
    cells[c].delta = 0.0;
    if (u > 0.0) {
      cells[c].act = hidden_activation(u);
      cells[c].slope = LN2_INV / (1.0 + u);
    } else {
      cells[c].act = 0.0;
      cells[c].slope = 0.0;
    }
  }
}

@compute @workgroup_size(WG)
fn step_update(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  update_neurons(batch.stepHex, batch.stepSlot + wg.x, lid);
}
