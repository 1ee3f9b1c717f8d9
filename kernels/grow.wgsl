// Step: in-section synapse creation and growth requests.
// CPU twins: kernels/growth.ts appendSynapse (a synapse at the end of a section with spare
// capacity is written here, on the GPU, exactly as the allocator would write it) and the
// request lists of cpu-fallback/steps.ts forwardSectionsTrain. Whatever needs the allocator
// (a first section or output row, moving a full section to a larger run, a split, a match
// value inserted in order) becomes a request the host applies with kernels/growth.ts after
// the batch, in the CPU's order.

fn push_request(kind: u32, a: u32, b: u32, value: f32, row: u32) {
  let index = atomicAdd(&growth[GROWTH_CURSOR], 1u);
  if (index >= batch.growthCapacity) {
    atomicAdd(&growth[GROWTH_DROPPED], 1u);
    return;
  }
  let r = GROWTH_STRIDE + index * REQUEST_STRIDE;
  atomicStore(&growth[r + REQUEST_KIND_ROW], kind | (row << REQUEST_ROW_SHIFT));
  atomicStore(&growth[r + REQUEST_A], a);
  atomicStore(&growth[r + REQUEST_B], b);
  atomicStore(&growth[r + REQUEST_VALUE], bitcast<u32>(value));
}

/** The event list follows the request records. The host replays it to keep its copy of the
 *  network's structure current without reading the network back (trainer.ts). */
fn event_base() -> u32 {
  return GROWTH_STRIDE + batch.growthCapacity * REQUEST_STRIDE;
}

/** Pushes `n` words (1 or 2) to the event list; words beyond its capacity are counted only. */
fn push_event(n: u32, first: u32, second: u32) {
  let index = atomicAdd(&growth[GROWTH_EVENTS], n);
  if (index + n > batch.eventCapacity) { return; }
  atomicStore(&growth[event_base() + index], first);
  if (n > 1u) { atomicStore(&growth[event_base() + index + 1u], second); }
}

/** A neuron fired without any outgoing connection. The host's growNeuron draws a target slot
 *  from (seed, key, hexagon, neuron) and does nothing when the slot is empty or an input
 *  hexagon; the same draw here asks only when it will succeed, and only once per batch. */
fn request_first_section(h: u32, neuron: u32, potential: f32, slot: u32, row: u32, key: u32) {
  let c = cell_index(slot, hex_base(h) + neuron);
  if (cells[c].requested != 0u) { return; }
  let draw = rand32(batch.seed, RNG_STREAM_SECTION_TARGET, key, h * 0x100000u + neuron) % TARGET_SLOTS;
  let target_hex = hex_target(h, draw);
  if (target_hex < 0 || hex_kind(u32(target_hex)) == HEX_INPUT) { return; }
  cells[c].requested = 1u;
  push_request(GROWTH_KIND_NEW_SECTION, h, neuron, potential, row);
}

/** appendSynapse for a section with a free slot: border, initial weight and target from the
 *  same counter-based draws as the CPU. */
fn append_in_section(s: u32, border: f32, key: u32) {
  let count = sections[s].synCount;
  let page = sections[s].synPage;
  let i = sections[s].synOffset + count;
  pages[page].border[i] = border;
  pages[page].weight[i] = initial_weight(key, s, count);
  pages[page].meta_[i] = (initial_target(key, s, count) & META_TARGET_MASK) | (ACTIVE_COUNTER_INIT << META_COUNTER_SHIFT);
  sections[s].synCount = count + 1u;
  atomicAdd(&growth[GROWTH_APPENDED], 1u);
  push_event(1u, s, 0u);
}

/** Potential was left over past the last synapse of plain section `s`. */
fn grow_section(s: u32, leftover: f32, eps: f32, row: u32, key: u32) {
  let count = sections[s].synCount;
  if (count < MAX_SYNAPSES_PER_SECTION) {
    if (count < sections[s].synCapacity) {
      append_in_section(s, leftover, key);
      return;
    }
    // The section must move to a larger run: the host appends after the batch. Later samples
    // of the batch cannot walk that synapse yet, so they ask only for the potential beyond
    // what was already asked for (as the walk over the new synapse would leave over).
    let beyond = leftover - walks[s].pending;
    if (beyond > eps) {
      walks[s].pending = walks[s].pending + beyond;
      push_request(GROWTH_KIND_APPEND_SYNAPSE, s, 0u, beyond, row);
    }
    return;
  }
  // A full section is split once; the split section's upper slice grows from the next batch.
  if (walks[s].splitAsked == 0u) {
    walks[s].splitAsked = 1u;
    push_request(GROWTH_KIND_SPLIT, s, 0u, leftover, row);
  }
}
