/**
 * A task while it runs here, and how its end is recorded: `finished` with its result, or
 * `cancelled` / `failed` with the reason, each written only while the task is still
 * `running` under this instance (a compare-and-set: another instance may have ended it).
 * Failures that are not the data's or the user's fault also go to the error log.
 */
import { ignoreFailure } from '../../kernels/background.js';
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { JobCancelled } from '../../kernels/contract.js';
import { BindError } from '../network/cluster.js';
import { CheckpointError } from '../network/checkpoint.js';
import { BackendUnavailableError } from '../network/select-backend.js';
import { DatasetFormatError } from '../datasets/types.js';
import { NotFoundError, type Store, type TaskKind, type TaskRecord, type TaskState } from '../store/types.js';
import { LeaseLostError } from './errors.js';
import type { TaskOutcome } from './runners.js';
import type { TaskEvents } from './task-events.js';

/** What the runtime reports (prom-client metrics implement it). */
export interface RuntimeObserver {
  taskEnded(kind: TaskKind, state: TaskState): void;
  samplesProcessed(kind: TaskKind, samples: number, seconds: number): void;
}

/** Why a running task is being stopped: a cancel by a user, the shutdown, or the lease lost
 *  (then nothing may be saved and the task fails). */
export type StopCause = { cancel: string } | { shutdown: string } | { leaseLost: string };

/** The task this process runs on a cluster now. */
export class RunningTask {
  private readonly abort = new AbortController();
  private cause: StopCause | undefined;
  /** Settles when the run is over (its end recorded). */
  readonly finished: Promise<void>;
  readonly settle: () => void;

  constructor(readonly taskId: string) {
    let settle!: () => void;
    this.finished = new Promise<void>((resolve) => (settle = resolve));
    this.settle = settle;
  }

  get signal(): AbortSignal {
    return this.abort.signal;
  }

  /** Stops the task at its next slice. A lost lease outweighs any other cause, the shutdown
   *  a user's cancel; otherwise the first cause stays. */
  stop(cause: StopCause): void {
    if ('leaseLost' in cause || this.cause === undefined || ('shutdown' in cause && 'cancel' in this.cause)) this.cause = cause;
    this.abort.abort();
  }

  /** Why the lease was lost, if that stopped it. */
  get leaseLost(): string | undefined {
    return this.cause && 'leaseLost' in this.cause ? this.cause.leaseLost : undefined;
  }

  /** The reason a cancelled task shows. */
  get stopReason(): string | undefined {
    if (!this.cause || 'leaseLost' in this.cause) return undefined;
    return 'cancel' in this.cause ? this.cause.cancel : this.cause.shutdown;
  }
}

const now = (): string => new Date().toISOString();

/** Errors that bad data or a bad mapping cause: their message is the whole story. */
function isInputError(error: unknown): boolean {
  return error instanceof BindError || error instanceof DatasetFormatError || error instanceof CheckpointError || error instanceof BackendUnavailableError || error instanceof NotFoundError;
}

function describeFailure(error: unknown): string {
  if (isInputError(error)) return (error as Error).message;
  return `internal error: ${error instanceof Error ? error.message : String(error)}`;
}

export class TaskEnd {
  constructor(
    private readonly store: Store,
    private readonly instanceId: string,
    private readonly logger: Logger,
    private readonly observer: RuntimeObserver | undefined,
    private readonly events: TaskEvents,
  ) {}

  /** Only while the task runs here. */
  private get mine(): { states: ['running']; runBy: string } {
    return { states: ['running'], runBy: this.instanceId };
  }

  progress(task: TaskRecord, done: number, total: number): Promise<unknown> {
    return this.store.tasks.updateIf(task.projectId, task.id, this.mine, { progress: { done, total } });
  }

  async finished(task: TaskRecord, outcome: TaskOutcome & { ended: 'finished' }, resultBlobId: string | null): Promise<void> {
    const ended = await this.store.tasks.updateIf(task.projectId, task.id, this.mine, {
      state: 'finished',
      progress: { done: outcome.samples, total: outcome.samples },
      result: outcome.result,
      resultBlobId,
      finishedAt: now(),
    });
    if (!ended) {
      this.logger.warn({ taskId: task.id }, 'a task finished after another instance had ended it; its result is dropped');
      if (resultBlobId) await ignoreFailure(this.store.blobs.delete(resultBlobId), 'an orphan result blob is only space');
      return;
    }
    this.events.publish({ type: 'state', task: ended });
    this.observer?.taskEnded(task.kind, 'finished');
    this.observer?.samplesProcessed(task.kind, outcome.samples, outcome.seconds);
  }

  /** Records a run that ended with `error`: cancelled (a cancel or the shutdown stopped it)
   *  or failed (the lease was lost, or anything else went wrong). */
  async stopped(task: TaskRecord, error: unknown, running: RunningTask): Promise<void> {
    const leaseLost = running.leaseLost ?? (error instanceof LeaseLostError ? error.message : undefined);
    const cancelled = leaseLost === undefined && (error instanceof JobCancelled || running.signal.aborted);
    const state: TaskState = cancelled ? 'cancelled' : 'failed';
    const message = leaseLost !== undefined ? new LeaseLostError(task.clusterId, leaseLost).message : cancelled ? (running.stopReason ?? 'cancelled') : describeFailure(error);
    if (!cancelled && leaseLost === undefined) await this.reportFailure(task, error, message);
    const ended = await this.store.tasks
      .updateIf(task.projectId, task.id, this.mine, { state, error: message, finishedAt: now() })
      .catch((e: unknown) => this.logger.error({ err: e, taskId: task.id }, 'could not record the end of a task'));
    if (ended) {
      this.events.publish({ type: 'state', task: ended });
      this.observer?.taskEnded(task.kind, state);
    }
  }

  private async reportFailure(task: TaskRecord, error: unknown, message: string): Promise<void> {
    const expected = isInputError(error);
    if (!expected) this.logger.error({ err: error, taskId: task.id }, 'task failed');
    await this.store.errors
      .append({
        id: randomUUID(),
        time: now(),
        userId: task.createdBy,
        projectId: task.projectId,
        requestId: null,
        component: 'task',
        message: `task ${task.id} (${task.kind}) failed: ${message}`,
        detail: expected ? '' : error instanceof Error ? (error.stack ?? error.message) : String(error),
      })
      .catch((e: unknown) => this.logger.error({ err: e }, 'could not write the error log'));
  }
}
