/**
 * The WebGPU adapter probe, run as its own process by `probeWebGpuIsolated`: Dawn prints
 * driver warnings from native code straight onto the process's stderr (e.g. lavapipe's
 * "maxDynamicUniformBuffersPerPipelineLayout artificially reduced ..."), where they would
 * interleave with the service's JSON log. In a child, the parent reads them and logs them as
 * JSON. Prints one JSON line (the probe without the live adapter) on stdout, then exits:
 * Dawn's handle would otherwise keep the process alive.
 */
import { probeWebGpu } from './select-backend.js';

const { status, adapter, reason } = await probeWebGpu();
process.stdout.write(`${JSON.stringify({ status, adapter, reason })}\n`, () => process.exit(0));
