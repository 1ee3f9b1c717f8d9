/**
 * A task whose data cannot fit its cluster is refused before it is queued (422), not queued
 * to fail later: request tasks on data of another width than the network learned (judged on
 * the network in memory, on a saved state's header, on a fresh cluster, and on the network the
 * train tasks queued ahead will leave), and train tasks whose binding cannot grow the network.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_TEMPLATE } from '../../../server/network/cluster.js';
import { assertProblem, createProject, num, str, type Client, type TestService, startTestService, waitFor } from './helpers.js';
import { tinyCsv, uploadCsv } from './fixtures.js';
import { createCluster, createDataset, runTask } from './workflow.js';

describe('tasks whose data cannot fit the cluster', () => {
  let t: TestService;
  let user: Client;
  let project: string;
  let P: string;
  /** Two input columns, two classes. */
  let two: string;
  /** Three input columns, two classes. */
  let three: string;
  /** Two input columns, one value target. */
  let values: string;

  const tasks = (cluster: string): string => `${P}/clusters/${cluster}/tasks`;
  const queued = async (cluster: string): Promise<number> => num(await user.expect(200, 'GET', tasks(cluster)), 'total');

  before(async () => {
    t = await startTestService();
    user = t.admin;
    project = await createProject(user, 'fit');
    P = `/v1/projects/${project}`;
    const csv = async (name: string, text: string, options: Record<string, unknown>): Promise<string> => {
      const id = await createDataset(user, project, { name, format: 'csv', ...options });
      await uploadCsv(user, project, id, text);
      return id;
    };
    two = await csv('two', tinyCsv(), { labelColumn: 'label' });
    three = await csv('three', 'a,b,c,label\n1,2,3,x\n4,5,6,y\n', { labelColumn: 'label' });
    values = await csv('values', 'a,b,v\n1,2,3\n4,5,6\n', { targetColumns: ['v'] });
  });
  after(() => t.close());

  it('a request task on a cluster that has not learned: 422 width_mismatch', async () => {
    const cluster = await createCluster(user, project, { name: 'fresh', template: DEFAULT_TEMPLATE });
    const p = assertProblem(await user.post(tasks(cluster), { kind: 'request', datasetId: two }), 422, 'width_mismatch');
    assert.equal(p.field, '/body/datasetId');
    assert.match(String(p.detail), /input "input" has not learned yet \(it takes 0 values\), so it cannot predict from dataset "two"'s 2 columns: train the cluster first/);
    assert.equal(await queued(cluster), 0, 'nothing was queued');
  });

  it('judges a request by the network the train tasks ahead of it will leave', async () => {
    const cluster = await createCluster(user, project, { name: 'queue', template: DEFAULT_TEMPLATE });
    const train = await user.expect(202, 'POST', tasks(cluster), { json: { kind: 'train', datasetId: two } });
    await user.expect(202, 'POST', tasks(cluster), { json: { kind: 'request', datasetId: two } });
    const p = assertProblem(await user.post(tasks(cluster), { kind: 'request', datasetId: three }), 422, 'width_mismatch');
    assert.match(String(p.detail), /input "input" takes 2 values \(the width it learned\), but dataset "three" gives it 3 columns \(columns 0\.\.2\) \(\/body\/datasetId\)/);
    await waitFor(
      () => user.expect(200, 'GET', `${tasks(cluster)}/${str(train, 'id')}`),
      (x) => x.state === 'finished',
      'the train task',
    );
    assert.equal(await queued(cluster), 2, 'the refused one was not stored');
  });

  it('a request task on data of another width than the network learned: 422 naming both widths and the field', async () => {
    const cluster = await createCluster(user, project, { name: 'trained', template: DEFAULT_TEMPLATE });
    await runTask(user, project, cluster, { kind: 'train', datasetId: two });
    // The network is in this process's memory now.
    const p = assertProblem(await user.post(tasks(cluster), { kind: 'request', datasetId: three }), 422, 'width_mismatch');
    assert.equal(p.field, '/body/datasetId');
    assert.match(String(p.detail), /takes 2 values .* gives it 3 columns/);
    const mapped = assertProblem(await user.post(tasks(cluster), { kind: 'request', datasetId: three, inputs: [{ name: 'input', column: 1, size: 1 }] }), 422, 'width_mismatch');
    assert.equal(mapped.field, '/body/inputs/0/size');
    assert.match(String(mapped.detail), /input "input" takes 2 values \(the width it learned\), but dataset "three" gives it 1 column \(column 1\)/);
    await user.expect(202, 'POST', tasks(cluster), { json: { kind: 'request', datasetId: three, inputs: [{ name: 'input', column: 1, size: 2 }] } });

    // A cluster restored from a checkpoint is not loaded: its saved state's header says the widths.
    const checkpoint = await user.expect(201, 'POST', `${P}/checkpoints`, { json: { clusterId: cluster, name: 'two wide' } });
    const restored = str(await user.expect(201, 'POST', `${P}/checkpoints/${str(checkpoint, 'id')}/restore`, { json: { name: 'restored' } }), 'id');
    assert.equal(t.service.services.runtime.liveStats(restored), undefined, 'not in memory');
    const q = assertProblem(await user.post(tasks(restored), { kind: 'request', datasetId: three }), 422, 'width_mismatch');
    assert.match(String(q.detail), /takes 2 values .* gives it 3 columns/);
    await user.expect(202, 'POST', tasks(restored), { json: { kind: 'request', datasetId: two } });
  });

  it('a labelled request must have as many classes as the output learned', async () => {
    const cluster = await createCluster(user, project, { name: 'classes', template: DEFAULT_TEMPLATE });
    await runTask(user, project, cluster, { kind: 'train', datasetId: two });
    const single = await createDataset(user, project, { name: 'one class', format: 'csv', labelColumn: 'label' });
    await uploadCsv(user, project, single, 'a,b,label\n1,2,x\n3,4,x\n');
    const p = assertProblem(await user.post(tasks(cluster), { kind: 'request', datasetId: single }), 422, 'width_mismatch');
    assert.match(String(p.detail), /output "output" has 2 classes \(the width it learned\), but dataset "one class" has 1 class/);
  });

  it('a train task whose targets switch between classes and values: 422 bad_mapping', async () => {
    const cluster = await createCluster(user, project, { name: 'switch', template: DEFAULT_TEMPLATE });
    await runTask(user, project, cluster, { kind: 'train', datasetId: two });
    const p = assertProblem(await user.post(tasks(cluster), { kind: 'train', datasetId: values }), 422, 'bad_mapping');
    assert.equal(p.field, '/body/datasetId');
    assert.match(String(p.detail), /output "output" learns classes \(2 classes\), but dataset "values" has 1 value column/);
  });

  it('a train task that would move a learned input: 422 width_mismatch', async () => {
    const template = DEFAULT_TEMPLATE.replace('    input: 1,1,1\n', '    a: 1,1,1\n    b: 1,1,1\n');
    const cluster = await createCluster(user, project, { name: 'two inputs', template });
    await runTask(user, project, cluster, {
      kind: 'train',
      datasetId: two,
      inputs: [
        { name: 'a', column: 0, size: 1 },
        { name: 'b', column: 1, size: 1 },
      ],
    });
    const p = assertProblem(
      await user.post(tasks(cluster), {
        kind: 'train',
        datasetId: two,
        inputs: [
          { name: 'a', column: 0, size: 2 },
          { name: 'b', column: 1, size: 1 },
        ],
      }),
      422,
      'width_mismatch',
    );
    assert.equal(p.field, '/body/inputs/0/size');
    assert.match(String(p.detail), /input "a" takes 1 value and cannot grow to dataset "two"'s 2 columns \(columns 0\.\.1\): input "b" follows it in the same hexagon/);
    // The last input of a hexagon may grow.
    await runTask(user, project, cluster, {
      kind: 'train',
      datasetId: two,
      inputs: [
        { name: 'a', column: 0, size: 1 },
        { name: 'b', column: 0, size: 2 },
      ],
    });
  });
});
