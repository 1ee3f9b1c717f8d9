import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { parseTemplate, templateToJson, templateToText } from '../../../server/network/template.js';
import { DEFAULT_SETTINGS, TemplateError, type ClusterTemplate } from '../../../server/network/template-types.js';
import { rand32 } from '../../../kernels/rng.js';

const EXAMPLE = `version: 1
settings:
    neuron_cooldown: 10000000.0
    refractory_time: 1
    max_connection_distance: 1
    enable_reduction: false
hexagons:
    1,1,1
    2,1,1
    3,1,1
axons:
    1,1,1 -> 3,1,1
inputs:
    picture: 1,1,1
    flags: 1,1,1 (binary)
outputs:
    label: 3,1,1
    level: 3,1,1 (float)
`;

const EXAMPLE_JSON = `{ "version": 1,
  "settings": { "neuron_cooldown": 1e7, "refractory_time": 1, "max_connection_distance": 1, "enable_reduction": false },
  "hexagons": [[1,1,1],[2,1,1],{"x":3,"y":1,"z":1}],
  "axons": [{ "from": [1,1,1], "to": [3,1,1] }],
  "inputs": [{ "name": "picture", "position": [1,1,1] }, { "name": "flags", "position": [1,1,1], "type": "binary" }],
  "outputs": [{ "name": "label", "position": [3,1,1] }, { "name": "level", "position": [3,1,1], "type": "float" }] }`;

/** Same template without source locations, for comparing templates read from different text. */
function withoutLocs(t: ClusterTemplate): unknown {
  return JSON.parse(JSON.stringify(t, (key, value: unknown) => (key === 'loc' ? undefined : value)));
}

/** Asserts that parsing fails with a TemplateError at line:column whose message contains every part. */
function assertTemplateError(text: string, line: number, column: number, ...parts: string[]): TemplateError {
  try {
    parseTemplate(text);
  } catch (error) {
    assert.ok(error instanceof TemplateError, `expected TemplateError, got ${String(error)}`);
    assert.equal(error.line, line, error.message);
    assert.equal(error.column, column, error.message);
    assert.ok(error.message.startsWith(`line ${line}, column ${column}: `), error.message);
    for (const part of parts) assert.ok(error.message.includes(part), `"${error.message}" lacks "${part}"`);
    return error;
  }
  assert.fail(`expected a TemplateError for:\n${text}`);
}

/** A small valid text template with the given extra blocks spliced in. */
function line3(opts: { settings?: string; axons?: string; inputs?: string; outputs?: string } = {}): string {
  return [
    'version: 1',
    ...(opts.settings !== undefined ? ['settings:', opts.settings] : []),
    'hexagons:',
    '  1,1,1',
    '  2,1,1',
    '  3,1,1',
    ...(opts.axons !== undefined ? ['axons:', opts.axons] : []),
    'inputs:',
    opts.inputs ?? '  in: 1,1,1',
    'outputs:',
    opts.outputs ?? '  out: 3,1,1',
    '',
  ].join('\n');
}

