/**
 * Cluster templates: parsing (the OpenHanami text syntax, or the same structure as JSON) and
 * the canonical text and JSON forms.
 *
 * Both syntaxes are first read into a raw form (template-raw.ts; template-text.ts,
 * template-json.ts), values still untyped, each with its source location; one shared
 * validator (template-validate.ts) then turns that into a ClusterTemplate, so both forms obey
 * exactly the same rules and report errors the same way. Finally the topology is checked
 * (topology.ts), so a template that parses is a template that can grow a network.
 *
 * Every problem with the input is reported as a TemplateError naming line and column.
 */
import type { ClusterTemplate, InputSpec, OutputSpec, Position } from './template-types.js';
import { checkTemplateWork, prescanTemplate, type TemplateLimits } from './template-limits.js';
import { formatPosition, validateTopology } from './topology.js';
import { readTextTemplate } from './template-text.js';
import { readJsonTemplate } from './template-json.js';
import { buildTemplate } from './template-validate.js';

export { MAX_CONNECTION_DISTANCE, MAX_COORDINATE, MAX_NAME_LENGTH, MAX_REFRACTORY_TIME } from './template-validate.js';

/**
 * Parses a cluster template, in the OpenHanami text syntax or, when the first non-blank
 * character is `{`, as JSON. The result is validated down to its topology (no cycles,
 * every output reachable from an input). Throws TemplateError; with `limits` (templates a
 * client sends), also TemplateTooLargeError before any work beyond them is done
 * (template-limits.ts). Stored templates passed the limits when they were stored.
 */
export function parseTemplate(text: string, limits?: TemplateLimits): ClusterTemplate {
  const isJson = /^\s*\{/.test(text);
  if (limits) prescanTemplate(text, limits);
  // jsonc-parser does not skip a byte-order mark; a space keeps every offset unchanged.
  const raw = isJson ? readJsonTemplate(text.replace(/^\uFEFF/, ' ')) : readTextTemplate(text);
  const template = buildTemplate(raw);
  if (limits) checkTemplateWork(template, limits);
  validateTopology(template);
  return template;
}

/** Canonical text form: every setting spelled out, 3-D positions, `plain` types implicit. */
export function templateToText(t: ClusterTemplate): string {
  const indent = '    ';
  const lines = ['version: 1', 'settings:'];
  lines.push(`${indent}neuron_cooldown: ${String(t.settings.neuronCooldown)}`);
  lines.push(`${indent}refractory_time: ${t.settings.refractoryTime}`);
  lines.push(`${indent}max_connection_distance: ${t.settings.maxConnectionDistance}`);
  lines.push(`${indent}enable_reduction: ${t.settings.enableReduction}`);
  lines.push('hexagons:', ...t.hexagons.map((h) => indent + formatPosition(h.position)));
  if (t.axons.length > 0) {
    lines.push('axons:', ...t.axons.map((a) => `${indent}${formatPosition(a.from)} -> ${formatPosition(a.to)}`));
  }
  const port = (p: InputSpec | OutputSpec): string => `${indent}${p.name}: ${formatPosition(p.position)}${p.type === 'plain' ? '' : ` (${p.type})`}`;
  lines.push('inputs:', ...t.inputs.map(port));
  lines.push('outputs:', ...t.outputs.map(port));
  return `${lines.join('\n')}\n`;
}

/** What lists show of a template: its hexagon count and its input and output names. */
export interface TemplateInterfaces {
  hexagons: number;
  inputs: string[];
  outputs: string[];
}

/**
 * The interfaces of a stored template, read from its canonical text ({@link templateToText})
 * in one pass over its lines, without parsing it or building its topology, so that views of
 * stored templates and clusters never cost a parse. Undefined for text that is not in the
 * canonical form (this service stores only canonical text).
 */
export function readCanonicalInterfaces(text: string): TemplateInterfaces | undefined {
  const lines = text.split('\n');
  if (lines[0] !== 'version: 1') return undefined;
  const out: TemplateInterfaces = { hexagons: 0, inputs: [], outputs: [] };
  let block = '';
  for (const line of lines) {
    if (line === '') continue;
    if (!line.startsWith(' ')) {
      block = line.endsWith(':') ? line.slice(0, -1) : '';
      continue;
    }
    if (block === 'hexagons') out.hexagons++;
    else if (block === 'inputs' || block === 'outputs') {
      const colon = line.indexOf(':');
      if (colon < 0) return undefined;
      out[block].push(line.slice(0, colon).trim());
    }
  }
  return out;
}

/** {@link readCanonicalInterfaces}, or a full parse for text in another form. */
export function interfacesOfCanonicalText(text: string): TemplateInterfaces {
  return readCanonicalInterfaces(text) ?? interfacesOf(parseTemplate(text));
}

function interfacesOf(t: ClusterTemplate): TemplateInterfaces {
  return { hexagons: t.hexagons.length, inputs: t.inputs.map((i) => i.name), outputs: t.outputs.map((o) => o.name) };
}

/** JSON form (as accepted by {@link parseTemplate}), one element per line. */
export function templateToJson(t: ClusterTemplate): string {
  const pos = (p: Position): string => `[${p.x}, ${p.y}, ${p.z}]`;
  const list = (items: string[]): string => (items.length === 0 ? '[]' : `[\n    ${items.join(',\n    ')}\n  ]`);
  const port = (p: InputSpec | OutputSpec): string => `{ "name": ${JSON.stringify(p.name)}, "position": ${pos(p.position)}, "type": ${JSON.stringify(p.type)} }`;
  const settings = [
    `"neuron_cooldown": ${JSON.stringify(t.settings.neuronCooldown)}`,
    `"refractory_time": ${JSON.stringify(t.settings.refractoryTime)}`,
    `"max_connection_distance": ${JSON.stringify(t.settings.maxConnectionDistance)}`,
    `"enable_reduction": ${JSON.stringify(t.settings.enableReduction)}`,
  ];
  return [
    '{',
    '  "version": 1,',
    `  "settings": {\n    ${settings.join(',\n    ')}\n  },`,
    `  "hexagons": ${list(t.hexagons.map((h) => pos(h.position)))},`,
    `  "axons": ${list(t.axons.map((a) => `{ "from": ${pos(a.from)}, "to": ${pos(a.to)} }`))},`,
    `  "inputs": ${list(t.inputs.map(port))},`,
    `  "outputs": ${list(t.outputs.map(port))}`,
    '}',
    '',
  ].join('\n');
}
