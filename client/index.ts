/**
 * The client side of Hanami, importable from another project as `hanami/client` (package.json
 * `exports`): it talks to a running service over HTTP and Socket.IO only and imports nothing of
 * the server at run time.
 */
export { HanamiIo, HanamiIoError, IO_NAMESPACE_PATH } from './io.js';
export type { AttachedCluster, IoAnswer, OutputValues, Target, Values } from './io.js';
