/**
 * `Hanami`: the SDK's entry point. The operations are the generated ones (client/generated/,
 * from the service's OpenAPI document); this class adds what generation cannot: login and
 * token renewal, streamed uploads with progress, following a task, and one error type.
 *
 *   const hanami = await Hanami.login('http://127.0.0.1:8080', { user: 'admin', passphrase });
 *   const project = await hanami.projects.create({ name: 'digits' });
 *   const dataset = await hanami.datasets.uploadIdx(project.id, 'mnist-train', { images, labels }, { onProgress });
 *   for await (const e of hanami.tasks.follow(project.id, cluster.id, task.id)) …
 */
import * as api from './generated/sdk.gen.js';
import type * as T from './generated/types.gen.js';
import { createClient, createConfig, type Client } from './generated/client/index.js';
import { HanamiError } from './errors.js';
import { followTask, type FollowOptions, type MetricPoint, type TaskEvent } from './follow.js';
import { Session, parseBody, type Credentials, type LoginAnswer } from './session.js';
import { putStream, type UploadSource } from './upload.js';

export type Project = T.CreateProjectResponse;
export type User = T.CreateUserResponse;
export type Member = T.SetMemberResponse;
export type Template = T.CreateTemplateResponse;
export type Dataset = T.CreateDatasetResponse;
export type Cluster = T.CreateClusterResponse;
export type Task = T.CreateTaskResponse;
export type Checkpoint = T.SaveCheckpointResponse;
export interface Page<I> {
  items: I[];
  total: number;
  offset: number;
  limit: number;
}
export type PageQuery = { offset?: number; limit?: number };

export interface HanamiOptions {
  /** The service, e.g. `http://127.0.0.1:8080`. */
  url: string;
  /** A token from an earlier login (renewed while valid; replaced by a login when it is not
   *  and `user` + `passphrase` are known). */
  token?: string | undefined;
  user?: string | undefined;
  passphrase?: string | undefined;
  /** Hears every new token (after login or renewal), e.g. to store it. */
  onToken?: ((token: string) => void) | undefined;
}

export interface UploadProgress {
  part: 'images' | 'labels' | 'csv';
  /** Bytes of this part sent so far, and its size. */
  sent: number;
  total: number;
}

export interface UploadCallOptions {
  onProgress?: ((p: UploadProgress) => void) | undefined;
  signal?: AbortSignal | undefined;
}

type Fields<D> = { data?: D; error?: unknown; response?: Response; request?: Request };

/** The JSON a generated call answered, or its problem as a HanamiError. */
async function unwrap<D>(call: Promise<Fields<D>>, what: string): Promise<Exclude<D, undefined>> {
  let result: Fields<D>;
  try {
    result = await call;
  } catch (error) {
    if (error instanceof HanamiError) throw error;
    throw HanamiError.network(error, what);
  }
  if (!result.response) {
    if (result.error instanceof HanamiError) throw result.error;
    throw HanamiError.network(result.error, what);
  }
  if (!result.response.ok) throw HanamiError.fromResponse(result.response.status, result.error, result.response.statusText);
  return result.data as Exclude<D, undefined>;
}

/** Every item of a paged list, page by page. */
async function all<I>(page: (q: PageQuery) => Promise<Page<I>>): Promise<I[]> {
  const items: I[] = [];
  for (let offset = 0; ;) {
    const p = await page({ offset, limit: 1000 });
    items.push(...p.items);
    offset += p.items.length;
    if (p.items.length === 0 || offset >= p.total) return items;
  }
}

export class Hanami {
  readonly url: string;
  /** The generated client underneath (for operations this class has no shortcut for):
   *  `import { getSystem } from 'hanami/client/generated'` and pass `{ client: hanami.client }`. */
  readonly client: Client;
  private readonly session: Session;

  constructor(options: HanamiOptions) {
    this.url = options.url.replace(/\/+$/, '');
    const credentials: Credentials | undefined = options.user !== undefined && options.passphrase !== undefined ? { user: options.user, passphrase: options.passphrase } : undefined;
    this.session = new Session(this.url, options.token, credentials, options.onToken);
    this.client = createClient(createConfig({ baseUrl: this.url, fetch: (input: string | URL | Request, init?: RequestInit) => this.send(new Request(input, init)) }));
  }

  /** Logs in and returns a client that renews its token (and logs in again when it must). */
  static async login(url: string, credentials: Credentials, options: Omit<HanamiOptions, 'url' | 'user' | 'passphrase'> = {}): Promise<Hanami> {
    const hanami = new Hanami({ ...options, url, user: credentials.user, passphrase: credentials.passphrase });
    await hanami.session.login();
    return hanami;
  }

