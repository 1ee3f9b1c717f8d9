/**
 * The shared validator of cluster templates: the raw form (template-raw.ts), read from either
 * syntax, becomes a ClusterTemplate, so both forms obey exactly the same rules and report
 * errors the same way: the version, settings and their ranges, hexagon positions, axons,
 * input and output names and types. The topology is checked afterwards (topology.ts).
 */
import {
  DEFAULT_SETTINGS,
  TemplateError,
  type AxonSpec,
  type ClusterTemplate,
  type HexagonSpec,
  type InputSpec,
  type InputType,
  type OutputSpec,
  type OutputType,
  type Position,
  type SourceLocation,
  type TemplateSettings,
} from './template-types.js';
import { clip, formatLoc, oneOf, type RawAxon, type RawPosition, type RawScalar, type RawSetting, type RawTemplate } from './template-raw.js';
import { formatPosition } from './topology.js';

/** Largest accepted |coordinate|: keeps 2x + 1 inside an int32 for the GPU side. */
export const MAX_COORDINATE = 1_000_000_000;
/** Upper bound of max_connection_distance, which bounds the length of the target walk. */
export const MAX_CONNECTION_DISTANCE = 16;
/** Upper bound of refractory_time (fits a signed 32-bit counter). */
export const MAX_REFRACTORY_TIME = 2_147_483_647;
/** Longest input or output name. */
export const MAX_NAME_LENGTH = 254;

const NAME_RE = /^[A-Za-z0-9_]+$/;
const INPUT_TYPES: readonly InputType[] = ['plain', 'binary', 'match'];
const OUTPUT_TYPES: readonly OutputType[] = ['plain', 'bool', 'int', 'float'];

function integerOf(s: RawScalar, what: string, min: number, max: number): number {
  if (s.kind !== 'number' || !s.integral || s.value < min || s.value > max) {
    throw new TemplateError(`${what} must be an integer from ${min} to ${max}, found ${s.shown}`, s.loc);
  }
  return s.value === 0 ? 0 : s.value; // "-0" would print as 0 yet differ under Object.is / deepStrictEqual
}

/** Checked first by both readers: another version may mean another syntax. */
export function checkVersion(version: RawScalar): void {
  if (version.kind !== 'number' || !version.integral || version.value !== 1) {
    throw new TemplateError(`unsupported version ${version.shown} (only version 1 exists)`, version.loc);
  }
}

type SettingReader = (value: RawScalar, settings: TemplateSettings) => void;

const SETTING_READERS: ReadonlyMap<string, SettingReader> = new Map<string, SettingReader>([
  [
    'neuron_cooldown',
    (v, s) => {
      if (v.kind !== 'number' || !Number.isFinite(v.value) || !(v.value > 1)) {
        throw new TemplateError(`neuron_cooldown must be a number greater than 1, found ${v.shown}`, v.loc);
      }
      s.neuronCooldown = v.value;
    },
  ],
  ['refractory_time', (v, s) => void (s.refractoryTime = integerOf(v, 'refractory_time', 1, MAX_REFRACTORY_TIME))],
  ['max_connection_distance', (v, s) => void (s.maxConnectionDistance = integerOf(v, 'max_connection_distance', 1, MAX_CONNECTION_DISTANCE))],
  [
    'enable_reduction',
    (v, s) => {
      if (v.kind !== 'boolean') throw new TemplateError(`enable_reduction must be true or false, found ${v.shown}`, v.loc);
      s.enableReduction = v.value;
    },
  ],
]);

/** Known settings override the defaults; each may be given once. */
function readSettings(raw: readonly RawSetting[]): TemplateSettings {
  const settings: TemplateSettings = { ...DEFAULT_SETTINGS };
  const seen = new Map<string, SourceLocation>();
  for (const { name, nameLoc, value } of raw) {
    const reader = SETTING_READERS.get(name);
    if (!reader) {
      throw new TemplateError(`unknown setting ${JSON.stringify(clip(name))}`, nameLoc, oneOf(name, [...SETTING_READERS.keys()]));
    }
    const first = seen.get(name);
    if (first) throw new TemplateError(`duplicate setting "${name}" (first set at ${formatLoc(first)})`, nameLoc);
    seen.set(name, nameLoc);
    reader(value, settings);
  }
  return settings;
}

function readPosition(raw: RawPosition, what: string): Position {
  const [x, y, z, ...extra] = raw.coords;
  if (!x || !y || extra.length > 0) {
    throw new TemplateError(`the position of ${what} must have 2 or 3 coordinates (x, y[, z]), found ${raw.coords.length}`, raw.loc);
  }
  const coordinate = (s: RawScalar, axis: string): number => integerOf(s, `${axis} coordinate of ${what}`, -MAX_COORDINATE, MAX_COORDINATE);
  return { x: coordinate(x, 'x'), y: coordinate(y, 'y'), z: z ? coordinate(z, 'z') : 1 };
}

function readHexagons(raw: RawTemplate): HexagonSpec[] {
  if (raw.hexagons.length === 0) {
    throw new TemplateError('no hexagons declared', raw.hexagonsLoc, 'at least one hexagon position x,y,z');
  }
  const declared = new Map<string, HexagonSpec>();
  return raw.hexagons.map((rawPosition) => {
    const hexagon: HexagonSpec = { position: readPosition(rawPosition, 'a hexagon'), loc: rawPosition.loc };
    const key = formatPosition(hexagon.position);
    const first = declared.get(key);
    if (first) throw new TemplateError(`duplicate hexagon ${key} (first declared at ${formatLoc(first.loc)})`, hexagon.loc);
    declared.set(key, hexagon);
    return hexagon;
  });
}

