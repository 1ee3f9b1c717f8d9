/**
 * `POST …/clusters/{clusterId}/predict`: one or a few inputs in as JSON, the network's outputs
 * back in the same response. The rows go through the cluster's direct-I/O channel, so they are
 * batched with Socket.IO requests on the same cluster; in tasks mode they run between two
 * slices of a running task (the runtime's interludes) instead of waiting for it to end.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { DirectAnswer, SampleInputs } from '../../network/direct.js';
import type { ChannelAnswer } from '../../io/channel.js';
import { IoError } from '../../io/protocol.js';
import { codeOfSocketCode, type ErrorCode } from '../../errors.js';
import type { OutputLayout } from '../../store/types.js';
import { ApiError } from '../problem.js';
import { json, requirePrincipal, route } from '../route.js';
import { Closed, StringEnum } from '../schemas.js';
import { ClusterParams } from './clusters.js';

/** Most samples one call may carry (one channel batch). */
export const PREDICT_MAX_ROWS = 256;

const Values = Type.Array(Type.Number(), { minItems: 1, maxItems: 1 << 20, description: 'Raw input values in their own units (finite, not negative; 0 is silence).' });
const Sample = Type.Union([Values, Type.Record(Type.String({ minLength: 1, maxLength: 254 }), Values, { minProperties: 1 })], {
  description: 'One sample: its values (a network with one input), or `{ inputName: values }`.',
});

const PredictBody = Closed({
  inputs: Type.Array(Sample, { minItems: 1, maxItems: PREDICT_MAX_ROWS, description: `1–${PREDICT_MAX_ROWS} samples.` }),
});

const OutputInfo = Closed({
  name: Type.String(),
  mode: StringEnum(['class', 'value']),
  size: Type.Integer({ minimum: 0 }),
  labels: Type.Array(Type.String(), { description: 'Class names (class outputs) or target column names (value outputs).' }),
});

const OutputAnswer = Closed({
  values: Type.Array(Type.Number()),
  index: Type.Optional(Type.Integer({ minimum: 0, description: 'Class outputs: the index of the largest value.' })),
  label: Type.Optional(Type.String({ description: 'Class outputs: the name of that class.' })),
});

const PredictView = Closed(
  {
    outputs: Type.Array(OutputInfo, { description: "The network's outputs, in order." }),
    predictions: Type.Array(Type.Record(Type.String(), OutputAnswer), { description: "Per sample, in order: each output's values by output name." }),
  },
  { title: 'Prediction' },
);

/** Codes that are about one sample: the problem points at it. */
const SAMPLE_CODES = new Set<ErrorCode>(['wrong_length', 'not_finite', 'negative', 'unknown_input', 'missing_input', 'named_inputs_required', 'payload_too_large', 'bad_payload']);

/** A channel's error, as an HTTP problem: the same code (server/errors.ts), naming the sample. */
function asProblem(error: unknown, sample: number): unknown {
  if (!(error instanceof IoError)) return error;
  const code = codeOfSocketCode(error.code) ?? 'internal';
  if (SAMPLE_CODES.has(code)) return new ApiError(code, `inputs[${sample}]: ${error.message}`, { field: `/body/inputs/${sample}` });
  return new ApiError(code, error.message);
}

function toSample(sample: Static<typeof Sample>): SampleInputs {
  if (Array.isArray(sample)) return Float32Array.from(sample);
  return Object.fromEntries(Object.entries(sample).map(([name, values]) => [name, Float32Array.from(values)]));
}

function answerOf(answer: DirectAnswer, layout: readonly OutputLayout[]): Static<typeof PredictView>['predictions'][number] {
  const out: Static<typeof PredictView>['predictions'][number] = {};
  for (const iface of answer.interfaces) {
    const values = Array.from(answer.outputs.subarray(iface.offset, iface.offset + iface.size));
    const labels = layout.find((l) => l.name === iface.name)?.labels ?? [];
    out[iface.name] = iface.argmax === undefined ? { values } : { values, index: iface.argmax, label: labels[iface.argmax] ?? String(iface.argmax) };
  }
  return out;
}

export const predictRoutes = [
  route({
    method: 'post',
    path: '/v1/projects/{projectId}/clusters/{clusterId}/predict',
    operationId: 'predict',
    summary: 'Run one or a few inputs through a cluster and get its outputs back',
    description:
      `Synchronous inference for 1–${PREDICT_MAX_ROWS} samples, in either mode: in \`direct\` mode batched with the Socket.IO requests on the cluster, in \`tasks\` mode run between two slices of a running task (it does not wait for the task; on a spiking network it does, since a prediction changes what the network carries). ` +
      'Inputs are raw values (finite, not negative). Limited to HANAMI_IO_RATE samples per second per user (429 with Retry-After).',
    tag: 'clusters',
    access: 'project',
    params: ClusterParams,
    body: PredictBody,
    responses: {
      200: { description: "Each sample's outputs, by output name.", schema: PredictView },
      409: { description: '`not_trained` (the network has not learned anything yet), `cluster_hosted_elsewhere`.', problem: true },
      422: { description: 'A sample does not fit the network (`wrong_length`, `negative`, `unknown_input`, `missing_input`, `named_inputs_required`): `field` names it.', problem: true },
      429: { description: '`rate_limited`: over HANAMI_IO_RATE samples per second (Retry-After).', problem: true },
    },
    async handler({ params, body, principal, services }) {
      const caller = requirePrincipal(principal);
      // Existence and project scoping first: an unknown cluster is a 404, not a queued call.
      await services.store.clusters.get(params.projectId, params.clusterId);
      const admitted = services.channels.admitHttp(caller.userId, body.inputs.length);
      if (!admitted.allowed) {
        throw new ApiError('rate_limited', `more than ${services.config.io.ratePerSecond} predicted samples per second for this user`, { retryAfterSeconds: admitted.retryAfterSeconds });
      }
      const channel = services.channels.channelFor(params.projectId, params.clusterId);
      // Every sample takes its place in the channel at once: they run as one batch.
      const calls = body.inputs.map((sample) => channel.submit('request', toSample(sample), undefined, undefined, 'http').done);
      const settled = await Promise.allSettled(calls);
      const failed = settled.findIndex((s) => s.status === 'rejected');
      if (failed >= 0) throw asProblem((settled[failed] as PromiseRejectedResult).reason, failed);
      const answers = settled.map((s) => (s as PromiseFulfilledResult<ChannelAnswer | undefined>).value!);
      const layout = answers[0]!.layout ?? [];
      return json(200, PredictView, {
        outputs: layout.map(({ name, mode, size, labels }) => ({ name, mode, size, labels })),
        predictions: answers.map((a) => answerOf(a, layout)),
      });
    },
  }),
];