describe('parseTemplate: text syntax', () => {
  it('reads the OpenHanami example', () => {
    const t = parseTemplate(EXAMPLE);
    assert.equal(t.version, 1);
    assert.deepEqual(t.settings, { neuronCooldown: 1e7, refractoryTime: 1, maxConnectionDistance: 1, enableReduction: false });
    assert.deepEqual(
      t.hexagons.map((h) => h.position),
      [
        { x: 1, y: 1, z: 1 },
        { x: 2, y: 1, z: 1 },
        { x: 3, y: 1, z: 1 },
      ],
    );
    assert.deepEqual(t.hexagons[1]?.loc, { line: 9, column: 5 });
    assert.deepEqual(
      t.axons.map((a) => [a.from, a.to, a.loc]),
      [
        [
          { x: 1, y: 1, z: 1 },
          { x: 3, y: 1, z: 1 },
          { line: 12, column: 5 },
        ],
      ],
    );
    assert.deepEqual(
      t.inputs.map((i) => [i.name, i.type, i.loc.line]),
      [
        ['picture', 'plain', 14],
        ['flags', 'binary', 15],
      ],
    );
    assert.deepEqual(
      t.outputs.map((o) => [o.name, o.type, o.position.x]),
      [
        ['label', 'plain', 3],
        ['level', 'float', 3],
      ],
    );
  });

  it('accepts 2-D positions as z = 1', () => {
    const t = parseTemplate('version: 1\nhexagons:\n 1,1\n 2, 1\ninputs:\n a: 1,1\noutputs:\n b: 2,1 (bool)\n');
    assert.deepEqual(
      t.hexagons.map((h) => h.position),
      [
        { x: 1, y: 1, z: 1 },
        { x: 2, y: 1, z: 1 },
      ],
    );
    assert.deepEqual(t.outputs[0]?.position, { x: 2, y: 1, z: 1 });
    assert.equal(t.outputs[0]?.type, 'bool');
  });

  it('accepts 3-D templates, negative coordinates and all port types', () => {
    const t = parseTemplate(`version:1
hexagons:
    0,-1,-2
    0,-1,-1
    1,-1,-1
    1,-1,0
inputs:
    a: 0,-1,-2 (match)
    b: 0,-1,-2 (plain)
outputs:
    c: 1,-1,0 (int)
    d: 1,-1,0 (float)
    e: 1,-1,0 (bool)
`);
    assert.equal(t.hexagons.length, 4);
    assert.deepEqual(t.hexagons[0]?.position, { x: 0, y: -1, z: -2 });
    assert.deepEqual(
      t.inputs.map((i) => i.type),
      ['match', 'plain'],
    );
    assert.deepEqual(
      t.outputs.map((o) => o.type),
      ['int', 'float', 'bool'],
    );
  });

  it('uses DEFAULT_SETTINGS for missing settings', () => {
    assert.deepEqual(parseTemplate(line3()).settings, DEFAULT_SETTINGS);
    assert.deepEqual(parseTemplate(line3({ settings: '' })).settings, DEFAULT_SETTINGS);
    const partial = parseTemplate(line3({ settings: '  refractory_time: 3\n  enable_reduction: True' })).settings;
    assert.deepEqual(partial, { ...DEFAULT_SETTINGS, refractoryTime: 3, enableReduction: true });
  });

  it('reads every number notation', () => {
    const cooldown = (v: string): number => parseTemplate(line3({ settings: `  neuron_cooldown: ${v}` })).settings.neuronCooldown;
    assert.equal(cooldown('1e9'), 1e9);
    assert.equal(cooldown('2.5e3'), 2500);
    assert.equal(cooldown('1.5E+2'), 150);
    assert.equal(cooldown('10000000.0'), 1e7);
    assert.equal(cooldown('7'), 7);
    const reduction = (v: string): boolean => parseTemplate(line3({ settings: `  enable_reduction: ${v}` })).settings.enableReduction;
    assert.deepEqual(['true', 'True', 'false', 'False'].map(reduction), [true, true, false, false]);
  });

  it('ignores comments, blank lines, indentation and line-ending style but keeps locations exact', () => {
    const text = ['# a template', '', '   version: 1   # first', 'hexagons:', '\t1 , 1 , 1', '        2,1,1#trailing comment', '', 'inputs:', 'in:1,1,1(binary)', '  outputs:', '  out: 2,1,1'];
    for (const eol of ['\n', '\r\n', '\r']) {
      const t = parseTemplate(text.join(eol));
      assert.deepEqual(t.hexagons[0]?.loc, { line: 5, column: 2 });
      assert.deepEqual(t.hexagons[1]?.loc, { line: 6, column: 9 });
      assert.deepEqual(t.inputs[0]?.loc, { line: 9, column: 1 });
      assert.equal(t.inputs[0]?.type, 'binary');
      assert.deepEqual(t.outputs[0]?.loc, { line: 11, column: 3 });
    }
  });

  it('accepts arrows without spaces and names that look like keywords', () => {
    const t = parseTemplate('version: 1\nhexagons:\n 1,1,1\n 2,1,1\n 3,1,1\n 4,1,1\naxons:\n 1,1,1->3,1,1\ninputs:\n outputs: 1,1,1\n 1st: 1,1,1\noutputs:\n version: 4,1,1\n');
    assert.deepEqual(
      t.inputs.map((i) => i.name),
      ['outputs', '1st'],
    );
    assert.equal(t.outputs[0]?.name, 'version');
    assert.equal(t.axons.length, 1);
  });

  it('counts columns in characters, not UTF-16 units', () => {
    assertTemplateError('version: 1 # 😀 é\nhexagons:\n  1,1,1 # 😀\n  😀', 4, 3, 'unexpected character "😀"');
    assertTemplateError('version: 1\nhexagons: # 😀😀\n  1,1,1\n  2,1,1 😀 x', 4, 9, 'unexpected character');
  });
});

