/**
 * Datasets: IDX (MNIST format: an images part and an optional labels part, gzip accepted)
 * and CSV. A dataset is created first (name, format, CSV column roles), then each part is
 * uploaded as the raw body of a PUT — streamed through the size cap into a blob, never held
 * in memory — and parsed once it is stored. A malformed file is refused with 422 and the
 * byte offset (IDX) or row and column (CSV) of the problem. While an upload runs, the
 * dataset shows the bytes received so far. Parts are immutable once stored.
 */
import { randomUUID } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import type { DatasetRecord } from '../../store/types.js';
import type { DatasetPart } from '../../tasks/dataset-loader.js';
import { dropBlob } from '../cleanup.js';
import { mapPage, pageOf } from '../paging.js';
import { checkCountQuota } from '../quotas.js';
import { ApiError, badRequest, conflict } from '../problem.js';
import { json, noContent, raw, requirePrincipal, route } from '../route.js';
import { Closed, Name, PageOf, PageQuery, ProjectParams, StoredName, StringEnum, Timestamp, Uuid } from '../schemas.js';
import { checkAccuracy, CheckResult } from './dataset-check.js';
import { refuseUpload, upload } from './dataset-upload.js';

const ColumnName = Type.String({ minLength: 1, maxLength: 256 });
const Part = StringEnum(['images', 'labels', 'csv'], {
  description: 'IDX datasets have `images` and (optionally) `labels`; CSV datasets have `csv`.',
});

const PartView = Closed({ part: Part, bytes: Type.Integer({ minimum: 0 }), sha256: Type.String() });
const Targets = Type.Union([Closed({ kind: Type.Literal('class'), classes: Type.Array(Type.String()) }), Closed({ kind: Type.Literal('values'), columns: Type.Array(Type.String()) }), Type.Null()]);

export const DatasetView = Closed(
  {
    id: Uuid,
    projectId: Uuid,
    name: StoredName,
    format: StringEnum(['idx', 'csv']),
    status: StringEnum(['uploading', 'ready', 'failed'], {
      description: '`uploading`: waiting for (or receiving) content; `ready`: parsed and usable; `failed`: the last upload failed (see `error`; upload again).',
    }),
    receivedBytes: Type.Integer({ minimum: 0, description: 'Bytes received so far (all parts).' }),
    expectedBytes: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()], { description: 'Bytes expected, when the upload declared its Content-Length.' }),
    parts: Type.Array(PartView),
    rows: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()]),
    inputWidth: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()]),
    inputColumns: Type.Union([Type.Array(Type.String()), Type.Null()]),
    targets: Targets,
    labelColumn: Type.Union([Type.String(), Type.Null()]),
    targetColumns: Type.Union([Type.Array(Type.String()), Type.Null()]),
    error: Type.Union([Type.String(), Type.Null()]),
    createdAt: Timestamp,
    createdBy: Type.String(),
  },
  { title: 'Dataset' },
);
const DatasetPage = PageOf(DatasetView, 'DatasetPage');
const DatasetParams = Closed({ projectId: Uuid, datasetId: Uuid });
const PartParams = Closed({ projectId: Uuid, datasetId: Uuid, part: Part });

export function datasetView(r: DatasetRecord): Static<typeof DatasetView> {
  const o = r.options;
  return {
    id: r.id,
    projectId: r.projectId,
    name: r.name,
    format: r.format,
    status: r.status,
    receivedBytes: r.receivedBytes,
    expectedBytes: r.expectedBytes,
    parts: r.blobs.map((b) => ({ part: b.role, bytes: b.bytes, sha256: b.sha256 })),
    rows: r.rows,
    inputWidth: r.inputWidth,
    inputColumns: r.inputColumns,
    targets: r.targets,
    labelColumn: typeof o.labelColumn === 'string' ? o.labelColumn : null,
    targetColumns: Array.isArray(o.targetColumns) ? o.targetColumns.filter((c): c is string => typeof c === 'string') : null,
    error: r.error,
    createdAt: r.createdAt,
    createdBy: r.createdBy,
  };
}

