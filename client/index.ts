/**
 * The client side of Hanami, importable from another project as `hanami/client` (package.json
 * `exports`): it talks to a running service over HTTP and Socket.IO only and imports nothing of
 * the server at run time. `Hanami` (login and renewal, every operation, streamed uploads,
 * following tasks), `HanamiError` (the service's problem details), `HanamiIo` (direct I/O).
 */
export { Hanami } from './hanami.js';
export type { Checkpoint, Cluster, Dataset, HanamiOptions, Member, Page, PageQuery, Project, Task, Template, UploadCallOptions, UploadProgress, User } from './hanami.js';
export { HanamiError } from './errors.js';
export type { Problem } from './errors.js';
export { ENDED_STATES, EVENTS_NAMESPACE_PATH } from './follow.js';
export type { FollowOptions, MetricPoint, TaskEvent, TaskView } from './follow.js';
export type { Credentials, LoginAnswer } from './session.js';
export { HanamiIo, HanamiIoError, IO_NAMESPACE_PATH } from './io.js';
export type { AttachedCluster, IoAnswer, OutputValues, Target, Values } from './io.js';