describe('parseTemplate: JSON syntax', () => {
  it('reads the same template as the text form', () => {
    assert.deepEqual(withoutLocs(parseTemplate(EXAMPLE_JSON)), withoutLocs(parseTemplate(EXAMPLE)));
  });

  it('records JSON locations and applies defaults', () => {
    const t = parseTemplate(`
{"version": 1,
 "hexagons": [[1,1], {"x": 2, "y": 1}],
 "inputs": [{"name": "a", "position": [1,1,1]}],
 "outputs": [{"name": "b", "position": {"x": 2, "y": 1, "z": 1}, "type": "int"}]}`);
    assert.deepEqual(t.settings, DEFAULT_SETTINGS);
    assert.deepEqual(t.axons, []);
    assert.deepEqual(
      t.hexagons.map((h) => [h.position, h.loc]),
      [
        [
          { x: 1, y: 1, z: 1 },
          { line: 3, column: 15 },
        ],
        [
          { x: 2, y: 1, z: 1 },
          { line: 3, column: 22 },
        ],
      ],
    );
    assert.deepEqual(t.inputs[0]?.loc, { line: 4, column: 13 });
    assert.equal(t.inputs[0]?.type, 'plain');
    assert.equal(t.outputs[0]?.type, 'int');
  });

  it('round-trips through templateToText and templateToJson', () => {
    const samples = [EXAMPLE, EXAMPLE_JSON, line3({ settings: '  neuron_cooldown: 1.5e300\n  max_connection_distance: 2' })];
    for (const sample of samples) {
      const t = parseTemplate(sample);
      assert.deepEqual(withoutLocs(parseTemplate(templateToText(t))), withoutLocs(t));
      assert.deepEqual(withoutLocs(parseTemplate(templateToJson(t))), withoutLocs(t));
      assert.equal(templateToText(parseTemplate(templateToText(t))), templateToText(t));
    }
  });
});

