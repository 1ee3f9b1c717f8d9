// Gathered synaptic input as 64-bit fixed point (32 integer bits, 32 fraction bits) in two
// atomic words per cell. WGSL has no float atomics; integer addition is associative, so the
// sum does not depend on the order in which invocations add: the GPU gets the same input for a
// neuron on every run, and each f32 contribution is kept to 2^-32 (the CPU sums in double
// precision). Range: |input| < 2^31.

const FIXED_SCALE: f32 = 4294967296.0;     // 2^32
const FIXED_UNIT: f32 = 2.3283064365386963e-10; // 2^-32

fn accumulate(cell: u32, value: f32) {
  let magnitude = abs(value);
  let whole = floor(magnitude);
  var hi = u32(whole);
  // magnitude - whole is exact and below 1, so the product fits 32 bits.
  var lo = u32((magnitude - whole) * FIXED_SCALE);
  if (value < 0.0) {
    // Two's complement of the 64-bit pair.
    lo = ~lo + 1u;
    hi = ~hi + select(0u, 1u, lo == 0u);
  }
  let before = atomicAdd(&accum[2u * cell], lo);
  let carry = select(0u, 1u, before + lo < before);
  atomicAdd(&accum[2u * cell + 1u], hi + carry);
}

/** Reads a cell's gathered input and clears it for the next cycle. */
fn take_accumulated(cell: u32) -> f32 {
  var lo = atomicExchange(&accum[2u * cell], 0u);
  var hi = atomicExchange(&accum[2u * cell + 1u], 0u);
  let negative = (hi & 0x80000000u) != 0u;
  if (negative) {
    // Convert to sign and magnitude first: adding a negative integer part to a positive
    // fraction would cancel and lose the fraction's precision.
    lo = ~lo + 1u;
    hi = ~hi + select(0u, 1u, lo == 0u);
  }
  let magnitude = f32(hi) + f32(lo) * FIXED_UNIT;
  return select(magnitude, -magnitude, negative);
}