  /** Logs in (again) with the credentials given at construction. */
  login(): Promise<LoginAnswer> {
    return this.session.login();
  }

  /** The token now (renewed first when due). */
  token(): Promise<string> {
    return this.session.fresh();
  }

  /** Every request of the generated client comes here: a fresh token on it, and after a 401
   *  one renewal (or login) and one retry. */
  private async send(request: Request): Promise<Response> {
    const retry = request.clone();
    const first = await fetch(this.authorized(request, await this.session.fresh()));
    if (first.status !== 401 || !this.session.canRecover) return first;
    await first.body?.cancel();
    await this.session.renew();
    return fetch(this.authorized(retry, await this.session.fresh()));
  }

  private authorized(request: Request, token: string): Request {
    const headers = new Headers(request.headers);
    headers.set('authorization', `Bearer ${token}`);
    return new Request(request, { headers });
  }

  /** GET of a path the generated operations do not cover (yet), parsed, errors as HanamiError. */
  async get<R>(path: string): Promise<R> {
    const res = await this.send(new Request(this.url + path));
    const body = parseBody(await res.text());
    if (!res.ok) throw HanamiError.fromResponse(res.status, body, res.statusText);
    return body as R;
  }

  private get c(): { client: Client } {
    return { client: this.client };
  }

  readonly me = {
    get: () => unwrap(api.getMe(this.c), 'getMe'),
  };

  readonly system = {
    get: () => unwrap(api.getSystem(this.c), 'getSystem'),
  };

  readonly users = {
    list: (q: PageQuery = {}) => unwrap(api.listUsers({ ...this.c, query: q }), 'listUsers'),
    all: () => all((q) => this.users.list(q)),
    create: (body: T.CreateUserData['body']) => unwrap(api.createUser({ ...this.c, body }), 'createUser'),
    get: (userId: string) => unwrap(api.getUser({ ...this.c, path: { userId } }), 'getUser'),
    remove: (userId: string) => unwrap(api.deleteUser({ ...this.c, path: { userId } }), 'deleteUser'),
  };

  readonly projects = {
    list: (q: PageQuery = {}) => unwrap(api.listProjects({ ...this.c, query: q }), 'listProjects'),
    all: () => all((q) => this.projects.list(q)),
    create: (body: T.CreateProjectData['body']) => unwrap(api.createProject({ ...this.c, body }), 'createProject'),
    get: (projectId: string) => unwrap(api.getProject({ ...this.c, path: { projectId } }), 'getProject'),
    remove: (projectId: string) => unwrap(api.deleteProject({ ...this.c, path: { projectId } }), 'deleteProject'),
  };

  readonly members = {
    list: (projectId: string, q: PageQuery = {}) => unwrap(api.listMembers({ ...this.c, path: { projectId }, query: q }), 'listMembers'),
    set: (projectId: string, userId: string, role: T.SetMemberData['body']['role']) => unwrap(api.setMember({ ...this.c, path: { projectId, userId }, body: { role } }), 'setMember'),
    remove: (projectId: string, userId: string) => unwrap(api.removeMember({ ...this.c, path: { projectId, userId } }), 'removeMember'),
  };

  readonly templates = {
    list: (projectId: string, q: PageQuery = {}) => unwrap(api.listTemplates({ ...this.c, path: { projectId }, query: q }), 'listTemplates'),
    all: (projectId: string) => all((q) => this.templates.list(projectId, q)),
    create: (projectId: string, body: T.CreateTemplateData['body']) => unwrap(api.createTemplate({ ...this.c, path: { projectId }, body }), 'createTemplate'),
    get: (projectId: string, templateId: string) => unwrap(api.getTemplate({ ...this.c, path: { projectId, templateId } }), 'getTemplate'),
    remove: (projectId: string, templateId: string) => unwrap(api.deleteTemplate({ ...this.c, path: { projectId, templateId } }), 'deleteTemplate'),
  };

