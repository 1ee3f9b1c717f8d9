/**
 * Two-thread training teams (cpu-fallback/team.ts): a late partner never holds the leader up.
 * The leader trains on this thread; the partner is a real worker running the real partner
 * loop, held at a gate by the test. Counted work, no timing: the counters say who walked
 * lane 1, and the network is byte-identical to one thread's whoever did.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { MessageChannel, Worker } from 'node:worker_threads';
import { ExecutionContext } from '../../cpu-fallback/context.js';
import { trainRows } from '../../cpu-fallback/engine.js';
import { type PartnerReport, TeamLeader, newTeamSync } from '../../cpu-fallback/team.js';
import { Cluster, DEFAULT_TEMPLATE } from '../../server/network/cluster.js';
import { loadMnist8k } from '../../server/datasets/mnist8k.js';

const data = await loadMnist8k();
const ROWS = 1500;

function oneThread(seed: number): { checkpoint: Buffer; visits: number } {
  const cluster = Cluster.create(DEFAULT_TEMPLATE, seed);
  const ctx = new ExecutionContext(cluster.state);
  trainRows(ctx, cluster.state, cluster.bind(data.train), 0, ROWS);
  return { checkpoint: cluster.checkpoint(), visits: ctx.visits };
}

interface TeamRun {
  checkpoint: Buffer;
  visits: number;
  leader: TeamLeader;
  partner: PartnerReport;
}

/** Trains ROWS rows with a team whose partner is released before the slice (`late: false`)
 *  or only after the leader has finished it (`late: true`). */
async function withTeam(seed: number, late: boolean): Promise<TeamRun> {
  const cluster = Cluster.create(DEFAULT_TEMPLATE, seed);
  const sync = newTeamSync();
  const gate = new Int32Array(new SharedArrayBuffer(4));
  const { port1, port2 } = new MessageChannel();
  const worker = new Worker(new URL('./stalled-partner.js', import.meta.url), { workerData: { gate, sync, port: port2 }, transferList: [port2] });
  try {
    await once(worker, 'online');
    const open = (): void => {
      Atomics.store(gate, 0, 1);
      Atomics.notify(gate, 0);
    };
    if (!late) open();
    const leader = new TeamLeader(sync, port1);
    const ctx = new ExecutionContext(cluster.state);
    try {
      trainRows(ctx, cluster.state, cluster.bind(data.train), 0, ROWS, leader);
    } finally {
      leader.stop();
    }
    open();
    const [partner] = (await once(worker, 'message')) as [PartnerReport];
    return { checkpoint: cluster.checkpoint(), visits: ctx.visits + leader.laneOneVisits + partner.visits, leader, partner };
  } finally {
    await worker.terminate();
  }
}

test('a stalled partner: the leader takes its lane over, finishes the slice alone, and the counters say so', async () => {
  const solo = oneThread(31);
  const run = await withTeam(31, true);
  const c = run.leader.counters;
  assert.equal(c.fallbacks, 1, 'one fallback: the first phase found the partner not running');
  assert.equal(c.partnerPhases, 0, 'the stalled partner ran nothing');
  // From the takeover on, the leader walked lane 1 of that sample: forward and backward.
  assert.ok(c.leaderPhases > 0 && c.leaderPhases % 2 === 0, `lane-1 phases walked by the leader: ${c.leaderPhases}`);
  assert.ok(c.soloSamples > ROWS / 2, `then the slice ran on one thread: ${c.soloSamples} samples`);
  assert.equal(run.partner.phases, 0);
  // Released afterwards, it went straight to the stop (the phase it missed was claimed and
  // superseded) and answered: the pool's worker is free again.
  assert.ok(run.checkpoint.equals(solo.checkpoint), 'byte-identical to one thread');
  assert.equal(run.visits, solo.visits, 'the same synapses visited');
});

test('a running partner walks lane 1; the network is byte-identical to one thread either way', async () => {
  const solo = oneThread(32);
  const run = await withTeam(32, false);
  const c = run.leader.counters;
  // On a busy machine the partner may be descheduled and the leader take over: both are fine,
  // and every lane-1 phase was walked by exactly one of them.
  assert.ok(c.partnerPhases + c.leaderPhases > 0, 'the team had lane-1 phases');
  assert.equal(run.partner.phases, c.partnerPhases, 'the partner ran exactly the phases the leader counted as its');
  assert.ok(c.fallbacks <= 1);
  assert.ok(run.checkpoint.equals(solo.checkpoint), 'byte-identical to one thread');
  assert.equal(run.visits, solo.visits, 'the same synapses visited');
});