const CreateDataset = Closed(
  {
    name: Name,
    format: StringEnum(['idx', 'csv']),
    labelColumn: Type.Optional(ColumnName),
    targetColumns: Type.Optional(Type.Array(ColumnName, { minItems: 1, maxItems: 65536 })),
    inputColumns: Type.Optional(Type.Array(ColumnName, { minItems: 1, maxItems: 1_000_000 })),
  },
  { description: 'CSV only: `labelColumn` (class labels) or `targetColumns` (values to learn), and optionally `inputColumns` (default: every other column).' },
);

const UPLOAD_TYPES = ['application/octet-stream', 'application/gzip', 'text/csv'];

/** Which parts a format has. */
function checkPart(record: DatasetRecord, part: DatasetPart): void {
  const allowed: DatasetPart[] = record.format === 'idx' ? ['images', 'labels'] : ['csv'];
  if (!allowed.includes(part)) throw badRequest('bad_part', `a ${record.format} dataset has the parts ${allowed.join(' and ')}, not "${part}"`, { field: '/path/part' });
}

export const datasetRoutes = [
  route({
    method: 'get',
    path: '/v1/projects/{projectId}/datasets',
    operationId: 'listDatasets',
    summary: 'List the datasets of a project',
    tag: 'datasets',
    access: 'project',
    params: ProjectParams,
    query: Closed(PageQuery),
    responses: { 200: { description: 'A page of datasets.', schema: DatasetPage } },
    async handler({ params, query, services }) {
      return json(200, DatasetPage, mapPage(await services.store.datasets.list(params.projectId, pageOf(query)), datasetView));
    },
  }),
  route({
    method: 'post',
    path: '/v1/projects/{projectId}/datasets',
    operationId: 'createDataset',
    summary: 'Create a dataset, then upload its parts',
    tag: 'datasets',
    access: 'project',
    params: ProjectParams,
    body: CreateDataset,
    responses: { 201: { description: 'Created; waiting for content.', schema: DatasetView } },
    async handler({ params, body, principal, services }) {
      if (body.format === 'idx') {
        const csvOnly = (['labelColumn', 'targetColumns', 'inputColumns'] as const).find((k) => body[k] !== undefined);
        if (csvOnly) throw badRequest('csv_option', `${csvOnly} applies to CSV datasets only`, { field: `/body/${csvOnly}` });
      }
      if (body.labelColumn !== undefined && body.targetColumns !== undefined) {
        throw badRequest('label_or_targets', 'give labelColumn (classes) or targetColumns (values), not both', { field: '/body/targetColumns' });
      }
      await checkCountQuota(services, params.projectId, 'datasets');
      const options: Record<string, unknown> = {};
      if (body.labelColumn !== undefined) options.labelColumn = body.labelColumn;
      if (body.targetColumns !== undefined) options.targetColumns = body.targetColumns;
      if (body.inputColumns !== undefined) options.inputColumns = body.inputColumns;
      const record = await services.store.datasets.create({
        id: randomUUID(),
        projectId: params.projectId,
        name: body.name,
        format: body.format,
        status: 'uploading',
        receivedBytes: 0,
        expectedBytes: null,
        blobs: [],
        rows: null,
        inputColumns: null,
        inputWidth: null,
        targets: null,
        options,
        error: null,
        createdAt: new Date().toISOString(),
        createdBy: requirePrincipal(principal).name,
      });
      return json(201, DatasetView, datasetView(record));
    },
  }),
  route({
    method: 'get',
    path: '/v1/projects/{projectId}/datasets/{datasetId}',
    operationId: 'getDataset',
    summary: 'Show a dataset (with upload progress while it uploads)',
    tag: 'datasets',
    access: 'project',
    params: DatasetParams,
    responses: { 200: { description: 'The dataset.', schema: DatasetView } },
    async handler({ params, services }) {
      return json(200, DatasetView, datasetView(await services.store.datasets.get(params.projectId, params.datasetId)));
    },
  }),
  route({
    method: 'delete',
    path: '/v1/projects/{projectId}/datasets/{datasetId}',
    operationId: 'deleteDataset',
    summary: 'Delete a dataset and its files',
    description: '409 while a queued or running task uses it, or while it uploads.',
    tag: 'datasets',
    access: 'project',
    params: DatasetParams,
    responses: { 204: { description: 'Deleted.' } },
    async handler({ params, services }) {
      // A parsed form still being written lands on the record first, and goes with it.
      await services.datasets.settled();
      const record = await services.store.datasets.get(params.projectId, params.datasetId);
      if (await services.runtime.isDatasetInUse(record.projectId, record.id)) throw conflict('dataset_in_use', `dataset ${record.id} is used by a queued or running task`);
      if (services.uploads.has(record.id)) throw conflict('upload_in_progress', `dataset ${record.id} is being uploaded`);
      await services.store.datasets.delete(record.projectId, record.id);
      services.datasets.evict(record.id);
      for (const b of record.blobs) {
        await dropBlob(services, b.blobId);
        if (b.parsedBlobId !== undefined) await dropBlob(services, b.parsedBlobId);
      }
      return noContent();
    },
  }),
  route({
    method: 'put',
    path: '/v1/projects/{projectId}/datasets/{datasetId}/content/{part}',
    operationId: 'uploadDatasetPart',
    summary: 'Upload a part of a dataset as the raw request body',
    description:
      'Streams the body into storage (HANAMI_MAX_UPLOAD_BYTES caps it; 413 beyond), then parses it: 422 `bad_dataset` with `byteOffset` (IDX) or `row`/`column` (CSV) for a malformed file. Gzipped files are recognized by content. Each part is uploaded once.',
    tag: 'datasets',
    access: 'project',
    params: PartParams,
    upload: { contentTypes: UPLOAD_TYPES, description: 'The file: IDX images or labels (optionally gzipped), or CSV.' },
    responses: { 200: { description: 'Stored and parsed; `status` is `ready` once the dataset is usable.', schema: DatasetView } },
    async handler({ params, req, res, services }) {
      const record = await services.store.datasets.get(params.projectId, params.datasetId);
      checkPart(record, params.part);
      if (record.blobs.some((b) => b.role === params.part))
        refuseUpload(res, conflict('part_exists', `the ${params.part} part of dataset ${record.id} is already stored; datasets are immutable (create a new one)`));
      if (services.uploads.has(record.id)) refuseUpload(res, conflict('upload_in_progress', `dataset ${record.id} is being uploaded already`));
      services.uploads.add(record.id);
      try {
        return json(200, DatasetView, datasetView(await upload(services, record, params.part, req, res)));
      } finally {
        services.uploads.delete(record.id);
      }
    },
  }),
  route({
    method: 'get',
    path: '/v1/projects/{projectId}/datasets/{datasetId}/content/{part}',
    operationId: 'downloadDatasetPart',
    summary: 'Download a part of a dataset as it was uploaded',
    tag: 'datasets',
    access: 'project',
    params: PartParams,
    responses: { 200: { description: 'The file, byte for byte.', content: { 'application/octet-stream': Type.String({ format: 'binary' }), 'text/csv': Type.String() } } },
    async handler({ params, services }) {
      const record = await services.store.datasets.get(params.projectId, params.datasetId);
      checkPart(record, params.part);
      const part = record.blobs.find((b) => b.role === params.part);
      if (!part) throw new ApiError('not_found', `the ${params.part} part of dataset ${record.id} has not been uploaded`);
      const fileName = `${record.name.replace(/[^A-Za-z0-9._-]+/g, '_')}-${params.part}${params.part === 'csv' ? '.csv' : ''}`;
      return raw(200, params.part === 'csv' ? 'text/csv' : 'application/octet-stream', await services.store.blobs.open(part.blobId), {
        'Content-Length': String(part.bytes),
        'Content-Disposition': `attachment; filename="${fileName}"`,
        'X-Content-SHA256': part.sha256,
      });
    },
  }),
  route({
    method: 'get',
    path: '/v1/projects/{projectId}/datasets/{datasetId}/check',
    operationId: 'checkDataset',
    summary: "Score a request task's predictions against this dataset's labels or targets",
    description: 'The task must be a finished request task of the same project with one prediction per row of this dataset.',
    tag: 'datasets',
    access: 'project',
    params: DatasetParams,
    query: Closed({ taskId: Uuid }),
    responses: { 200: { description: 'The score.', schema: CheckResult } },
    async handler({ params, query, services }) {
      return json(200, CheckResult, await checkAccuracy(services, params.projectId, params.datasetId, query.taskId));
    },
  }),
];