  readonly datasets = {
    list: (projectId: string, q: PageQuery = {}) => unwrap(api.listDatasets({ ...this.c, path: { projectId }, query: q }), 'listDatasets'),
    all: (projectId: string) => all((q) => this.datasets.list(projectId, q)),
    create: (projectId: string, body: T.CreateDatasetData['body']) => unwrap(api.createDataset({ ...this.c, path: { projectId }, body }), 'createDataset'),
    get: (projectId: string, datasetId: string) => unwrap(api.getDataset({ ...this.c, path: { projectId, datasetId } }), 'getDataset'),
    remove: (projectId: string, datasetId: string) => unwrap(api.deleteDataset({ ...this.c, path: { projectId, datasetId } }), 'deleteDataset'),
    /** Streams one part (a file path or bytes) with progress; resolves with the dataset. */
    uploadPart: async (projectId: string, datasetId: string, part: UploadProgress['part'], source: UploadSource, options: UploadCallOptions = {}): Promise<Dataset> => {
      const url = `${this.url}/v1/projects/${encodeURIComponent(projectId)}/datasets/${encodeURIComponent(datasetId)}/content/${part}`;
      const contentType = part === 'csv' ? 'text/csv' : 'application/octet-stream';
      const put = async (): Promise<Dataset> =>
        (await putStream(url, source, {
          contentType,
          token: await this.session.fresh(),
          onProgress: options.onProgress ? (sent, total) => options.onProgress?.({ part, sent, total }) : undefined,
          signal: options.signal,
        })) as Dataset;
      try {
        return await put();
      } catch (error) {
        // A token that expired or was revoked meanwhile: once more with a fresh one.
        if (!(error instanceof HanamiError && error.status === 401 && this.session.canRecover)) throw error;
        await this.session.renew();
        return put();
      }
    },
    /** Creates an IDX dataset and uploads its images and labels. On any failure (a refused
     *  file, a broken connection, an abort) the dataset is deleted: nothing half-made stays. */
    uploadIdx: (projectId: string, name: string, files: { images: string | Uint8Array; labels?: string | Uint8Array }, options: UploadCallOptions = {}): Promise<Dataset> =>
      this.createAndUpload(projectId, { name, format: 'idx' }, [['images', files.images], ...(files.labels !== undefined ? [['labels', files.labels] as const] : [])], options),
    /** Creates a CSV dataset (say which column holds the answers) and uploads the file. */
    uploadCsv: (projectId: string, body: Omit<T.CreateDatasetData['body'], 'format'>, file: string | Uint8Array, options: UploadCallOptions = {}): Promise<Dataset> =>
      this.createAndUpload(projectId, { ...body, format: 'csv' }, [['csv', file]], options),
  };

  private async createAndUpload(
    projectId: string,
    body: T.CreateDatasetData['body'],
    parts: readonly (readonly [UploadProgress['part'], string | Uint8Array])[],
    options: UploadCallOptions,
  ): Promise<Dataset> {
    const created = await this.datasets.create(projectId, body);
    try {
      let dataset = created;
      for (const [part, source] of parts) dataset = await this.datasets.uploadPart(projectId, created.id, part, typeof source === 'string' ? { file: source } : { bytes: source }, options);
      return dataset;
    } catch (error) {
      await this.discardDataset(projectId, created.id);
      throw error;
    }
  }

