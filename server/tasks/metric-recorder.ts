/**
 * A task's metric series while it runs: a point every `everySamples` samples since the
 * previous one (taken at the first slice or batch boundary where that many are done, where
 * the network is consistent) and a final
 * one at the end. Each point is appended to the store (which bounds the series, see
 * server/store/metric-series.ts) and then published (task-events.ts), in order.
 *
 * When the store thins the series (it halved), the cadence doubles, so the points after a
 * thinning are as far apart as those it kept: a long task ends with at most `maxPoints` points
 * spread evenly over its whole run.
 *
 * Train tasks also score the samples since the previous point: the forward pass each sample
 * made just before it learned from it (TrainRequest.outputs), against its label or target —
 * the running training accuracy (class outputs) or RMSE/MAE (value outputs).
 */
import type { Logger } from 'pino';
import type { BoundData } from '../../kernels/contract.js';
import { outputWidth } from '../../kernels/contract.js';
import type { NetworkState } from '../../kernels/state.js';
import type { ClusterStats } from '../network/cluster.js';
import { argmax, interfaceColumn } from '../network/evaluate.js';
import type { MetricPoint, Store, TaskRecord } from '../store/types.js';
import type { TaskEvents } from './task-events.js';

export interface MetricSettings {
  /** Samples between two points (HANAMI_TASK_METRIC_SAMPLES). */
  everySamples: number;
  /** Points kept per task (HANAMI_TASK_METRIC_POINTS). */
  maxPoints: number;
}

export const DEFAULT_METRIC_SETTINGS: MetricSettings = { everySamples: 1000, maxPoints: 1000 };

/** A score over some samples. */
export interface WindowScore {
  window: number;
  accuracy?: number;
  rmse?: number;
  mae?: number;
}

type Size = Pick<ClusterStats, 'neurons' | 'synapses' | 'sections' | 'bytes'>;

const round = (x: number, digits: number): number => {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
};

/** The largest output buffer (floats) a train task keeps for its running score: 64 MiB. */
const MAX_SCORED_VALUES = 16 * 1024 * 1024;

/**
 * The running training score: which samples a window covers and how they scored. Sample `s`
 * (counted over all epochs) is row `s % rows`; the buffer holds each row's latest forward pass.
 */
export class TrainingScore {
  /** The buffer the backend writes each trained row's outputs into. */
  readonly outputs: Float32Array;
  private scoredTo = 0;
  private readonly width: number;
  private readonly column: number;
  private readonly size: number;
  private readonly mode: 'class' | 'value' | null;

  private constructor(
    private readonly data: BoundData,
    state: NetworkState,
  ) {
    this.width = outputWidth(state);
    this.outputs = new Float32Array(data.rows * this.width);
    const binding = data.outputMap[0];
    const iface = binding ? state.outputs[binding.group]?.interfaces[binding.iface] : undefined;
    this.column = binding && iface ? interfaceColumn(state, binding.group, iface) : 0;
    this.size = binding?.size ?? 0;
    this.mode = !binding || !iface ? null : binding.source === 'class' && data.labels ? 'class' : data.values ? 'value' : null;
    if (this.mode === 'class') this.size = iface!.size;
  }

  /** A scorer for a bound dataset, or undefined when the outputs would take too much memory
   *  or there is nothing to score against. Create it after binding (the output sizes are set). */
  static for(data: BoundData, state: NetworkState): TrainingScore | undefined {
    if (data.rows * outputWidth(state) > MAX_SCORED_VALUES || data.outputMap.length === 0) return undefined;
    const score = new TrainingScore(data, state);
    return score.mode ? score : undefined;
  }

  /** Scores the samples since the last call, up to `done` (at most the last `rows` of them). */
  take(done: number): WindowScore {
    const rows = this.data.rows;
    const from = Math.max(this.scoredTo, done - rows);
    this.scoredTo = Math.max(this.scoredTo, done);
    const n = done - from;
    if (n <= 0 || rows === 0) return { window: 0 };
    const out = this.outputs;
    const w = this.width;
    if (this.mode === 'class') {
      const labels = this.data.labels!;
      let correct = 0;
      for (let s = from; s < done; s++) {
        const r = s % rows;
        if (argmax(out, r * w + this.column, this.size) === labels[r]) correct++;
      }
      return { window: n, accuracy: round(correct / n, 6) };
    }
    const values = this.data.values!;
    const binding = this.data.outputMap[0]!;
    let sq = 0;
    let abs = 0;
    let count = 0;
    for (let s = from; s < done; s++) {
      const r = s % rows;
      for (let k = 0; k < this.size; k++) {
        const e = out[r * w + this.column + k]! - values[r * this.data.valueWidth + binding.column + k]!;
        if (!Number.isFinite(e)) continue;
        sq += e * e;
        abs += Math.abs(e);
        count++;
      }
    }
    if (count === 0) return { window: 0 };
    return { window: n, rmse: round(Math.sqrt(sq / count), 6), mae: round(abs / count, 6) };
  }
}

