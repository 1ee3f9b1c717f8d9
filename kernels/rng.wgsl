// Counter-based random numbers: the bit-exact twin of kernels/rng.ts (u32 arithmetic wraps
// modulo 2^32 like Math.imul), so a synapse the GPU grows gets the weight and target the CPU
// would give it.

fn pcg_hash(input: u32) -> u32 {
  let state = input * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}

fn rand32(seed: u32, a: u32, b: u32, c: u32) -> u32 {
  var h = pcg_hash(seed ^ 0x9e3779b9u);
  h = pcg_hash(h ^ a);
  h = pcg_hash(h ^ (b * 0x85ebca6bu));
  return pcg_hash(h ^ (c * 0xc2b2ae35u));
}

/** kernels/growth.ts initialWeight: magnitude uniform below SYNAPSE_INIT_WEIGHT, sign from
 *  bit 0. (The CPU rounds once from double precision; this differs by at most 2 ulp.) */
fn initial_weight(key: u32, sec: u32, slot: u32) -> f32 {
  let h = rand32(batch.seed, RNG_STREAM_SYNAPSE_INIT, key, sec * MAX_SYNAPSES_PER_SECTION + slot);
  let magnitude = (f32(h >> 1u) / 2147483648.0) * SYNAPSE_INIT_WEIGHT;
  return select(magnitude, -magnitude, (h & 1u) != 0u);
}

/** kernels/growth.ts initialTarget. */
fn initial_target(key: u32, sec: u32, slot: u32) -> u32 {
  return rand32(batch.seed, RNG_STREAM_SYNAPSE_INIT, key ^ 0x5bd1e995u, sec * MAX_SYNAPSES_PER_SECTION + slot) % NEURONS_PER_BLOCK;
}
