/**
 * Cluster templates, stored per project after validation: a template that does not parse
 * (or whose topology is unusable) is refused with 422 and the line and column of the
 * problem. Stored in canonical text form; the OpenHanami syntax and JSON are both accepted.
 */
import { randomUUID } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import { parseTemplate, templateToText } from '../../network/template.js';
import type { ClusterTemplate } from '../../network/template-types.js';
import type { TemplateRecord } from '../../store/types.js';
import { mapPage, pageOf } from '../paging.js';
import { badRequest } from '../problem.js';
import { json, noContent, requirePrincipal, route } from '../route.js';
import { Closed, Name, PageOf, PageQuery, ProjectParams, StoredName, Timestamp, Uuid } from '../schemas.js';

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

function summarize(t: ClusterTemplate): Static<typeof TemplateSummary> {
  return { hexagons: t.hexagons.length, inputs: t.inputs.map((i) => i.name), outputs: t.outputs.map((o) => o.name) };
}

/** Stored template texts are canonical and few: remember their summaries instead of re-parsing them for every view. */
const summaries = new Map<string, Static<typeof TemplateSummary>>();
const MAX_SUMMARIES = 256;

export function templateSummary(text: string): Static<typeof TemplateSummary> {
  let summary = summaries.get(text);
  if (!summary) {
    summary = summarize(parseTemplate(text));
    if (summaries.size >= MAX_SUMMARIES) summaries.delete(summaries.keys().next().value ?? '');
    summaries.set(text, summary);
  }
  return summary;
}

const TemplateView = Closed(
  { id: Uuid, projectId: Uuid, name: StoredName, template: Type.String({ description: 'The template (canonical text form).' }), summary: TemplateSummary, createdAt: Timestamp, createdBy: Type.String() },
  { title: 'Template' },
);
const TemplatePage = PageOf(TemplateView, 'TemplatePage');
const TemplateParams = Closed({ projectId: Uuid, templateId: Uuid });

function templateView(r: TemplateRecord): Static<typeof TemplateView> {
  return { id: r.id, projectId: r.projectId, name: r.name, template: r.text, summary: templateSummary(r.text), createdAt: r.createdAt, createdBy: r.createdBy };
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
      return json(200, TemplatePage, mapPage(await services.store.templates.list(params.projectId, pageOf(query)), templateView));
    },
  }),
  route({
    method: 'post',
    path: '/v1/projects/{projectId}/templates',
    operationId: 'createTemplate',
    summary: 'Validate and store a template',
    description: 'The text goes in `template` (`text` is a deprecated alias). A template that does not parse gives 422 `bad_template` with `line` and `column`.',
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
      const text = templateToText(parseTemplate(given));
      const record = await services.store.templates.create({
        id: randomUUID(),
        projectId: params.projectId,
        name: body.name,
        text,
        createdAt: new Date().toISOString(),
        createdBy: requirePrincipal(principal).name,
      });
      return json(201, TemplateView, templateView(record));
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
      return json(200, TemplateView, templateView(await services.store.templates.get(params.projectId, params.templateId)));
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
