/**
 * Two threads training one network together: the leader runs a sample's serial steps and
 * lane 0 of every section walk, the partner runs lane 1 of the walks. They meet at a barrier
 * made of two counters in shared memory (spin briefly, then sleep on Atomics.wait), so a
 * parallel phase costs well under a microsecond of hand-off when both cores are free, where a
 * postMessage round trip costs 30–50 µs on this kind of machine.
 *
 * Lanes partition sections by id, each lane accumulating separately, so the team computes
 * exactly what one thread computes alone.
 */
import { type MessagePort, receiveMessageOnPort } from 'node:worker_threads';
import type { NetworkState } from '../kernels/state.js';
import { ExecutionContext, type SharedScratch } from './context.js';
import { backwardSections, forwardSections } from './steps.js';

/** Indices into the team's Int32Array in shared memory. */
const SEQ = 0; // command sequence number, bumped by the leader
const CMD = 1;
const HEX = 2;
const DONE = 3; // last sequence number the partner finished
const GEN = 4; // layout generation the leader published
const FAILED = 5; // set by the partner (or the pool) when the partner cannot go on
export const TEAM_SYNC_WORDS = 8;

export const TeamCommand = {
  forward: 1,
  /** First forward phase of a sample: the partner also clears its walk log. */
  forwardFirst: 2,
  backward: 3,
  stop: 4,
} as const;

/** Iterations of busy-waiting before sleeping (a few tens of microseconds). */
const SPIN = 200000;

function waitForValue(sync: Int32Array, index: number, value: number): void {
  for (let i = 0; i < SPIN; i++) if (Atomics.load(sync, index) === value) return;
  for (;;) {
    const now = Atomics.load(sync, index);
    if (now === value) return;
    if (index === DONE && Atomics.load(sync, FAILED) !== 0) return;
    Atomics.wait(sync, index, now, 50);
  }
}

export class TeamFailed extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TeamFailed';
  }
}

interface LayoutMessage {
  state: NetworkState;
  shared: SharedScratch;
  generation: number;
}

/** The leader's side: issues phases, runs lane 0, publishes layout changes. */
export class TeamLeader {
  private seq = 0;
  private published = -1;
  private layout: unknown[] = [];

  constructor(
    private readonly sync: Int32Array,
    private readonly port: MessagePort,
  ) {}

  /** Runs one parallel phase: the partner runs lane 1 while this thread runs `own`. */
  run(command: number, hexagon: number, own: () => void): void {
    const sync = this.sync;
    sync[CMD] = command;
    sync[HEX] = hexagon;
    const seq = ++this.seq;
    Atomics.store(sync, SEQ, seq);
    Atomics.notify(sync, SEQ, 1);
    own();
    waitForValue(sync, DONE, seq);
    if (Atomics.load(sync, FAILED) !== 0) throw new TeamFailed('the partner thread of a training team failed');
  }

  /** Tells the partner about replaced buffers (after growth); cheap when nothing changed. */
  publish(state: NetworkState, ctx: ExecutionContext): void {
    const layout = layoutRefs(state);
    if (ctx.generation === this.published && sameRefs(layout, this.layout)) return;
    this.published = ctx.generation;
    this.layout = layout;
    const generation = Atomics.load(this.sync, GEN) + 1;
    const msg: LayoutMessage = { state, shared: ctx.shared(), generation };
    this.port.postMessage(msg);
    Atomics.store(this.sync, GEN, generation);
  }

  stop(): void {
    try {
      this.run(TeamCommand.stop, 0, () => {});
    } finally {
      this.port.close();
    }
  }
}

/** The buffers the partner reads, by identity: any replacement (a new page, compaction,
 *  a grown table) must be published. */
function layoutRefs(state: NetworkState): unknown[] {
  return [state.pages, state.pages.length, state.sectionsI32, ...state.hexagons.map((h) => h.neuronsI32)];
}

function sameRefs(a: unknown[], b: unknown[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function receiveLayout(port: MessagePort, generation: number): LayoutMessage {
  for (;;) {
    const got = receiveMessageOnPort(port);
    if (got) {
      const msg = got.message as LayoutMessage;
      if (msg.generation >= generation) return msg;
      continue;
    }
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
  }
}

/**
 * The partner's side: blocks this worker until the leader says stop, running lane 1 of every
 * phase. Returns the synapses it visited.
 */
export function runPartner(sync: Int32Array, port: MessagePort): number {
  let generation = 0;
  let state: NetworkState | undefined;
  let ctx: ExecutionContext | undefined;
  let last = 0;
  let visits = 0;
  try {
    for (;;) {
      const seq = last + 1;
      waitForValue(sync, SEQ, seq);
      last = seq;
      const command = sync[CMD]!;
      if (command === TeamCommand.stop) {
        Atomics.store(sync, DONE, seq);
        Atomics.notify(sync, DONE, 1);
        break;
      }
      const wanted = Atomics.load(sync, GEN);
      if (wanted !== generation || !state || !ctx) {
        const msg = receiveLayout(port, wanted);
        generation = msg.generation;
        state = msg.state;
        if (ctx) ctx.adopt(msg.shared);
        else ctx = ExecutionContext.teamMember(state, msg.shared, 1);
      }
      const hexagon = sync[HEX]!;
      if (command === TeamCommand.forwardFirst) ctx.log.count = 0;
      if (command === TeamCommand.backward) backwardSections(ctx, state, hexagon);
      else forwardSections(ctx, state, hexagon, true);
      Atomics.store(sync, DONE, seq);
      Atomics.notify(sync, DONE, 1);
    }
  } catch (e) {
    Atomics.store(sync, FAILED, 1);
    Atomics.store(sync, DONE, last);
    Atomics.notify(sync, DONE, 1);
    throw e;
  } finally {
    port.close();
    if (ctx) visits = ctx.visits;
  }
  return visits;
}

/** Marks a team as failed from outside (its partner thread died). */
export function failTeam(sync: Int32Array): void {
  Atomics.store(sync, FAILED, 1);
  Atomics.notify(sync, DONE);
}

export function newTeamSync(): Int32Array {
  return new Int32Array(new SharedArrayBuffer(TEAM_SYNC_WORDS * 4));
}
