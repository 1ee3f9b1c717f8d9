// Step: the forward section walk of one hexagon's active neurons, with border adaptation in
// training. CPU twin: cpu-fallback/steps.ts forwardSections / forwardSectionsTrain.
//
// One invocation per source neuron walks the neuron's chain of sections; a section belongs to
// exactly one neuron, so its records, synapses and walk scratch have a single writer. Target
// inputs are shared and gathered with accumulate() (order-independent fixed point).

/** Inference walk of a plain section: a fully covered synapse adds its weight, the partially
 *  covered last one weight × p / border. */
fn walk_plain(s: u32, potential: f32, slot: u32) -> u32 {
  let sec = sections[s];
  var p = potential - sec.lower;
  if (p <= 0.0) { return 0u; }
  if (!is_open(sec.range) && p > sec.range) { p = sec.range; }
  let eps = p * WALK_EPSILON;
  let page = sec.synPage;
  let tbase = hex_base(sec.tgtHex) + sec.tgtBlock * NEURONS_PER_BLOCK;
  let first = sec.synOffset;
  var i = first;
  let end = i + sec.synCount;
  loop {
    if (i >= end) { break; }
    let b = pages[page].border[i];
    let t = tbase + (pages[page].meta_[i] & META_TARGET_MASK);
    if (p < b) {
      accumulate(cell_index(slot, t), pages[page].weight[i] * (p / b));
      i = i + 1u;
      break;
    }
    accumulate(cell_index(slot, t), pages[page].weight[i]);
    p = p - b;
    i = i + 1u;
    if (p <= eps) { break; }
  }
  return i - first;
}

/** Training walk of a plain section: as walk_plain, and a remaining potential strictly inside
 *  ((0.5 - tol)·border, (0.5 + tol)·border) shrinks that synapse's border and weight by
 *  BORDER_SHRINK and the section's tolerance by TOLERANCE_DECAY. Records the walk for the
 *  backward pass and grows the section when potential is left over. */
fn walk_plain_train(s: u32, potential: f32, slot: u32, row: u32, key: u32) -> u32 {
  let sec = sections[s];
  var p = potential - sec.lower;
  if (p <= 0.0) {
    walks[s].walked = 0u;
    return 0u;
  }
  if (!is_open(sec.range) && p > sec.range) { p = sec.range; }
  let eps = p * WALK_EPSILON;
  let page = sec.synPage;
  let tbase = hex_base(sec.tgtHex) + sec.tgtBlock * NEURONS_PER_BLOCK;
  let first = sec.synOffset;
  let end = first + sec.synCount;
  var tol = sec.tolerance;
  var lo = 0.5 - tol;
  var hi = 0.5 + tol;
  var share = 1.0;
  var i = first;
  loop {
    if (i >= end) { break; }
    var b = pages[page].border[i];
    if (p > lo * b && p < hi * b) {
      b = b / BORDER_SHRINK;
      pages[page].border[i] = b;
      pages[page].weight[i] = pages[page].weight[i] / BORDER_SHRINK;
      tol = tol / TOLERANCE_DECAY;
      lo = 0.5 - tol;
      hi = 0.5 + tol;
    }
    let t = tbase + (pages[page].meta_[i] & META_TARGET_MASK);
    if (p < b) {
      share = p / b;
      accumulate(cell_index(slot, t), pages[page].weight[i] * share);
      i = i + 1u;
      p = 0.0;
      break;
    }
    accumulate(cell_index(slot, t), pages[page].weight[i]);
    p = p - b;
    i = i + 1u;
    if (p <= eps) {
      p = 0.0;
      break;
    }
  }
  sections[s].tolerance = tol;
  walks[s].walked = i - first;
  walks[s].first = 0u;
  walks[s].share = share;
  if (p > eps) { grow_section(s, p, eps, row, key); }
  return i - first;
}

/** Binary sections: any positive value fires every synapse fully. */
fn walk_binary(s: u32, slot: u32, train: bool) -> u32 {
  let sec = sections[s];
  let page = sec.synPage;
  let tbase = hex_base(sec.tgtHex) + sec.tgtBlock * NEURONS_PER_BLOCK;
  for (var i = sec.synOffset; i < sec.synOffset + sec.synCount; i = i + 1u) {
    accumulate(cell_index(slot, tbase + (pages[page].meta_[i] & META_TARGET_MASK)), pages[page].weight[i]);
  }
  if (train) {
    walks[s].walked = sec.synCount;
    walks[s].first = 0u;
    walks[s].share = 1.0;
  }
  return sec.synCount;
}

/** Match sections (sorted borders = category values): the synapse whose border equals the
 *  value fires fully; an unseen value asks for its own synapse. */
fn walk_match(s: u32, value: f32, slot: u32, train: bool, row: u32) -> u32 {
  let sec = sections[s];
  let page = sec.synPage;
  if (train) { walks[s].walked = 0u; }
  var lo = i32(sec.synOffset);
  var hi = lo + i32(sec.synCount) - 1;
  loop {
    if (lo > hi) { break; }
    let mid = (lo + hi) >> 1u;
    let b = pages[page].border[mid];
    if (b == value) {
      let tbase = hex_base(sec.tgtHex) + sec.tgtBlock * NEURONS_PER_BLOCK;
      accumulate(cell_index(slot, tbase + (pages[page].meta_[mid] & META_TARGET_MASK)), pages[page].weight[mid]);
      if (train) {
        walks[s].walked = 1u;
        walks[s].first = u32(mid) - sec.synOffset;
        walks[s].share = 1.0;
      }
      return 1u;
    }
    if (b < value) { lo = mid + 1; } else { hi = mid - 1; }
  }
  if (train) { push_request(GROWTH_KIND_MATCH_INSERT, s, 0u, value, row); }
  return 0u;
}

/** Walks the sections of every active neuron of hexagon `h` for the sample in `slot`. In
 *  training, a neuron without any connection asks for its first one. */
fn walk_hexagon(h: u32, slot: u32, row: u32, key: u32, train: bool, lid: u32) {
  let base = hex_base(h);
  let count = hex_count(h);
  for (var i = lid; i < count; i += WG) {
    let n = base + i;
    let cell = cells[cell_index(slot, n)];
    if (!is_active(cell)) { continue; }
    let potential = cell.act;
    var s = neurons[n].firstSection;
    if (s < 0) {
      if (train && neurons[n].outputRow < 0) { request_first_section(h, i, potential, slot, row, key); }
      continue;
    }
    var visited = 0u;
    loop {
      if (s < 0) { break; }
      let su = u32(s);
      let kind = sections[su].kind;
      if (kind == SECTION_KIND_BINARY) {
        visited += walk_binary(su, slot, train);
      } else if (kind == SECTION_KIND_MATCH) {
        visited += walk_match(su, potential, slot, train, row);
      } else if (train) {
        visited += walk_plain_train(su, potential, slot, row, key);
      } else {
        visited += walk_plain(su, potential, slot);
      }
      s = sections[su].next;
    }
    if (visited > 0u) { atomicAdd(&growth[GROWTH_VISITS], visited); }
  }
}

@compute @workgroup_size(WG)
fn step_walk(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  walk_hexagon(batch.stepHex, batch.stepSlot + wg.x, batch.stepRow + wg.x, batch.stepKey, batch.stepTrain != 0u, lid);
}
