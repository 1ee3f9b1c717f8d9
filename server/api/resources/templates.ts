/**
 * Cluster templates, stored per project after validation: a template that does not parse
 * (or whose topology is unusable) is refused with 422 and the line and column of the
 * problem; one that would cost more than the template limits, with 422 `template_too_large`.
 * Parsing runs off the event loop (network/template-parser.ts). Stored in canonical text
 * form with its summary, so lists never parse; the OpenHanami syntax and JSON are both
 * accepted.
 */
import { inBackground } from '../../../kernels/background.js';
import { randomUUID } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import { interfacesOfCanonicalText, readCanonicalInterfaces } from '../../network/template.js';
import type { TemplateRecord } from '../../store/types.js';
import { pageOf } from '../paging.js';
import { checkCountQuota } from '../quotas.js';
import { badRequest } from '../problem.js';
import { json, noContent, requirePrincipal, route } from '../route.js';
import { Closed, Name, PageOf, PageQuery, ProjectParams, StoredName, Timestamp, Uuid } from '../schemas.js';
import type { Services } from '../services.js';

/** 1 MiB of template text is far beyond any real template and bounds parsing work. */
const TEMPLATE_TEXT_LIMITS = { minLength: 1, maxLength: 1024 * 1024 };
export const TemplateText = Type.String({ ...TEMPLATE_TEXT_LIMITS, description: 'Template in the OpenHanami text syntax or JSON (docs/templates.md).' });

/**
 * Stored templates took their text as `text` while clusters take it as `template`; one name
 * for one thing is `template`. `text` stays accepted so that clients written against the
 * old name keep working, and is marked deprecated in the document.
 */
const CreateTemplate = Closed(
  {
    name: Name,
    template: Type.Optional(TemplateText),
    text: Type.Optional(Type.String({ ...TEMPLATE_TEXT_LIMITS, deprecated: true, description: 'Deprecated: the old name of `template`.' })),
  },
  { description: 'The template text goes in `template` (`text` is its deprecated alias: give exactly one of them).' },
);

export const TemplateSummary = Closed({
  hexagons: Type.Integer({ minimum: 0 }),
  inputs: Type.Array(Type.String()),
  outputs: Type.Array(Type.String()),
});

/**
 * The summary of a stored template's canonical text, read from its lines (no parse, no
 * topology): cluster views use it for their `interfaces`.
 */
export function templateSummary(text: string): Static<typeof TemplateSummary> {
  return interfacesOfCanonicalText(text);
}

const TemplateView = Closed(
  {
    id: Uuid,
    projectId: Uuid,
    name: StoredName,
    template: Type.String({ description: 'The template (canonical text form).' }),
    summary: TemplateSummary,
    createdAt: Timestamp,
    createdBy: Type.String(),
  },
  { title: 'Template' },
);
const TemplatePage = PageOf(TemplateView, 'TemplatePage');
const TemplateParams = Closed({ projectId: Uuid, templateId: Uuid });

type SummarizedRecord = TemplateRecord & { summary: Static<typeof TemplateSummary> };

/** Template ids whose summary is being written back, per service. */
const writingBack = new WeakMap<Services, Set<string>>();

/**
 * Writes summaries of older records back in the background, one record per turn of the event
 * loop: a store write (an fsync, with SQLite) per record would otherwise hold up every other
 * request while a long list is answered.
 */
function writeBackSummaries(services: Services, records: SummarizedRecord[]): void {
  let pending = writingBack.get(services);
  if (!pending) writingBack.set(services, (pending = new Set()));
  const todo = records.filter((r) => !pending.has(r.id));
  for (const r of todo) pending.add(r.id);
  const writeAll = async (): Promise<void> => {
    for (const r of todo) {
      await new Promise((resolve) => setImmediate(resolve));
      await services.store.templates
        .update(r.projectId, r.id, { summary: r.summary })
        .catch((error: unknown) => services.logger.warn({ err: error, templateId: r.id }, 'could not store the template summary'));
      pending.delete(r.id);
    }
  };
  // Each write reports its own failure; what is left is a bug in the loop itself.
  inBackground(writeAll(), (error) => services.logger.error({ err: error }, 'writing template summaries back failed'));
}