describe('parseTemplate: text errors', () => {
  it('rejects an empty file and a missing or wrong version', () => {
    assertTemplateError('', 1, 1, 'empty template', 'expected "version: 1"');
    assertTemplateError('\n  # only a comment\n\n', 1, 1, 'empty template');
    assertTemplateError('version: 2\nhexagons:\n', 1, 10, 'unsupported version "2"');
    assertTemplateError('version: 1.0\n', 1, 10, 'unsupported version "1.0"');
    assertTemplateError('version 1\n', 1, 9, 'unexpected "1"', 'expected ":" after "version"');
    assertTemplateError('\nhexagons:\n 1,1,1\n', 2, 1, 'unexpected "hexagons"', 'expected "version: 1"');
    assertTemplateError('version: 1 1\n', 1, 12, 'unexpected "1" after the version');
    assertTemplateError('version: 3\nhexagons:\n  $$$\n', 1, 10, 'unsupported version "3"'); // before any later error
  });

  it('rejects unknown, duplicate and out-of-range settings', () => {
    const unknown = assertTemplateError(line3({ settings: '    neuron_colldown: 3' }), 3, 5);
    assert.equal(
      unknown.message,
      'line 3, column 5: unknown setting "neuron_colldown" (expected one of neuron_cooldown, refractory_time, max_connection_distance, enable_reduction; did you mean "neuron_cooldown"?)',
    );
    // Far from every known setting: the list, no guess.
    const far = assertTemplateError(line3({ settings: '    learning_rate: 3' }), 3, 5, 'unknown setting "learning_rate"', 'one of neuron_cooldown');
    assert.doesNotMatch(far.message, /did you mean/);
    assertTemplateError(line3({ settings: '  refractory_time: 1\n  refractory_time: 2' }), 4, 3, 'duplicate setting "refractory_time" (first set at line 3, column 3)');
    assertTemplateError(line3({ settings: '  neuron_cooldown: 1' }), 3, 20, 'neuron_cooldown must be a number greater than 1, found "1"');
    assertTemplateError(line3({ settings: '  neuron_cooldown: abc' }), 3, 20, 'found "abc"');
    assertTemplateError(line3({ settings: '  neuron_cooldown: 1e999' }), 3, 20, 'neuron_cooldown must be');
    assertTemplateError(line3({ settings: '  neuron_cooldown: 1.2.3' }), 3, 20, 'invalid number "1.2.3"');
    assertTemplateError(line3({ settings: '  neuron_cooldown: 1.' }), 3, 20, 'invalid number "1."');
    assertTemplateError(line3({ settings: '  neuron_cooldown: -5' }), 3, 20, 'greater than 1');
    assertTemplateError(line3({ settings: '  refractory_time: 0' }), 3, 20, 'refractory_time must be an integer from 1 to');
    assertTemplateError(line3({ settings: '  refractory_time: 1.5' }), 3, 20, 'found "1.5"');
    assertTemplateError(line3({ settings: '  max_connection_distance: 17' }), 3, 28, 'max_connection_distance must be an integer from 1 to 16, found "17"');
    assertTemplateError(line3({ settings: '  enable_reduction: yes' }), 3, 21, 'enable_reduction must be true or false, found "yes"');
    assertTemplateError(line3({ settings: '  enable_reduction: TRUE' }), 3, 21, 'must be true or false');
    assertTemplateError(line3({ settings: '  enable_reduction false' }), 3, 20, 'expected ":" after the setting name');
    assertTemplateError(line3({ settings: '  enable_reduction:' }), 3, 20, 'unexpected end of line', 'expected a value');
  });

  it('rejects bad and duplicate hexagons', () => {
    const dup = assertTemplateError('version: 1\nsettings:\n    refractory_time: 1\nhexagons:\n    1,1,1\n    2,1,1\n    2,1,1\ninputs:\n i: 1,1,1\noutputs:\n o: 2,1,1\n', 7, 5);
    assert.equal(dup.message, 'line 7, column 5: duplicate hexagon 2,1,1 (first declared at line 6, column 5)');
    const hex = (body: string): string => `version: 1\nhexagons:\n${body}\ninputs:\n i: 1,1,1\noutputs:\n o: 2,1,1\n`;
    assertTemplateError(hex('  1,1,1\n  2,1,1\n  1.5,1,1'), 5, 3, 'x coordinate of a hexagon must be an integer', 'found "1.5"');
    assertTemplateError(hex('  1,1,1\n  2,1,1\n  3,abc,1'), 5, 5, 'y coordinate', 'found "abc"');
    assertTemplateError(hex('  1,1,1\n  2,1,1\n  3,1,2000000000'), 5, 7, 'z coordinate', 'from -1000000000 to 1000000000');
    assertTemplateError(hex('  1,1,1\n  2,1,1\n  3,1,1 x'), 5, 9, 'unexpected "x" after the hexagon position', 'expected end of line');
    assertTemplateError(hex('  1,1,1\n  2,1,1\n  3,1,1,1'), 5, 8, 'unexpected ","');
    assertTemplateError(hex('  1,1,1\n  2,1,1\n  3'), 5, 4, 'unexpected end of line', 'expected "," between coordinates');
    assertTemplateError(hex('  1,1,1\n  2,1,1\n  3;1'), 5, 4, 'unexpected character ";"');
    assertTemplateError(hex('  1,1,1\n  2,1,1\n  3,1,--1'), 5, 7, 'invalid number "--1"');
    assertTemplateError('version: 1\nhexagons:\ninputs:\n i: 1,1,1\noutputs:\n o: 2,1,1\n', 2, 1, 'no hexagons declared');
  });

  it('rejects missing, duplicate and misordered blocks', () => {
    assertTemplateError('version: 1\ninputs:\n i: 1,1,1\n', 2, 1, 'missing block "hexagons:" before "inputs:"');
    assertTemplateError('version: 1\nhexagons:\n 1,1,1\ninputs:\n i: 1,1,1\n', 5, 10, 'missing block "outputs:" at the end of the template');
    assertTemplateError('version: 1\nhexagons:\n 1,1,1\n 2,1,1\noutputs:\n o: 2,1,1\n', 5, 1, 'missing block "inputs:" before "outputs:"');
    assertTemplateError('version: 1\nhexagons:\n 1,1,1\nsettings:\n', 4, 1, 'block "settings:" is out of order', 'version, settings, hexagons, axons, inputs, outputs');
    assertTemplateError('version: 1\nhexagons:\n 1,1,1\nhexagons:\n 2,1,1\n', 4, 1, 'duplicate block "hexagons:" (first at line 2, column 1)');
    assertTemplateError('version: 1\n 1,1,1\nhexagons:\n', 2, 2, 'unexpected "1" after the version', 'a block header');
    assertTemplateError(line3({ inputs: '' }), 6, 1, 'no inputs declared');
    assertTemplateError(line3({ outputs: '' }), 8, 1, 'no outputs declared');
  });

  it('names a misspelled or unknown block header, at its line and column, with the likely intent', () => {
    const blocks = 'blocks are: version, settings, hexagons, axons, inputs, outputs';
    const misspelled = line3().replace('outputs:', 'ouputs:');
    const e = assertTemplateError(misspelled, 8, 1);
    assert.equal(e.message, `line 8, column 1: unknown block "ouputs" (${blocks}; did you mean "outputs"?)`);
    assertTemplateError(line3().replace('hexagons:', 'Hexagons:'), 2, 1, 'unknown block "Hexagons"', 'did you mean "hexagons"?');
    assertTemplateError(line3({ settings: '  refractory_time: 1' }).replace('settings:', 'setings:'), 2, 1, 'unknown block "setings"', 'did you mean "settings"?');
    assertTemplateError(line3({ axons: '  1,1,1 -> 3,1,1' }).replace('axons:', 'axon:'), 6, 1, 'unknown block "axon"', 'did you mean "axons"?');
    // Before any block, and among positions (where `<word>:` cannot be an entry): unknown
    // even when far from every block name.
    const before = assertTemplateError('version: 1\nlayers:\n  1,1,1\n', 2, 1, `unknown block "layers" (${blocks})`);
    assert.doesNotMatch(before.message, /did you mean/);
    assertTemplateError(line3().replace('inputs:', 'sensors:'), 6, 1, 'unknown block "sensors"');
    // Inside inputs/outputs/settings a `<word>:` far from any block name is an entry that
    // lacks its value, as before; an input may still be named like a block.
    assertTemplateError(line3({ outputs: '  digit:' }), 9, 9, 'unexpected end of line', 'expected a position x,y,z');
    assertTemplateError(line3({ settings: '  refractory_time:' }), 3, 19, 'expected a value');
    assert.equal(parseTemplate(line3({ inputs: '  outputs: 1,1,1' })).inputs[0]?.name, 'outputs');
  });

  it('rejects bad axons', () => {
    assertTemplateError(line3({ axons: '  1,1,1 -> 9,1,1' }), 7, 12, 'the axon target is on hexagon 9,1,1 which is not declared');
    assertTemplateError(line3({ axons: '  9,1,1 -> 1,1,1' }), 7, 3, 'the axon source is on hexagon 9,1,1');
    assertTemplateError(line3({ axons: '  2,1,1 -> 2,1,1' }), 7, 3, 'axon 2,1,1 -> 2,1,1 starts and ends on the same hexagon');
    assertTemplateError(line3({ axons: '  1,1,1 -> 3,1,1\n  1,1,1 -> 2,1,1' }), 8, 3, 'hexagon 1,1,1 already has an axon (declared at line 7, column 3)');
    assertTemplateError(line3({ axons: '  1,1,1 3,1,1' }), 7, 9, 'expected "->"');
    assertTemplateError(line3({ axons: '  1,1,1 -> 3,1,1 ->' }), 7, 18, 'unexpected "->" after the axon');
  });

  it('rejects bad inputs and outputs', () => {
    const undeclared = 'version: 1\nsettings:\n  refractory_time: 1\nhexagons:\n  1,1,1\n  2,1,1\n  3,1,1\n\n# inputs\n\ninputs:\n  picture: 9,1,1\noutputs:\n  label: 3,1,1\n';
    const e = assertTemplateError(undeclared, 12, 12);
    assert.equal(e.message, 'line 12, column 12: input "picture" is on hexagon 9,1,1 which is not declared');
    assertTemplateError(line3({ inputs: '  a.b: 1,1,1' }), 7, 3, 'invalid name "a.b"', 'letters, digits and _');
    assertTemplateError(line3({ inputs: `  ${'n'.repeat(255)}: 1,1,1` }), 7, 3, 'is 255 characters long (at most 254 allowed)');
    parseTemplate(line3({ inputs: `  ${'n'.repeat(254)}: 1,1,1` }));
    assertTemplateError(line3({ inputs: '  x: 1,1,1\n  x: 1,1,1' }), 8, 3, 'duplicate name "x" (already used by the input at line 7, column 3)');
    assertTemplateError(line3({ outputs: '  in: 3,1,1' }), 9, 3, 'duplicate name "in"', 'must be unique');
    assertTemplateError(line3({ inputs: '  x: 1,1,1 (foo)' }), 7, 13, 'unknown input type "foo"', 'one of plain, binary, match');
    assertTemplateError(line3({ outputs: '  y: 3,1,1 (binary)' }), 9, 13, 'unknown output type "binary"', 'one of plain, bool, int, float');
    assertTemplateError(line3({ outputs: '  y: 3,1,1 (flaot)' }), 9, 13, 'unknown output type "flaot"', 'did you mean "float"?');
    assertTemplateError(line3({ outputs: '  y: 3,1,1 (int' }), 9, 16, 'expected ")"');
    assertTemplateError(line3({ outputs: '  y: 3,1,1 (int) 4' }), 9, 18, 'unexpected "4" after the type');
    assertTemplateError(line3({ outputs: '  y 3,1,1' }), 9, 5, 'expected ":" after the name');
    assertTemplateError(line3({ outputs: '  y: 3,1,1\n  z: 1,1,1' }), 10, 6, 'output "z" is on hexagon 1,1,1, which already holds input "in" (line 7, column 3)');
  });
});