  /** Deletes a dataset whose upload failed; the service may still be closing the broken
   *  upload (409 upload_in_progress) for a moment. */
  private async discardDataset(projectId: string, datasetId: string): Promise<void> {
    for (let attempt = 0; attempt < 100; attempt++) {
      try {
        await this.datasets.remove(projectId, datasetId);
        return;
      } catch (error) {
        if (error instanceof HanamiError && error.status === 404) return;
        if (!(error instanceof HanamiError && error.code === 'upload_in_progress')) throw error;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  }

  readonly clusters = {
    list: (projectId: string, q: PageQuery = {}) => unwrap(api.listClusters({ ...this.c, path: { projectId }, query: q }), 'listClusters'),
    all: (projectId: string) => all((q) => this.clusters.list(projectId, q)),
    create: (projectId: string, body: T.CreateClusterData['body']) => unwrap(api.createCluster({ ...this.c, path: { projectId }, body }), 'createCluster'),
    get: (projectId: string, clusterId: string) => unwrap(api.getCluster({ ...this.c, path: { projectId, clusterId } }), 'getCluster'),
    update: (projectId: string, clusterId: string, body: T.UpdateClusterData['body']) => unwrap(api.updateCluster({ ...this.c, path: { projectId, clusterId }, body }), 'updateCluster'),
    remove: (projectId: string, clusterId: string) => unwrap(api.deleteCluster({ ...this.c, path: { projectId, clusterId } }), 'deleteCluster'),
  };

  readonly tasks = {
    list: (projectId: string, clusterId: string, q: PageQuery = {}) => unwrap(api.listTasks({ ...this.c, path: { projectId, clusterId }, query: q }), 'listTasks'),
    all: (projectId: string, clusterId: string) => all((q) => this.tasks.list(projectId, clusterId, q)),
    create: (projectId: string, clusterId: string, body: T.CreateTaskData['body']) => unwrap(api.createTask({ ...this.c, path: { projectId, clusterId }, body }), 'createTask'),
    train: (projectId: string, clusterId: string, datasetId: string, options: { epochs?: number; name?: string } = {}) =>
      this.tasks.create(projectId, clusterId, { kind: 'train', datasetId, ...options }),
    /** A request task: the cluster's answers for every row of the dataset (tested against its labels). */
    test: (projectId: string, clusterId: string, datasetId: string, options: { name?: string } = {}) => this.tasks.create(projectId, clusterId, { kind: 'request', datasetId, ...options }),
    get: (projectId: string, clusterId: string, taskId: string) => unwrap(api.getTask({ ...this.c, path: { projectId, clusterId, taskId } }), 'getTask'),
    cancel: (projectId: string, clusterId: string, taskId: string) => unwrap(api.cancelTask({ ...this.c, path: { projectId, clusterId, taskId } }), 'cancelTask'),
    remove: (projectId: string, clusterId: string, taskId: string) => unwrap(api.deleteTask({ ...this.c, path: { projectId, clusterId, taskId } }), 'deleteTask'),
    /** A page of the task's metric series (GET …/tasks/{id}/metrics). */
    metrics: (projectId: string, clusterId: string, taskId: string, q: PageQuery = {}): Promise<Page<MetricPoint>> =>
      unwrap(api.listTaskMetrics({ ...this.c, path: { projectId, clusterId, taskId }, query: q }), 'listTaskMetrics'),
    /** The task's state changes and metric points as they happen, ending with its end state. */
    follow: (projectId: string, clusterId: string, taskId: string, options: FollowOptions = {}): AsyncGenerator<TaskEvent> =>
      followTask(
        this.url,
        async (renew) => {
          if (renew) await this.session.renew();
          return this.session.fresh();
        },
        { projectId, clusterId, taskId },
        async () => await this.tasks.get(projectId, clusterId, taskId),
        options,
      ),
    /** Follows a task to its end and returns it as stored (throws HanamiError when it failed or was cancelled). */
    wait: async (projectId: string, clusterId: string, taskId: string, onEvent?: (e: TaskEvent) => void): Promise<Task> => {
      for await (const e of this.tasks.follow(projectId, clusterId, taskId)) onEvent?.(e);
      const task = await this.tasks.get(projectId, clusterId, taskId);
      if (task.state !== 'finished')
        throw new HanamiError({
          type: 'urn:hanami:problem:task_failed',
          title: `Task ${task.state}`,
          status: 0,
          code: `task_${task.state}`,
          detail: task.error ?? `task ${task.id} ended ${task.state}`,
        });
      return task;
    },
  };

  readonly checkpoints = {
    list: (projectId: string, q: PageQuery = {}) => unwrap(api.listCheckpoints({ ...this.c, path: { projectId }, query: q }), 'listCheckpoints'),
    all: (projectId: string) => all((q) => this.checkpoints.list(projectId, q)),
    save: (projectId: string, clusterId: string, name: string) => unwrap(api.saveCheckpoint({ ...this.c, path: { projectId }, body: { clusterId, name } }), 'saveCheckpoint'),
    get: (projectId: string, checkpointId: string) => unwrap(api.getCheckpoint({ ...this.c, path: { projectId, checkpointId } }), 'getCheckpoint'),
    /** Into an existing idle cluster (`{ clusterId }`) or a new one (`{ name }`). */
    restore: (projectId: string, checkpointId: string, body: T.RestoreCheckpointData['body']) =>
      unwrap(api.restoreCheckpoint({ ...this.c, path: { projectId, checkpointId }, body }), 'restoreCheckpoint'),
    /** The checkpoint file's bytes. */
    download: async (projectId: string, checkpointId: string): Promise<Uint8Array> => {
      const res = await this.send(new Request(`${this.url}/v1/projects/${projectId}/checkpoints/${checkpointId}/content`));
      if (!res.ok) throw HanamiError.fromResponse(res.status, parseBody(await res.text()), res.statusText);
      return new Uint8Array(await res.arrayBuffer());
    },
    remove: (projectId: string, checkpointId: string) => unwrap(api.deleteCheckpoint({ ...this.c, path: { projectId, checkpointId } }), 'deleteCheckpoint'),
  };
}
