/**
 * The rooms and what each may import (docs/architecture.md, "Rooms"), checked by
 * dependency-cruiser in `npm run lint`. Data flows one way: client → HTTP/Socket.IO →
 * server/api, server/io → server/tasks → server/network → the backends (cpu-fallback,
 * kernels) → kernels; the store sits below everything in server/.
 */
const room = (path) => `^${path}/`;

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'kernels-import-only-kernels',
      comment: 'kernels/ (layout, contract, WGSL backend) imports nothing of ours outside itself.',
      severity: 'error',
      from: { path: room('kernels') },
      to: { path: '^(server|cpu-fallback|client|dashboard|test)/' },
    },
    {
      name: 'shared-kernels-not-webgpu',
      comment: 'The shared part of kernels/ (what the CPU backend uses too) does not import the WebGPU backend.',
      severity: 'error',
      from: { path: room('kernels'), pathNot: room('kernels/webgpu') },
      to: { path: room('kernels/webgpu') },
    },
    {
      name: 'cpu-backend-is-a-peer',
      comment: 'cpu-fallback/ imports itself and the shared kernels, never the WebGPU backend or the server.',
      severity: 'error',
      from: { path: room('cpu-fallback') },
      to: { path: '^(kernels/webgpu|server|client|dashboard|test)/' },
    },
    {
      name: 'client-speaks-http-only',
      comment: 'client/ talks to a running service over HTTP and Socket.IO: it imports nothing of the server or engine.',
      severity: 'error',
      from: { path: room('client') },
      to: { path: '^(server|kernels|cpu-fallback|dashboard|test)/' },
    },
    {
      name: 'dashboard-through-the-client',
      comment: 'dashboard/ reaches the service only through client/.',
      severity: 'error',
      from: { path: room('dashboard') },
      to: { path: '^(server|kernels|cpu-fallback|test)/' },
    },
    {
      name: 'nothing-imports-tests',
      severity: 'error',
      from: { pathNot: room('test') },
      to: { path: room('test') },
    },
    {
      name: 'store-is-the-bottom',
      comment: 'server/store/ knows nothing of what uses it.',
      severity: 'error',
      from: { path: room('server/store') },
      to: { path: '^server/(api|io|tasks|auth|network|datasets|cli|perf)/' },
    },
    {
      name: 'engine-below-the-service',
      comment: 'server/network/ and server/datasets/ (templates, clusters, binding, readers) do not reach up into the service.',
      severity: 'error',
      from: { path: '^server/(network|datasets)/' },
      to: { path: '^server/(api|io|tasks|auth|cli|perf)/' },
    },
    {
      name: 'runtime-below-the-edges',
      comment: 'server/tasks/ is used by the edges (api, io), never the other way round.',
      severity: 'error',
      from: { path: room('server/tasks') },
      to: { path: '^server/(api|io|cli|perf)/' },
    },
    {
      name: 'auth-below-the-edges',
      comment: 'server/auth/ serves both edges; it imports neither.',
      severity: 'error',
      from: { path: room('server/auth') },
      to: { path: '^server/(api|io|tasks|cli|perf)/' },
    },
    {
      name: 'no-circular',
      comment:
        'No import cycles (type-only ones included: they still knot the modules together). The generated SDK (client/generated/, written by @hey-api/openapi-ts) is exempt: its bundled fetch client has a type-only cycle we do not edit.',
      severity: 'error',
      from: { pathNot: '^(test|client/generated)/' },
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|node_modules)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'], extensions: ['.ts', '.js'] },
  },
};
