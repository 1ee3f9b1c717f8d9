/**
 * Two threads training one network together: the leader runs a sample's serial steps and
 * lane 0 of every section walk, the partner runs lane 1 of the walks. They meet at a barrier
 * made of counters in shared memory (spin briefly, then sleep on Atomics.wait), so a parallel
 * phase costs well under a microsecond of hand-off when both cores are free, where a
 * postMessage round trip costs 30–50 µs on this kind of machine.
 *
 * Lanes partition sections by id, each lane accumulating separately, so the team computes
 * exactly what one thread computes alone.
 *
 * **A late partner never holds the leader up.** Every forward phase is claimed by whoever
 * gets to it first (a compare-and-swap on CLAIM): the partner when it is running, or the
 * leader once its own lane is done. When the leader wins, the partner was not running (another
 * process has its core, or it fell asleep): the leader walks lane 1 itself, with a lane-1
 * context of its own, and runs the rest of the slice solo (lane −1, one thread's path). Only
 * the backward phases of walks the partner already did in the current sample must still be
 * the partner's (its walk log holds them), so a takeover waits for the partner at most once,
 * for the rest of one sample. The result is the same bit for bit whoever walks a lane.
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
const CLAIM = 6; // last sequence number somebody claimed (compare-and-swap from seq − 1)
export const TEAM_SYNC_WORDS = 8;

export const TeamCommand = {
  forward: 1,
  /** First forward phase of a sample: the partner also clears its walk log. */
  forwardFirst: 2,
  backward: 3,
  stop: 4,
} as const;

/** Who walked lane 1 of a hexagon in the current sample. */
export const Walker = { none: 0, partner: 1, leader: 2 } as const;

/** Iterations of busy-waiting before sleeping: the partner waiting for the next phase (a few
 *  tens of microseconds, longer than a sample's serial steps), the leader waiting for a phase
 *  the partner claimed (a phase's walk takes microseconds; past that, the partner was
 *  descheduled mid-phase and spinning would only burn the slice it needs). */
const PARTNER_SPIN = 200000;
const LEADER_SPIN = 20000;

function waitForDone(sync: Int32Array, seq: number): void {
  for (let i = 0; i < LEADER_SPIN; i++) if (Atomics.load(sync, DONE) === seq) return;
  for (;;) {
    const now = Atomics.load(sync, DONE);
    if (now === seq || Atomics.load(sync, FAILED) !== 0) return;
    Atomics.wait(sync, DONE, now, 50);
  }
}

/** Waits until the leader posts a sequence number other than `last`; returns it. */
function waitForPost(sync: Int32Array, last: number): number {
  for (let i = 0; i < PARTNER_SPIN; i++) {
    const now = Atomics.load(sync, SEQ);
    if (now !== last) return now;
  }
  for (;;) {
    const now = Atomics.load(sync, SEQ);
    if (now !== last) return now;
    Atomics.wait(sync, SEQ, now, 50);
  }
}

