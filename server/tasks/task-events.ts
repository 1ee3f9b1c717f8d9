/**
 * What happens to tasks in this process, as it happens: state changes (queued, running, and
 * the end: finished, failed or cancelled with the record as stored) and metric points. The
 * runtime publishes each after the store has it, so a reader that subscribes first and reads
 * the store second misses nothing (server/io/events.ts does that for Socket.IO followers).
 *
 * Subscriptions are by task or by project; `size` counts them (a follower that leaves must
 * bring it back to where it was).
 */
import type { MetricPoint, TaskRecord } from '../store/types.js';

export type TaskEvent =
  /** The task's record after a state change (its `state` says which). */
  { type: 'state'; task: TaskRecord } | { type: 'metric'; projectId: string; clusterId: string; taskId: string; point: MetricPoint };

export type TaskEventListener = (event: TaskEvent) => void;

function idsOf(event: TaskEvent): { projectId: string; taskId: string } {
  return event.type === 'state' ? { projectId: event.task.projectId, taskId: event.task.id } : event;
}

export class TaskEvents {
  private readonly byKey = new Map<string, Set<TaskEventListener>>();
  private count = 0;

  /** Calls `listener` with every event of the task (`taskId`) or of every task of the
   *  project (`projectId` alone) until the returned function is called. */
  subscribe(scope: { projectId: string; taskId?: string }, listener: TaskEventListener): () => void {
    const key = scope.taskId !== undefined ? `task:${scope.taskId}` : `project:${scope.projectId}`;
    // One entry per subscription, even for the same function twice.
    const entry: TaskEventListener = (event) => listener(event);
    let set = this.byKey.get(key);
    if (!set) this.byKey.set(key, (set = new Set()));
    set.add(entry);
    this.count++;
    let active = true;
    return () => {
      if (!active) return;
      active = false;
      this.count--;
      set.delete(entry);
      if (set.size === 0 && this.byKey.get(key) === set) this.byKey.delete(key);
    };
  }

  /** Subscriptions open now. */
  get size(): number {
    return this.count;
  }

  publish(event: TaskEvent): void {
    const { projectId, taskId } = idsOf(event);
    for (const key of [`task:${taskId}`, `project:${projectId}`]) {
      const set = this.byKey.get(key);
      if (!set) continue;
      // A listener may unsubscribe (itself or another) while this runs.
      for (const listener of [...set]) listener(event);
    }
  }
}
