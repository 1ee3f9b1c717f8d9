/**
 * Checkpoints: byte-identical round trips, and damaged or foreign files rejected with a
 * clear error.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { ExecutionContext } from '../../../cpu-fallback/context.js';
import { predictRows, trainRows } from '../../../cpu-fallback/engine.js';
import { outputWidth } from '../../../kernels/contract.js';
import { loadMnist8k } from '../../../server/datasets/mnist8k.js';
import { CheckpointError, decodeCheckpoint, readCheckpointMeta } from '../../../server/network/checkpoint.js';
import { Cluster, DEFAULT_TEMPLATE } from '../../../server/network/cluster.js';

const data = await loadMnist8k();

function trained(rows = 1500, template = DEFAULT_TEMPLATE): Cluster {
  const cluster = Cluster.create(template, 7);
  const bound = cluster.bind(data.train);
  trainRows(new ExecutionContext(cluster.state), cluster.state, bound, 0, rows);
  return cluster;
}

function predictions(cluster: Cluster, rows = 300): Float32Array {
  const bound = cluster.bind(data.test, { readOnly: true });
  const out = new Float32Array(rows * outputWidth(cluster.state));
  predictRows(new ExecutionContext(cluster.state), cluster.state, bound, 0, rows, out);
  return out;
}

/** Rewrites the trailing SHA-256 so a tampered body passes the checksum. */
function resign(file: Buffer): Buffer {
  const body = file.subarray(0, file.length - 32);
  return Buffer.concat([body, createHash('sha256').update(body).digest()]);
}

test('save → restore → save gives identical bytes and the restored network answers identically', () => {
  const cluster = trained();
  const first = cluster.checkpoint({ name: 'digits' });
  const { cluster: restored, meta } = Cluster.fromCheckpoint(first);
  assert.equal(meta.labels?.name, 'digits');
  assert.equal(meta.template, cluster.templateText);
  const second = restored.checkpoint({ name: 'digits' });
  assert.ok(first.equals(second), 'checkpoint bytes differ after a round trip');
  assert.deepEqual(predictions(restored), predictions(cluster));
  assert.deepEqual(restored.stats(), cluster.stats());
});

test('a restored network keeps training exactly like the original', () => {
  const a = trained(800);
  const b = Cluster.fromCheckpoint(a.checkpoint()).cluster;
  for (const c of [a, b]) {
    const bound = c.bind(data.train);
    trainRows(new ExecutionContext(c.state), c.state, bound, 800, 1600);
  }
  assert.ok(a.checkpoint().equals(b.checkpoint()));
});

test('an empty (untrained) network round-trips too', () => {
  const cluster = Cluster.create(DEFAULT_TEMPLATE, 3);
  const bytes = cluster.checkpoint();
  assert.ok(Cluster.fromCheckpoint(bytes).cluster.checkpoint().equals(bytes));
});

test('truncated checkpoints are rejected at every length', () => {
  const file = trained(300).checkpoint();
  for (const length of [0, 10, 47, 100, Math.floor(file.length / 2), file.length - 1]) {
    assert.throws(() => decodeCheckpoint(file.subarray(0, length)), CheckpointError, `length ${length}`);
  }
});

test('a flipped byte anywhere is detected by the checksum', () => {
  const file = trained(300).checkpoint();
  for (const at of [20, 200, Math.floor(file.length / 2), file.length - 40, file.length - 1]) {
    const bad = Buffer.from(file);
    bad[at] = bad[at]! ^ 0x40;
    assert.throws(
      () => decodeCheckpoint(bad),
      (e: unknown) => e instanceof CheckpointError && /checksum|magic|version|truncated/.test(e.message),
      `offset ${at}`,
    );
  }
});

test('foreign files are rejected by their magic bytes, other versions by the version', () => {
  const png = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(200)]);
  assert.throws(() => decodeCheckpoint(png), /wrong magic/);
  assert.throws(() => decodeCheckpoint(Buffer.from('{"not":"a checkpoint"}'.padEnd(100))), /not a Hanami checkpoint/);
  const file = Buffer.from(trained(300).checkpoint());
  file.writeUInt32LE(99, 8);
  assert.throws(() => decodeCheckpoint(resign(file)), /unsupported checkpoint version 99/);
});

test('a correctly signed but inconsistent checkpoint is rejected, not trusted', () => {
  const file = Buffer.from(trained(300).checkpoint());
  const headerLength = file.readUInt32LE(12);
  const header = JSON.parse(file.subarray(16, 16 + headerLength).toString('utf8')) as { hexagons: { blocks: number }[] };
  // Claim the hidden hexagon has no blocks: its sections' targets would point nowhere.
  const tampered = { ...header, hexagons: header.hexagons.map((h, i) => (i === 1 ? { ...h, blocks: 0 } : h)) };
  const json = Buffer.from(JSON.stringify(tampered));
  const prefix = Buffer.from(file.subarray(0, 16));
  prefix.writeUInt32LE(json.length, 12);
  const rest = file.subarray(16 + headerLength, file.length - 32);
  // Keep the buffers 8-byte aligned as the encoder does.
  const pad = (n: number): number => (8 - (n % 8)) % 8;
  const oldPad = pad(16 + headerLength);
  const body = Buffer.concat([prefix, json, Buffer.alloc(pad(16 + json.length)), rest.subarray(oldPad)]);
  assert.throws(() => decodeCheckpoint(resign(Buffer.concat([body, Buffer.alloc(32)]))), CheckpointError);
  assert.throws(() => readCheckpointMeta(resign(Buffer.concat([prefix.subarray(0, 16), Buffer.from('not json'), Buffer.alloc(32)]))), CheckpointError);
});