/**
 * Records with their summaries. Records stored before summaries were kept get theirs once,
 * read from their canonical text's lines (never a parse on the event loop; text in another
 * form goes to the parser's worker), and written back, so later views just read it.
 */
async function withSummaries(services: Services, records: TemplateRecord[]): Promise<SummarizedRecord[]> {
  const out: SummarizedRecord[] = [];
  const filled: SummarizedRecord[] = [];
  for (const r of records) {
    if (r.summary) {
      out.push(r as SummarizedRecord);
      continue;
    }
    const summary = readCanonicalInterfaces(r.text) ?? (await services.templateParser.summarizeStored(r.text)).summary;
    const record = { ...r, summary };
    out.push(record);
    filled.push(record);
  }
  if (filled.length > 0) writeBackSummaries(services, filled);
  return out;
}

function templateView(r: SummarizedRecord): Static<typeof TemplateView> {
  return { id: r.id, projectId: r.projectId, name: r.name, template: r.text, summary: r.summary, createdAt: r.createdAt, createdBy: r.createdBy };
}

export const templateRoutes = [
  route({
    method: 'get',
    path: '/v1/projects/{projectId}/templates',
    operationId: 'listTemplates',
    summary: 'List the templates of a project',
    tag: 'templates',
    access: 'project',
    params: ProjectParams,
    query: Closed(PageQuery),
    responses: { 200: { description: 'A page of templates.', schema: TemplatePage } },
    async handler({ params, query, services }) {
      const page = await services.store.templates.list(params.projectId, pageOf(query));
      return json(200, TemplatePage, { ...page, items: (await withSummaries(services, page.items)).map(templateView) });
    },
  }),
  route({
    method: 'post',
    path: '/v1/projects/{projectId}/templates',
    operationId: 'createTemplate',
    summary: 'Validate and store a template',
    description:
      'The text goes in `template` (`text` is a deprecated alias). A template that does not parse gives 422 `bad_template` with `line` and `column`; one whose topology would take more work than the limits allow (HANAMI_TEMPLATE_MAX_HEXAGONS, HANAMI_TEMPLATE_MAX_WORK, HANAMI_TEMPLATE_PARSE_TIMEOUT_MS) gives 422 `template_too_large` naming the limit (`limit`) and the estimate (`estimate`).',
    tag: 'templates',
    access: 'project',
    params: ProjectParams,
    body: CreateTemplate,
    responses: { 201: { description: 'Stored.', schema: TemplateView } },
    async handler({ params, body, principal, services }) {
      const given = body.template ?? body.text;
      if (given === undefined || (body.template !== undefined && body.text !== undefined)) {
        throw badRequest('template_choice', 'give the template text in "template" (or in its deprecated alias "text"), not in both', { field: '/body/template' });
      }
      await checkCountQuota(services, params.projectId, 'templates');
      const { canonical, summary } = await services.templateParser.parse(given);
      const record = await services.store.templates.create({
        id: randomUUID(),
        projectId: params.projectId,
        name: body.name,
        text: canonical,
        summary,
        createdAt: new Date().toISOString(),
        createdBy: requirePrincipal(principal).name,
      });
      return json(201, TemplateView, templateView({ ...record, summary }));
    },
  }),
  route({
    method: 'get',
    path: '/v1/projects/{projectId}/templates/{templateId}',
    operationId: 'getTemplate',
    summary: 'Show a template',
    tag: 'templates',
    access: 'project',
    params: TemplateParams,
    responses: { 200: { description: 'The template.', schema: TemplateView } },
    async handler({ params, services }) {
      const [record] = await withSummaries(services, [await services.store.templates.get(params.projectId, params.templateId)]);
      return json(200, TemplateView, templateView(record!));
    },
  }),
  route({
    method: 'delete',
    path: '/v1/projects/{projectId}/templates/{templateId}',
    operationId: 'deleteTemplate',
    summary: 'Delete a template (clusters made from it keep their copy)',
    tag: 'templates',
    access: 'project',
    params: TemplateParams,
    responses: { 204: { description: 'Deleted.' } },
    async handler({ params, services }) {
      await services.store.templates.delete(params.projectId, params.templateId);
      return noContent();
    },
  }),
];
