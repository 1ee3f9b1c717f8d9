/**
 * The template worker: parses and checks templates off the event loop (template-parser.ts
 * runs it). One message in, one out; a template too large for its limits, or one that does
 * not parse, comes back as a described error, which the parent turns into the same error
 * class again.
 */
import { parentPort } from 'node:worker_threads';
import { parseTemplate, templateToText } from './template.js';
import { TemplateTooLargeError, type TemplateLimits } from './template-limits.js';
import { TemplateError } from './template-types.js';

export interface TemplateSummary {
  hexagons: number;
  inputs: string[];
  outputs: string[];
}

export interface ParseRequest {
  id: number;
  text: string;
  /** Absent: stored text, parsed without the limits (it passed them when it was stored). */
  limits?: TemplateLimits;
}

export type ParseReply =
  | { id: number; ok: true; canonical: string; summary: TemplateSummary }
  | { id: number; ok: false; kind: 'template'; message: string; line: number; column: number }
  | { id: number; ok: false; kind: 'too_large'; message: string; limit: { name: string; value: number }; estimate: number }
  | { id: number; ok: false; kind: 'other'; message: string };

function handle(request: ParseRequest): ParseReply {
  try {
    const template = parseTemplate(request.text, request.limits);
    const summary = { hexagons: template.hexagons.length, inputs: template.inputs.map((i) => i.name), outputs: template.outputs.map((o) => o.name) };
    return { id: request.id, ok: true, canonical: templateToText(template), summary };
  } catch (error) {
    if (error instanceof TemplateTooLargeError) {
      const { limit, estimate } = error.details;
      return { id: request.id, ok: false, kind: 'too_large', message: error.message, limit: limit ?? { name: 'template', value: 0 }, estimate: estimate ?? 0 };
    }
    // TemplateError's message already starts with "line L, column C: "; send the bare parts.
    if (error instanceof TemplateError) return { id: request.id, ok: false, kind: 'template', message: error.message, line: error.line, column: error.column };
    return { id: request.id, ok: false, kind: 'other', message: error instanceof Error ? error.message : String(error) };
  }
}

parentPort?.on('message', (request: ParseRequest) => parentPort?.postMessage(handle(request)));
// Loaded: the parent starts a template's clock only now, so a slow start is not its parse.
parentPort?.postMessage('ready');
