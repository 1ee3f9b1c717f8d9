/**
 * A task's metric series where it crosses the store, shared by both implementations: how a
 * full series is thinned, and how a stored point reads back.
 *
 * Bounding: a series holds at most `limit` points. The points that take it over the limit make
 * the store drop every second point (index 1, 3, 5, ... in `seq` order), keeping the first and
 * the newest, so the series halves and what is kept still spans the whole run. The recorder
 * (server/tasks/metric-recorder.ts) doubles its cadence at the same moment, so the points
 * after a thinning are as far apart as the ones kept before it.
 */
import { StoreError, type MetricPoint } from './types.js';

/** The default and largest number of points kept per task. */
export const DEFAULT_METRIC_POINTS = 1000;

/** The seqs to drop from a series (given in `seq` order) that holds more than `limit` points:
 *  halvings until it fits. */
export function seqsToThin(seqs: readonly number[], limit: number): number[] {
  const drop: number[] = [];
  let kept = [...seqs];
  while (kept.length > Math.max(2, limit)) {
    const next: number[] = [];
    kept.forEach((seq, i) => (i % 2 === 1 && i < kept.length - 1 ? drop.push(seq) : next.push(seq)));
    kept = next;
  }
  return drop;
}

const NUMBERS = ['seq', 'done', 'total', 'samplesPerSecond', 'window', 'neurons', 'synapses', 'sections', 'bytes'] as const;
const SCORES = ['accuracy', 'rmse', 'mae'] as const;

/** A stored point as the record it was (what JSON or BSON added or turned into null undone). */
export function readMetricPoint(fields: Record<string, unknown>): MetricPoint {
  const point = { time: '', final: false } as MetricPoint;
  if (typeof fields.time !== 'string') throw new StoreError(`metric point ${String(fields.seq)}: the stored time is not a string`);
  point.time = fields.time;
  point.final = fields.final === true;
  for (const key of NUMBERS) {
    const v = fields[key];
    // A figure JSON turned into null (NaN, ±Infinity) reads as 0.
    point[key] = typeof v === 'number' ? v : 0;
  }
  for (const key of SCORES) {
    const v = fields[key];
    if (typeof v === 'number') point[key] = v;
  }
  return point;
}

/** Only the point's own fields, in a fixed order (what both stores write). */
export function metricFields(point: MetricPoint): MetricPoint {
  return readMetricPoint(point as unknown as Record<string, unknown>);
}
