/**
 * The parsed form of a cluster template, shared by the parser (text or JSON), the
 * topology builder and the cluster factory. Positions are hex-grid coordinates as
 * written in the template (x, y, z); every element remembers where it was written so
 * later semantic errors can still name a line and column.
 */
import { DomainError } from '../errors.js';

export interface SourceLocation {
  /** 1-based line of the first character of the element. */
  line: number;
  /** 1-based column of the first character of the element. */
  column: number;
}

export interface Position {
  x: number;
  y: number;
  z: number;
}

export interface TemplateSettings {
  /** Each cycle the carried-over potential of a hidden neuron is divided by this (> 1). */
  neuronCooldown: number;
  /** Cycles between two accepted inputs of a hidden neuron (integer >= 1). */
  refractoryTime: number;
  /** Hop budget of the random walk that picks a neuron's target hexagon (integer >= 1). */
  maxConnectionDistance: number;
  /** Remove synapses that never became persistent. */
  enableReduction: boolean;
}

export const DEFAULT_SETTINGS: Readonly<TemplateSettings> = Object.freeze({
  neuronCooldown: 1e9,
  refractoryTime: 1,
  maxConnectionDistance: 1,
  enableReduction: false,
});

export interface HexagonSpec {
  position: Position;
  loc: SourceLocation;
}

export interface AxonSpec {
  from: Position;
  to: Position;
  loc: SourceLocation;
}

/** `plain`: thermometer section over the raw value; `binary`: any value > 0 fires the whole
 *  section; `match`: categorical, each distinct value gets its own synapse. */
export type InputType = 'plain' | 'binary' | 'match';
/** `plain` and `float`: real values; `bool`: thresholded at 0.5; `int`: rounded. */
export type OutputType = 'plain' | 'bool' | 'int' | 'float';

export interface InputSpec {
  name: string;
  position: Position;
  type: InputType;
  loc: SourceLocation;
}

export interface OutputSpec {
  name: string;
  position: Position;
  type: OutputType;
  loc: SourceLocation;
}

export interface ClusterTemplate {
  version: 1;
  settings: TemplateSettings;
  hexagons: HexagonSpec[];
  axons: AxonSpec[];
  inputs: InputSpec[];
  outputs: OutputSpec[];
}

/** A template that cannot be used; always names where the problem is. */
export class TemplateError extends DomainError {
  readonly line: number;
  readonly column: number;
  readonly expected: string | undefined;
  constructor(message: string, loc: SourceLocation, expected?: string) {
    super('bad_template', `line ${loc.line}, column ${loc.column}: ${message}${expected ? ` (expected ${expected})` : ''}`, { line: loc.line, column: loc.column });
    this.name = 'TemplateError';
    this.line = loc.line;
    this.column = loc.column;
    this.expected = expected;
  }
}