export class MetricRecorder {
  private seq = 0;
  private every: number;
  /** Samples done at the last point taken while running (the cadence counts from there). */
  private pointAt = 0;
  private done = 0;
  private total = 0;
  private lastDone = 0;
  private lastTime: number;
  private lastSize: Size = { neurons: 0, synapses: 0, sections: 0, bytes: 0 };
  private kept = 0;
  private ended = false;
  /** Points taken but not yet stored. */
  private readonly pending: MetricPoint[] = [];
  private draining: Promise<void> | undefined;

  constructor(
    private readonly store: Store,
    private readonly events: TaskEvents,
    private readonly task: TaskRecord,
    private readonly settings: MetricSettings,
    private readonly logger: Logger,
  ) {
    this.every = Math.max(1, settings.everySamples);
    this.lastTime = performance.now();
    this.total = task.progress.total;
  }

  /** The backend's progress report (samples done of total). */
  progress = (done: number, total: number): void => {
    this.done = done;
    this.total = total;
  };

  /** Whether the next point is due (the samples since the last one reached the cadence). */
  get due(): boolean {
    return !this.ended && this.done - this.pointAt >= this.every;
  }

  /** Samples done so far, as last reported. */
  get samplesDone(): number {
    return this.done;
  }

  /** Records a point now (call where the network is consistent); `score` covers the samples
   *  since the previous point. */
  record(size: Size, score: WindowScore = { window: 0 }): void {
    if (this.ended) return;
    this.pointAt = this.done;
    this.append(size, score, false);
  }

  /** The final point (once): the samples done, the network's size at the end (or as last
   *  seen), and the task's score (request tasks: over every row). */
  end(size?: Size, score: WindowScore = { window: 0 }, done?: number): void {
    if (this.ended) return;
    if (done !== undefined) this.done = done;
    this.append(size ?? this.lastSize, score, true);
    this.ended = true;
  }

  /** Waits until every point is stored and published. */
  async flush(): Promise<void> {
    while (this.draining) await this.draining;
  }

  private append(size: Size, score: WindowScore, final: boolean): void {
    const now = performance.now();
    const seconds = (now - this.lastTime) / 1000;
    const samples = this.done - this.lastDone;
    const point: MetricPoint = {
      seq: this.seq++,
      time: new Date().toISOString(),
      done: this.done,
      total: this.total,
      samplesPerSecond: seconds > 0 ? Math.round(samples / seconds) : 0,
      window: score.window,
      ...(score.accuracy !== undefined ? { accuracy: score.accuracy } : {}),
      ...(score.rmse !== undefined ? { rmse: score.rmse, mae: score.mae ?? 0 } : {}),
      neurons: size.neurons,
      synapses: size.synapses,
      sections: size.sections,
      bytes: size.bytes,
      final,
    };
    this.lastTime = now;
    this.lastDone = this.done;
    this.lastSize = { neurons: size.neurons, synapses: size.synapses, sections: size.sections, bytes: size.bytes };
    this.pending.push(point);
    this.draining ??= this.drain().finally(() => {
      this.draining = undefined;
    });
  }

  /**
   * Writes the points waiting, one store call at a time, each call taking every point that
   * arrived meanwhile (so a slow store gets fewer, larger writes instead of a growing queue),
   * and publishes each point after the store has it: a follower that reads the store after
   * subscribing sees every point once, in order.
   */
  private async drain(): Promise<void> {
    const { projectId, clusterId, id } = this.task;
    while (this.pending.length > 0) {
      const batch = this.pending.splice(0);
      try {
        const kept = await this.store.tasks.appendMetrics(projectId, id, batch, this.settings.maxPoints);
        // The store halved the series: so does the rate of new points.
        if (kept < this.kept + batch.length) this.every *= 2;
        this.kept = kept;
      } catch (error) {
        // The series is best-effort; the task's own end is not.
        this.logger.warn({ err: error, taskId: id }, 'could not store metric points');
      }
      for (const point of batch) this.events.publish({ type: 'metric', projectId, clusterId, taskId: id, point });
    }
  }
}
