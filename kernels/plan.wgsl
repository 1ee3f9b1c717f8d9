// Accessors of the read-only plan tables (kernels/webgpu/plan.ts builds them).

fn hex_field(h: u32, field: u32) -> u32 {
  return plan[plan[PLAN_HEXES_OFFSET] + h * PLAN_HEX_STRIDE + field];
}
fn hex_kind(h: u32) -> u32 { return hex_field(h, PLAN_HEX_KIND); }
fn hex_base(h: u32) -> u32 { return hex_field(h, PLAN_HEX_BASE); }
fn hex_count(h: u32) -> u32 { return hex_field(h, PLAN_HEX_COUNT); }
fn hex_target(h: u32, slot: u32) -> i32 { return bitcast<i32>(plan[hex_field(h, PLAN_HEX_TARGETS_OFFSET) + slot]); }

fn group_field(g: u32, field: u32) -> u32 {
  return plan[plan[PLAN_GROUPS_OFFSET] + g * PLAN_GROUP_STRIDE + field];
}
fn iface_field(i: u32, field: u32) -> u32 {
  return plan[plan[PLAN_IFACES_OFFSET] + i * PLAN_IFACE_STRIDE + field];
}
fn order_hex(position: u32) -> u32 { return plan[plan[PLAN_ORDER_OFFSET] + position]; }

/** Cell of neuron `n` (global index) in scratch slot `slot`. */
fn cell_index(slot: u32, n: u32) -> u32 { return slot * batch.cellsPerSlot + n; }

/** A neuron is active when it has a positive value (input neurons) or a positive potential
 *  (hidden neurons: slope > 0), as in the CPU active lists. */
fn is_active(cell: NeuronCell) -> bool { return cell.act > 0.0 || cell.slope > 0.0; }

/** +inf marks an open section range; compared by bits because WGSL lets implementations
 *  assume values are finite. */
fn is_open(range: f32) -> bool { return bitcast<u32>(range) == 0x7f800000u; }
