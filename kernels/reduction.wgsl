// Step: reduction. CPU twin: kernels/growth.ts reduceNetwork. Every non-persistent synapse
// loses one activity count and trailing synapses at zero are removed. A section left empty
// must be freed by the allocator: it is marked RELEASE_PENDING and the host frees it right
// after this pass (its own submission, after the growth of the sample that ends the
// reduction interval, as on the CPU), so no walk ever sees the mark. Every section shortened is
// an event (its id and new count), so the host's structure follows without a readback.

fn reduce_sections(lid: u32) {
  for (var s = lid; s < batch.sectionCount; s += WG) {
    let kind = sections[s].kind;
    if ((kind & FREE_SECTION) != 0u) { continue; }
    let page = sections[s].synPage;
    let first = sections[s].synOffset;
    var count = sections[s].synCount;
    for (var k = first; k < first + count; k++) {
      let m = pages[page].meta_[k];
      let counter = (m >> META_COUNTER_SHIFT) & META_COUNTER_MASK;
      if (counter < ACTIVE_COUNTER_PERSISTENT && counter > 0u) {
        pages[page].meta_[k] = (m & META_TARGET_MASK) | ((counter - 1u) << META_COUNTER_SHIFT);
      }
    }
    let before = count;
    loop {
      if (count == 0u) { break; }
      if (((pages[page].meta_[first + count - 1u] >> META_COUNTER_SHIFT) & META_COUNTER_MASK) != 0u) { break; }
      count = count - 1u;
    }
    if (count == before) { continue; }
    atomicAdd(&growth[GROWTH_REMOVED], before - count);
    sections[s].synCount = count;
    push_event(2u, s, count);
    if (count == 0u) {
      sections[s].kind = kind | RELEASE_PENDING;
      atomicAdd(&growth[GROWTH_RELEASED], 1u);
    }
  }
}

@compute @workgroup_size(WG)
fn step_reduce(@builtin(local_invocation_index) lid: u32) {
  reduce_sections(lid);
}
