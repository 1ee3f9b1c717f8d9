// Step: the backward walk of one hexagon's active neurons. CPU twins: cpu-fallback/steps.ts
// backwardSections (replaying the walk log) and finishDeltas.
//
// One invocation per source neuron replays what the forward walk reached in each of its
// sections (walks[s]): every reached synapse moves by −lr · δ_target (the partially covered
// last one in proportion to its share); a hidden source collects Σ weight · δ_target and
// finishes its own delta with the activation slope. Target deltas are final (their hexagons
// come later in the processing order, so earlier in the backward pass) and only read here.

fn backward_hexagon(h: u32, slot: u32, lid: u32) {
  let hidden = hex_kind(h) == HEX_HIDDEN;
  let base = hex_base(h);
  let count = hex_count(h);
  for (var i = lid; i < count; i += WG) {
    let n = base + i;
    let c = cell_index(slot, n);
    let cell = cells[c];
    if (!is_active(cell)) { continue; }
    var d = 0.0;
    var visited = 0u;
    var s = neurons[n].firstSection;
    loop {
      if (s < 0) { break; }
      let su = u32(s);
      let walked = walks[su].walked;
      if (walked > 0u) {
        visited += walked;
        let sec = sections[su];
        let used = sec.uses;
        sections[su].uses = used + 1.0;
        let lr = SECTION_LEARNING_RATE / (1.0 + used / SECTION_LEARNING_TAU);
        let page = sec.synPage;
        let tbase = hex_base(sec.tgtHex) + sec.tgtBlock * NEURONS_PER_BLOCK;
        let first = sec.synOffset + walks[su].first;
        let last = first + walked - 1u;
        for (var k = first; k < last; k++) {
          let td = cells[cell_index(slot, tbase + (pages[page].meta_[k] & META_TARGET_MASK))].delta;
          let w = pages[page].weight[k];
          d += w * td;
          pages[page].weight[k] = w - lr * td;
        }
        let tdLast = cells[cell_index(slot, tbase + (pages[page].meta_[last] & META_TARGET_MASK))].delta;
        let wLast = pages[page].weight[last];
        d += wLast * tdLast;
        pages[page].weight[last] = wLast - lr * tdLast * walks[su].share;
        if (batch.reinforce != 0u) {
          // Reduction bookkeeping: every reached synapse gains one activity count.
          for (var k = first; k <= last; k++) {
            let m = pages[page].meta_[k];
            let counter = m >> META_COUNTER_SHIFT;
            if (counter < ACTIVE_COUNTER_PERSISTENT) {
              pages[page].meta_[k] = (m & META_TARGET_MASK) | ((counter + 1u) << META_COUNTER_SHIFT);
            }
          }
        }
      }
      s = sections[su].next;
    }
    if (visited > 0u) { atomicAdd(&growth[GROWTH_VISITS], visited); }
    if (hidden) { cells[c].delta = (cell.delta + d) * cell.slope; }
  }
}

@compute @workgroup_size(WG)
fn step_backward(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  backward_hexagon(batch.stepHex, batch.stepSlot + wg.x, lid);
}