/** Claims phase `seq` for the caller; false when the other thread already has it. */
function claim(sync: Int32Array, seq: number): boolean {
  return Atomics.compareExchange(sync, CLAIM, seq - 1, seq) === seq - 1;
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

/** What a team did in one slice (counted, for reports and tests). */
export interface TeamCounters {
  /** Lane-1 phases the partner ran. */
  partnerPhases: number;
  /** Lane-1 phases the leader ran itself after taking over. */
  leaderPhases: number;
  /** 1 when the leader found the partner late and ran the rest of the slice solo. */
  fallbacks: number;
  /** Samples the leader trained alone after the fallback. */
  soloSamples: number;
}

/** Lane-1 contexts of leaders, per leader context (reused across slices). */
const laneOneContexts = new WeakMap<ExecutionContext, ExecutionContext>();

/** The leader's side: issues phases, runs lane 0, publishes layout changes, and takes lane 1
 *  over when the partner is late. */
export class TeamLeader {
  private seq = 0;
  private published = -1;
  private layout: unknown[] = [];
  /** Set once the partner was late: the rest of the slice runs on this thread alone. */
  solo = false;
  readonly counters: TeamCounters = { partnerPhases: 0, leaderPhases: 0, fallbacks: 0, soloSamples: 0 };
  /** Synapses the leader visited in lane 1 (its own lane-1 context). */
  laneOneVisits = 0;
  private laneOne: ExecutionContext | undefined;

  constructor(
    private readonly sync: Int32Array,
    private readonly port: MessagePort,
  ) {}

  private post(command: number, hexagon: number): number {
    const sync = this.sync;
    sync[CMD] = command;
    sync[HEX] = hexagon;
    const seq = ++this.seq;
    Atomics.store(sync, SEQ, seq);
    Atomics.notify(sync, SEQ, 1);
    return seq;
  }

  private waitFor(seq: number): void {
    waitForDone(this.sync, seq);
    if (Atomics.load(this.sync, FAILED) !== 0) throw new TeamFailed('the partner thread of a training team failed');
  }

  /** Forward walk of `hexagon`: this thread runs lane 0 (`own`), lane 1 goes to whoever
   *  claims it first. Returns who walked lane 1. */
  forward(ctx: ExecutionContext, state: NetworkState, hexagon: number, first: boolean, own: () => void): number {
    if (this.solo) {
      own();
      this.walkLaneOne(ctx, state, hexagon, 'forward');
      return Walker.leader;
    }
    const seq = this.post(first ? TeamCommand.forwardFirst : TeamCommand.forward, hexagon);
    own();
    if (claim(this.sync, seq)) {
      // The partner has not started: it is not running. Do its share, and go on alone.
      this.solo = true;
      this.counters.fallbacks++;
      this.walkLaneOne(ctx, state, hexagon, 'forward');
      return Walker.leader;
    }
    this.waitFor(seq);
    this.counters.partnerPhases++;
    return Walker.partner;
  }

  /** Backward walk of `hexagon`, lane 1 by whoever walked it forward (its walk log). */
  backward(ctx: ExecutionContext, state: NetworkState, hexagon: number, walker: number, own: () => void): void {
    if (walker === Walker.leader) {
      own();
      this.walkLaneOne(ctx, state, hexagon, 'backward');
      return;
    }
    const seq = this.post(TeamCommand.backward, hexagon);
    own();
    this.waitFor(seq);
    this.counters.partnerPhases++;
  }

  private walkLaneOne(ctx: ExecutionContext, state: NetworkState, hexagon: number, direction: 'forward' | 'backward'): void {
    let c = this.laneOne;
    if (!c) {
      // Over the leader's shared scratch; its own walk log starts empty for this sample.
      c = laneOneContexts.get(ctx);
      if (c) c.fit(state);
      else {
        c = ExecutionContext.teamMember(state, ctx.shared(), 1);
        laneOneContexts.set(ctx, c);
      }
      c.adopt(ctx.shared());
      c.lane = 1;
      c.log.count = 0;
      this.laneOne = c;
    }
    const before = c.visits;
    if (direction === 'forward') forwardSections(c, state, hexagon, true);
    else backwardSections(c, state, hexagon);
    this.laneOneVisits += c.visits - before;
    this.counters.leaderPhases++;
  }

  /** A sample ended: after a fallback, the next ones run on one thread (lane −1). */
  endSample(): void {
    this.laneOne = undefined;
  }

  /** Tells the partner about replaced buffers (after growth); cheap when nothing changed. */
  publish(state: NetworkState, ctx: ExecutionContext): void {
    if (this.solo) return;
    const layout = layoutRefs(state);
    if (ctx.generation === this.published && sameRefs(layout, this.layout)) return;
    this.published = ctx.generation;
    this.layout = layout;
    const generation = Atomics.load(this.sync, GEN) + 1;
    const msg: LayoutMessage = { state, shared: ctx.shared(), generation };
    this.port.postMessage(msg);
    Atomics.store(this.sync, GEN, generation);
  }

  /** Releases the partner. Does not wait for it: no phase of it is in flight (every phase it
   *  claimed was waited for), and the pool counts it busy until it answers. */
  stop(): void {
    try {
      if (Atomics.load(this.sync, FAILED) === 0) this.post(TeamCommand.stop, 0);
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

/** What the partner did in a slice. */
export interface PartnerReport {
  visits: number;
  /** Phases it ran. */
  phases: number;
  /** Phases the leader had already taken when it got to them. */
  missed: number;
}

/**
 * The partner's side: blocks this worker until the leader says stop, running lane 1 of every
 * phase it claims.
 */
export function runPartner(sync: Int32Array, port: MessagePort): PartnerReport {
  let generation = 0;
  let state: NetworkState | undefined;
  let ctx: ExecutionContext | undefined;
  let last = 0;
  const report: PartnerReport = { visits: 0, phases: 0, missed: 0 };
  try {
    for (;;) {
      const seq = waitForPost(sync, last);
      last = seq;
      if (!claim(sync, seq)) {
        report.missed++;
        continue;
      }
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
      report.phases++;
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
    if (ctx) report.visits = ctx.visits;
  }
  return report;
}

/** Marks a team as failed from outside (its partner thread died). */
export function failTeam(sync: Int32Array): void {
  Atomics.store(sync, FAILED, 1);
  Atomics.notify(sync, DONE);
}

export function newTeamSync(): Int32Array {
  return new Int32Array(new SharedArrayBuffer(TEAM_SYNC_WORDS * 4));
}
