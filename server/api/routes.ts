/** The route table: every operation of the API, in registration order (static paths first). */
import type { AnyRoute } from './route.js';
import { authRoutes } from './resources/auth.js';
import { checkpointRoutes } from './resources/checkpoints.js';
import { clusterRoutes } from './resources/clusters.js';
import { predictRoutes } from './resources/predict.js';
import { datasetRoutes } from './resources/datasets.js';
import { logRoutes } from './resources/logs.js';
import { operationRoutes } from './resources/operations.js';
import { projectRoutes } from './resources/projects.js';
import { systemRoutes } from './resources/system.js';
import { taskRoutes } from './resources/tasks.js';
import { templateRoutes } from './resources/templates.js';
import { userRoutes } from './resources/users.js';

export const ROUTES: readonly AnyRoute[] = [
  ...operationRoutes,
  ...authRoutes,
  ...userRoutes,
  ...projectRoutes,
  ...templateRoutes,
  ...datasetRoutes,
  ...clusterRoutes,
  ...predictRoutes,
  ...taskRoutes,
  ...checkpointRoutes,
  ...logRoutes,
  ...systemRoutes,
];
