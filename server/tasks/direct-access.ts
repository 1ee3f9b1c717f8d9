/**
 * The runtime API for direct I/O (docs/architecture.md, "The runtime API for direct I/O"):
 * what the Socket.IO layer and `POST …/predict` do with a cluster, each a turn of the
 * cluster's line (`withCluster`) or an interlude, so they never change a network while a
 * task or an HTTP change uses it. Every one of them claims the cluster first and rejects with
 * ClusterHostedElsewhereError while another live instance hosts it.
 */
import type { Backend } from '../../kernels/contract.js';
import type { BindOptions } from '../network/cluster.js';
import type { Dataset } from '../datasets/types.js';
import type { ClusterRecord, OutputLayout } from '../store/types.js';
import type { ClusterHost } from './cluster-host.js';
import type { ClusterTurn, OpenCluster } from './cluster-slot.js';
import { RuntimeStoppingError } from './errors.js';
import type { HostedCluster } from './hosted-cluster.js';
import type { InterludeWork } from './interludes.js';

export class DirectAccess {
  constructor(
    private readonly host: ClusterHost,
    /** True once the service is stopping: no new work. */
    private readonly stopping: () => boolean,
  ) {}

  /** A turn of the cluster's line with its network loaded; `changes` says whether `work`
   *  will change the network (then it is saved before the cluster is released). */
  private withOpenCluster<T>(projectId: string, clusterId: string, changes: (hosted: HostedCluster) => boolean, work: (open: OpenCluster, turn: ClusterTurn) => Promise<T>): Promise<T> {
    if (this.stopping()) return Promise.reject(new RuntimeStoppingError());
    return this.host.withCluster({ projectId, clusterId }, 'direct', async (turn) => {
      await turn.claim();
      const open = await turn.open();
      if (changes(open.hosted)) turn.markUnsaved(open.hosted);
      return work(open, turn);
    });
  }

  /**
   * Runs `work` with exclusive use of the cluster, after everything queued on it before.
   * `work` may train or predict through `backend`; it must not keep the cluster after it
   * returns. Call `saveCluster` to persist what direct training changed (an idle cluster is
   * also saved before it is released).
   */
  withCluster<T>(projectId: string, clusterId: string, work: (hosted: HostedCluster, backend: Backend, record: ClusterRecord) => Promise<T>): Promise<T> {
    return this.withOpenCluster(
      projectId,
      clusterId,
      () => true,
      ({ hosted, backend, record }) => work(hosted, backend, record),
    );
  }

  /** Trains the cluster on every row of `data` (e.g. one sample from a socket), in memory. */
  trainDirect(projectId: string, clusterId: string, data: Dataset, bind: Omit<BindOptions, 'readOnly'> = {}): Promise<void> {
    return this.withOpenCluster(
      projectId,
      clusterId,
      () => true,
      async ({ hosted, backend }, turn) => {
        const bound = hosted.cluster.bind(data, { ...bind, readOnly: false });
        if (data.targets && bound.outputMap.length > 0) {
          const binding = bound.outputMap[0]!;
          hosted.learnLabels(hosted.cluster.state.outputs[binding.group]!.interfaces[binding.iface]!.name, data.targets);
        }
        await backend.train(hosted.cluster, bound, {});
        turn.refreshStats(hosted);
      },
    );
  }

  /** Forward pass over every row of `data`: rows × width values and what they mean. */
  predictDirect(projectId: string, clusterId: string, data: Dataset, bind: Omit<BindOptions, 'readOnly'> = {}): Promise<{ outputs: Float32Array; width: number; layout: OutputLayout[] }> {
    // A spiking network carries potentials from sample to sample: predicting changes it.
    return this.withOpenCluster(
      projectId,
      clusterId,
      (hosted) => hosted.cluster.spiking,
      async ({ hosted, backend }) => {
        const { targets: _ignored, ...inputsOnly } = data;
        const bound = hosted.cluster.bind(inputsOnly, { ...bind, readOnly: true });
        const { outputs } = await backend.predict(hosted.cluster, bound, {});
        return { outputs, width: hosted.width, layout: hosted.outputLayout() };
      },
    );
  }

  /** Persists the in-memory state of a cluster (after direct training). */
  saveCluster(projectId: string, clusterId: string): Promise<ClusterRecord> {
    return this.withOpenCluster(
      projectId,
      clusterId,
      () => false,
      ({ hosted, record }, turn) => turn.persist(hosted, record),
    );
  }

  /** A short read of the network between the slices of its tasks (cluster-host.ts `interlude`). */
  interlude<T>(projectId: string, clusterId: string, work: InterludeWork<T>): Promise<T> {
    if (this.stopping()) return Promise.reject(new RuntimeStoppingError());
    return this.host.interlude({ projectId, clusterId }, work);
  }
}