describe('parseTemplate: JSON errors', () => {
  /** A valid JSON template with one top-level key per line; `body` overrides or adds keys. */
  const json = (body: Record<string, unknown>): string => {
    const template = {
      version: 1,
      hexagons: [
        [1, 1, 1],
        [2, 1, 1],
      ],
      inputs: [{ name: 'i', position: [1, 1, 1] }],
      outputs: [{ name: 'o', position: [2, 1, 1] }],
      ...body,
    };
    return `{\n${Object.entries(template)
      .map(([k, v]) => `  ${JSON.stringify(k)}: ${JSON.stringify(v)}`)
      .join(',\n')}\n}`;
  };
  /** Line and column of the `nth` occurrence of `needle`, computed independently of the parser. */
  const locOf = (text: string, needle: string, nth = 1): [number, number] => {
    let at = -1;
    for (let i = 0; i < nth; i++) at = text.indexOf(needle, at + 1);
    assert.ok(at >= 0, `${needle} not in ${text}`);
    const before = text.slice(0, at).split('\n');
    return [before.length, (before[before.length - 1] as string).length + 1];
  };
  const assertJsonError = (text: string, needle: string, nth: number, ...parts: string[]): TemplateError => assertTemplateError(text, ...locOf(text, needle, nth), ...parts);

  it('reports syntax errors with their position', () => {
    assertTemplateError('{ "version": 1, "hexagons": [[1,1,1],], }', 1, 38, 'invalid JSON: expected a value');
    assertTemplateError('{\n  "version": 1\n  "hexagons": []\n}', 3, 3, 'invalid JSON: expected ","');
    assertTemplateError('{ "version": 1, ', 1, 17, 'invalid JSON');
    assertTemplateError('{ "version": 1 } x', 1, 18, 'invalid JSON');
    assertTemplateError('{"a": "unterminated', 1, 7, 'unterminated string');
    assertTemplateError(`{"a": ${'['.repeat(100000)}`, 1, 38, 'nested deeper than 32 levels');
    assertTemplateError('[1]', 1, 1, 'unexpected character "["'); // only "{" selects JSON
  });

  it('reports semantic errors at the offending node', () => {
    assertTemplateError('{"version": 1, "extra": 1}', 1, 16, 'unknown key "extra" in the template', 'one of version, settings, hexagons');
    assertTemplateError('{"version": 1, "ouputs": []}', 1, 16, 'unknown key "ouputs" in the template', 'did you mean "outputs"?');
    assertTemplateError('{"version": 2, "hexagons": []}', 1, 13, 'unsupported version 2');
    assertTemplateError('{"version": "1"}', 1, 13, 'unsupported version "1"');
    assertTemplateError('{"version": 1}', 1, 1, 'missing key "hexagons" in the template');
    assertTemplateError('{"version": 1, "version": 1}', 1, 16, 'duplicate key "version"');
    assertTemplateError('{"version": 1, "hexagons": "😀😀", "zz": 1}', 1, 34, 'unknown key "zz"'); // columns count characters
    assertJsonError(json({ settings: { neuron_colldown: 2 } }), '"neuron_colldown"', 1, 'unknown setting "neuron_colldown"');
    assertJsonError(json({ settings: { enable_reduction: 'true' } }), '"true"', 1, 'enable_reduction must be true or false, found "true"');
    assertJsonError(json({ settings: { refractory_time: 1.5 } }), '1.5', 1, 'found 1.5');
    assertJsonError(json({ settings: [] }), '[]', 1, '"settings" must be an object');
    assertJsonError(json({ hexagons: {} }), '{}', 1, '"hexagons" must be an array');
    assertJsonError(json({ hexagons: [[1, 1, 1, 1]] }), '[1,1,1,1]', 1, 'the position of a hexagon must have 2 or 3 coordinates');
    const [line, column] = locOf(json({}), '[1,1,1]');
    assertJsonError(
      json({
        hexagons: [
          [1, 1, 1],
          [1, 1, 1],
        ],
      }),
      '[1,1,1]',
      2,
      `duplicate hexagon 1,1,1 (first declared at line ${line}, column ${column})`,
    );
    assertJsonError(json({ hexagons: [{ x: 1, y: 1, w: 1 }] }), '"w"', 1, 'unknown key "w" in a hexagon', 'one of x, y, z');
    assertJsonError(json({ hexagons: [{ x: 1 }] }), '{"x"', 1, 'missing key "y" in a hexagon');
    assertJsonError(json({ hexagons: [[1, '1', 1]] }), '"1"', 1, 'y coordinate of a hexagon must be an integer', 'found "1"');
    assertJsonError(json({}).replace('[[1,1,1]', '[[1,1.0,1]'), '1.0', 1, 'y coordinate', 'found 1.0');
    assertJsonError(json({ hexagons: ['1,1,1'] }), '"1,1,1"', 1, 'a hexagon must be a position');
    assertJsonError(json({ axons: [{ from: [1, 1, 1] }] }), '{"from"', 1, 'missing key "to" in an axon');
    assertJsonError(json({ axons: [{ from: [1, 1, 1], to: [1, 1, 1] }] }), '{"from"', 1, 'starts and ends on the same hexagon');
    assertJsonError(json({ inputs: [{ name: 'i', position: [9, 1, 1] }] }), '[9,1,1]', 1, 'input "i" is on hexagon 9,1,1 which is not declared');
    assertJsonError(json({ inputs: [{ name: 'i', position: [1, 1, 1], kind: 'x' }] }), '"kind"', 1, 'unknown key "kind" in an input');
    assertJsonError(json({ inputs: [{ name: 7, position: [1, 1, 1] }] }), '7', 1, 'invalid name 7');
    assertJsonError(json({ inputs: [{ name: 'i', position: [1, 1, 1], type: null }] }), 'null', 1, 'unknown input type null');
    assertJsonError(json({ outputs: [] }), '[]', 1, 'no outputs declared');
    assertJsonError(json({ outputs: [{ name: 'i', position: [2, 1, 1] }] }), '{"name":"i"', 2, 'duplicate name "i"');
  });
});

