// The buffers every kernel sees (one bind group; kernels/webgpu/network.ts creates them).
// The network's own records (sections, neurons, synapse pages, output links) have the CPU
// backend's layout; cells, accum, walks and outcells are per-execution scratch, like
// cpu-fallback/context.ts; growth is the log the host drains between batches.

@group(0) @binding(0) var<uniform> batch: BatchParams;
// Read-only tables: hexagons, processing order, targets, output groups, inputs (plan.ts).
@group(0) @binding(1) var<storage, read> plan: array<u32>;
@group(0) @binding(2) var<storage, read_write> sections: array<Section>;
// Every hexagon's neuron records back to back (hexagon h starts at its plan base).
@group(0) @binding(3) var<storage, read_write> neurons: array<Neuron>;
// Synapse page p of the CPU layout is pages[p]: the same three columns, the same offsets.
@group(0) @binding(4) var<storage, read_write> pages: array<SynapsePage>;
// Output groups: link weights, biases, value scales and row use counts (offsets in the plan).
@group(0) @binding(5) var<storage, read_write> links: array<f32>;
// One cell per neuron per scratch slot (a slot is one sample in flight).
@group(0) @binding(6) var<storage, read_write> cells: array<NeuronCell>;
// Gathered synaptic input per cell as 64-bit fixed point (accumulate.wgsl).
@group(0) @binding(7) var<storage, read_write> accum: array<atomic<u32>>;
// Training: what the forward walk reached in each section.
@group(0) @binding(8) var<storage, read_write> walks: array<SectionWalk>;
// Logits [slots × width], gradients [slots × width], then output values [rows × width].
@group(0) @binding(9) var<storage, read_write> outcells: array<f32>;
// Growth log header and request records (records.ts GROWTH_HEADER / GROWTH_REQUEST).
@group(0) @binding(10) var<storage, read_write> growth: array<atomic<u32>>;
// Input rows of the batch (packed bytes or f32 bits), then the output targets per row.
@group(0) @binding(11) var<storage, read> samples: array<u32>;

// Output layer partial sums (output.wgsl).
var<workgroup> partial: array<f32, WG>;