/** Position of `raw`, which must be one of the declared hexagons. */
function declaredPosition(raw: RawPosition, declared: ReadonlySet<string>, what: string): Position {
  const position = readPosition(raw, what);
  if (!declared.has(formatPosition(position))) {
    throw new TemplateError(`${what} is on hexagon ${formatPosition(position)} which is not declared`, raw.loc);
  }
  return position;
}

function readAxons(raw: readonly RawAxon[], declared: ReadonlySet<string>): AxonSpec[] {
  const bySource = new Map<string, AxonSpec>();
  return raw.map((rawAxon) => {
    const axon: AxonSpec = {
      from: declaredPosition(rawAxon.from, declared, 'the axon source'),
      to: declaredPosition(rawAxon.to, declared, 'the axon target'),
      loc: rawAxon.loc,
    };
    const from = formatPosition(axon.from);
    if (from === formatPosition(axon.to)) {
      throw new TemplateError(`axon ${from} -> ${from} starts and ends on the same hexagon`, axon.loc);
    }
    const first = bySource.get(from);
    if (first) {
      throw new TemplateError(`hexagon ${from} already has an axon (declared at ${formatLoc(first.loc)}); a hexagon has at most one`, axon.loc);
    }
    bySource.set(from, axon);
    return axon;
  });
}

function portName(raw: RawScalar): string {
  if (raw.kind !== 'string' || !NAME_RE.test(raw.value)) {
    throw new TemplateError(`invalid name ${raw.shown}`, raw.loc, 'letters, digits and _ only');
  }
  if (raw.value.length > MAX_NAME_LENGTH) {
    throw new TemplateError(`name ${raw.shown} is ${raw.value.length} characters long (at most ${MAX_NAME_LENGTH} allowed)`, raw.loc);
  }
  return raw.value;
}

function portType<T extends string>(raw: RawScalar | undefined, what: string, allowed: readonly T[]): T {
  if (!raw) return allowed[0] as T; // 'plain'
  const type = allowed.find((t) => raw.kind === 'string' && raw.value === t);
  if (!type) throw new TemplateError(`unknown ${what} type ${raw.shown}`, raw.loc, oneOf(raw.kind === 'string' ? raw.value : raw.shown, allowed));
  return type;
}

/** Names must be unique across inputs and outputs, since both are addressed by name. */
class NameRegistry {
  private readonly used = new Map<string, { kind: string; loc: SourceLocation }>();
  claim(name: string, kind: string, loc: SourceLocation): void {
    const first = this.used.get(name);
    if (first) {
      throw new TemplateError(`duplicate name "${name}" (already used by the ${first.kind} at ${formatLoc(first.loc)}); input and output names must be unique`, loc);
    }
    this.used.set(name, { kind, loc });
  }
}

function readInputs(raw: RawTemplate, declared: ReadonlySet<string>, names: NameRegistry): InputSpec[] {
  if (raw.inputs.length === 0) throw new TemplateError('no inputs declared', raw.inputsLoc, 'at least one input "name: x,y,z"');
  return raw.inputs.map((port) => {
    const name = portName(port.name);
    names.claim(name, 'input', port.loc);
    const position = declaredPosition(port.position, declared, `input "${name}"`);
    return { name, position, type: portType(port.type, 'input', INPUT_TYPES), loc: port.loc };
  });
}

function readOutputs(raw: RawTemplate, declared: ReadonlySet<string>, names: NameRegistry, inputs: readonly InputSpec[]): OutputSpec[] {
  if (raw.outputs.length === 0) throw new TemplateError('no outputs declared', raw.outputsLoc, 'at least one output "name: x,y,z"');
  return raw.outputs.map((port) => {
    const name = portName(port.name);
    names.claim(name, 'output', port.loc);
    const position = declaredPosition(port.position, declared, `output "${name}"`);
    const type = portType(port.type, 'output', OUTPUT_TYPES);
    // Input neurons are driven from outside and output neurons only collect, so one
    // hexagon cannot be both.
    const input = inputs.find((i) => formatPosition(i.position) === formatPosition(position));
    if (input) {
      throw new TemplateError(
        `output "${name}" is on hexagon ${formatPosition(position)}, which already holds input "${input.name}" ` + `(${formatLoc(input.loc)}); a hexagon cannot hold both inputs and outputs`,
        port.position.loc,
      );
    }
    return { name, position, type, loc: port.loc };
  });
}

/** The raw form as a ClusterTemplate, or a TemplateError at the first problem. */
export function buildTemplate(raw: RawTemplate): ClusterTemplate {
  checkVersion(raw.version);
  const settings = readSettings(raw.settings);
  const hexagons = readHexagons(raw);
  const declared = new Set(hexagons.map((h) => formatPosition(h.position)));
  const axons = readAxons(raw.axons, declared);
  const names = new NameRegistry();
  const inputs = readInputs(raw, declared, names);
  const outputs = readOutputs(raw, declared, names, inputs);
  return { version: 1, settings, hexagons, axons, inputs, outputs };
}