describe('parseTemplate: topology checks', () => {
  it('rejects an output no input can reach', () => {
    const t = 'version: 1\nhexagons:\n 1,1,1\n 2,1,1\n 5,1,1\ninputs:\n picture: 1,1,1\noutputs:\n label: 5,1,1\n';
    const e = assertTemplateError(t, 9, 2);
    assert.equal(e.message, 'line 9, column 2: output "label" on hexagon 5,1,1 cannot be reached from any input (max_connection_distance 1)');
  });

  it('rejects an input that connects nowhere', () => {
    assertTemplateError('version: 1\nhexagons:\n 1,1,1\n 3,1,1\ninputs:\n i: 1,1,1\noutputs:\n o: 3,1,1\n', 6, 2, 'input "i" on hexagon 1,1,1 cannot connect to any hexagon');
  });

  it('rejects cycles through axons', () => {
    const t = 'version: 1\nhexagons:\n 1,1,1\n 2,1,1\n 3,1,1\n 4,1,1\naxons:\n 3,1,1 -> 2,1,1\ninputs:\n i: 1,1,1\noutputs:\n o: 4,1,1\n';
    assertTemplateError(t, 8, 2, 'axon 3,1,1 -> 2,1,1 creates a cycle: 3,1,1 -> 2,1,1 -> 3,1,1');
  });
});

