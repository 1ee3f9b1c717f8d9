/**
 * Worker thread of the CPU backend: runs slices of training or inference on a network whose
 * buffers are shared with the main thread. Messages in: `train` / `predict` slices; out:
 * `done` (with the network state, whose metadata may have changed through growth) or
 * `error`.
 */
import { type MessagePort, parentPort } from 'node:worker_threads';
import { type BoundData, outputWidth } from '../kernels/contract.js';
import type { NetworkState } from '../kernels/state.js';
import { ExecutionContext } from './context.js';
import { predictRows, trainRows } from './engine.js';
import { type TeamCounters, TeamLeader, runPartner } from './team.js';

/** A second thread helping with a training slice: shared barrier words and a port from the
 *  leader (layout updates). */
export interface TeamLink {
  sync: Int32Array;
  port: MessagePort;
}

export type WorkerRequest =
  | { type: 'train'; id: number; key: string; state: NetworkState; data: BoundData; from: number; to: number; outputs: boolean; team?: TeamLink }
  | { type: 'predict'; id: number; key: string; state: NetworkState; data: BoundData; from: number; to: number }
  | { type: 'join'; id: number; team: TeamLink };

export type WorkerReply =
  { type: 'done'; id: number; state?: NetworkState; outputs?: Float32Array; visits: number; seconds: number; team?: TeamCounters } | { type: 'error'; id: number; message: string };

/** Scratch contexts per network, kept for the next slice (bounded, oldest dropped). */
const contexts = new Map<string, ExecutionContext>();
const MAX_CONTEXTS = 16;

function contextFor(key: string, state: NetworkState): ExecutionContext {
  let ctx = contexts.get(key);
  if (ctx) {
    contexts.delete(key);
    ctx.fit(state);
  } else {
    ctx = new ExecutionContext(state);
  }
  contexts.set(key, ctx);
  if (contexts.size > MAX_CONTEXTS) contexts.delete(contexts.keys().next().value!);
  return ctx;
}

function handle(msg: WorkerRequest): WorkerReply {
  const started = performance.now();
  if (msg.type === 'join') {
    const { visits } = runPartner(msg.team.sync, msg.team.port);
    return { type: 'done', id: msg.id, visits, seconds: (performance.now() - started) / 1000 };
  }
  const ctx = contextFor(msg.key, msg.state);
  const visitsBefore = ctx.visits;
  if (msg.type === 'train') {
    const team = msg.team ? new TeamLeader(msg.team.sync, msg.team.port) : undefined;
    const outputs = msg.outputs ? new Float32Array((msg.to - msg.from) * outputWidth(msg.state)) : undefined;
    try {
      trainRows(ctx, msg.state, msg.data, msg.from, msg.to, team, outputs);
    } finally {
      team?.stop();
    }
    const visits = ctx.visits - visitsBefore + (team?.laneOneVisits ?? 0);
    return {
      type: 'done',
      id: msg.id,
      state: msg.state,
      ...(outputs ? { outputs } : {}),
      visits,
      seconds: (performance.now() - started) / 1000,
      ...(team ? { team: team.counters } : {}),
    };
  }
  const outputs = new Float32Array((msg.to - msg.from) * outputWidth(msg.state));
  predictRows(ctx, msg.state, msg.data, msg.from, msg.to, outputs);
  return { type: 'done', id: msg.id, outputs, visits: ctx.visits - visitsBefore, seconds: (performance.now() - started) / 1000 };
}

parentPort!.on('message', (msg: WorkerRequest) => {
  let reply: WorkerReply;
  try {
    reply = handle(msg);
  } catch (e) {
    reply = { type: 'error', id: msg.id, message: e instanceof Error ? `${e.message}\n${e.stack ?? ''}` : String(e) };
  }
  if (reply.type === 'done' && reply.outputs) parentPort!.postMessage(reply, [reply.outputs.buffer as ArrayBuffer]);
  else parentPort!.postMessage(reply);
});
