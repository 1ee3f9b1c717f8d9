/**
 * What this service runs on: version, the primary backend and why it was chosen (with the
 * GPU adapter, if any), the hosts (backends) a cluster can be switched between, threads,
 * uptime.
 */
import { hostname } from 'node:os';
import { Type, type Static } from '@sinclair/typebox';
import { json, requirePrincipal, route } from '../route.js';
import { Closed, StringEnum, Timestamp } from '../schemas.js';
import type { Services } from '../services.js';

const BackendName = StringEnum(['cpu', 'webgpu']);
const Adapter = Closed(
  { vendor: Type.String(), architecture: Type.String(), device: Type.String(), description: Type.String(), software: Type.Boolean(), summary: Type.String() },
  { title: 'Adapter' },
);

const HostView = Closed(
  {
    id: Type.String({ description: "The backend name; a cluster's `backend` setting selects it." }),
    backend: BackendName,
    available: Type.Boolean({ description: 'Whether this host can run it (WebGPU needs an adapter).' }),
    open: Type.Boolean({ description: 'Opened already (the primary, or used by a pinned cluster).' }),
    primary: Type.Boolean({ description: 'Clusters with backend `auto` run here.' }),
    description: Type.String({ description: 'Worker threads (CPU) or the adapter, or why it is unavailable.' }),
    adapter: Type.Optional(Adapter),
    hostname: Type.String(),
  },
  { title: 'Host' },
);
const HostList = Closed({ items: Type.Array(HostView) }, { title: 'HostList' });

const SystemView = Closed(
  {
    version: Type.String(),
    instanceId: Type.String({ description: 'This service instance (HANAMI_INSTANCE_ID): the name clusters it hosts and tasks it runs show.' }),
    node: Type.String(),
    startedAt: Timestamp,
    uptimeSeconds: Type.Number({ minimum: 0 }),
    backend: Closed({
      configured: StringEnum(['auto', 'cpu', 'webgpu']),
      name: BackendName,
      description: Type.String(),
      reason: Type.String({ description: 'Why this backend was chosen.' }),
      adapter: Type.Optional(Adapter),
    }),
    threads: Type.Integer({ minimum: 1, description: 'CPU worker threads (HANAMI_THREADS).' }),
    hosts: Type.Array(HostView),
    store: Type.Optional(Type.String({ description: 'Admins only: which store and where.' })),
    tasks: Closed({ queued: Type.Integer({ minimum: 0 }), running: Type.Integer({ minimum: 0 }) }),
  },
  { title: 'System' },
);

async function hosts(services: Services): Promise<Static<typeof HostView>[]> {
  const { backends } = services;
  const open = await backends.active();
  return (await backends.available()).map((a) => {
    const opened = open.find((b) => b.name === a.name);
    const host: Static<typeof HostView> = {
      id: a.name,
      backend: a.name,
      available: a.available || opened !== undefined,
      open: opened !== undefined,
      primary: backends.primary.name === a.name,
      description: opened?.description ?? a.description,
      hostname: hostname(),
    };
    if (a.adapter) host.adapter = a.adapter;
    return host;
  });
}

export const systemRoutes = [
  route({
    method: 'get',
    path: '/v1/system',
    operationId: 'getSystem',
    summary: 'Version, backend and adapter, threads, hosts',
    tag: 'system',
    access: 'user',
    responses: { 200: { description: 'This service.', schema: SystemView } },
    async handler({ principal, services }) {
      const { selection, primary } = services.backends;
      const view: Static<typeof SystemView> = {
        version: services.version,
        instanceId: services.runtime.instanceId,
        node: process.version,
        startedAt: services.startedAt.toISOString(),
        uptimeSeconds: Math.round((Date.now() - services.startedAt.getTime()) / 100) / 10,
        backend: { configured: selection.requested, name: primary.name, description: primary.description, reason: selection.reason, ...(selection.adapter ? { adapter: selection.adapter } : {}) },
        threads: services.config.threads,
        hosts: await hosts(services),
        tasks: services.runtime.counts(),
      };
      if (requirePrincipal(principal).isAdmin) view.store = services.store.description;
      return json(200, SystemView, view);
    },
  }),
  route({
    method: 'get',
    path: '/v1/hosts',
    operationId: 'listHosts',
    summary: 'Hosts (backends) clusters can run on',
    tag: 'system',
    access: 'user',
    responses: { 200: { description: 'The hosts.', schema: HostList } },
    async handler({ services }) {
      return json(200, HostList, { items: await hosts(services) });
    },
  }),
];