describe('parseTemplate: robustness', () => {
  /** Deterministic mutation: delete, insert, replace characters or shuffle whole lines. */
  function mutate(text: string, seed: number): string {
    const pieces = ['1', '0', '-', ':', ',', '->', '#', '(', ')', '\n', ' ', '.', 'e', 'x', '{', '}', '[', ']', '"', '\r', '😀', '\uD800', '9999999999', 'true', '/*'];
    let out = text;
    const count = 1 + (rand32(seed, 0) % 4);
    for (let m = 0; m < count; m++) {
      const r = (k: number): number => rand32(seed, m + 1, k);
      const at = r(1) % (out.length + 1);
      const piece = pieces[r(2) % pieces.length] as string;
      const lines = out.split('\n');
      switch (r(3) % 5) {
        case 0:
          out = out.slice(0, at) + out.slice(at + 1 + (r(4) % 3));
          break;
        case 1:
          out = out.slice(0, at) + piece + out.slice(at);
          break;
        case 2:
          out = out.slice(0, at) + piece + out.slice(at + 1);
          break;
        case 3:
          lines.splice(r(4) % lines.length, 1);
          out = lines.join('\n');
          break;
        default:
          lines.splice(r(4) % lines.length, 0, lines[r(5) % lines.length] as string);
          out = lines.join('\n');
      }
    }
    return out;
  }

  it('either parses or throws TemplateError for mutated templates', () => {
    let parsed = 0;
    for (const [base, source] of [EXAMPLE, EXAMPLE_JSON, templateToJson(parseTemplate(EXAMPLE))].entries()) {
      for (let i = 0; i < 1500; i++) {
        const text = mutate(source, base * 100000 + i);
        try {
          parseTemplate(text);
          parsed++;
        } catch (error) {
          if (!(error instanceof TemplateError)) assert.fail(`non-TemplateError ${String(error)} for:\n${JSON.stringify(text)}`);
          assert.ok(error.line >= 1 && error.column >= 1, error.message);
          assert.ok(error.line <= text.split(/\r\n|\r|\n/).length, error.message);
        }
      }
    }
    assert.ok(parsed > 50, `only ${parsed} mutants parsed; the mutations are too destructive to be useful`);
  });
});
