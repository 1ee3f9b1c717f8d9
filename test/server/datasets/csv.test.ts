import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { readCsvDataset, type CsvDatasetOptions } from '../../../server/datasets/csv.js';
import type { Dataset } from '../../../server/datasets/types.js';
import { chunkedStream, isShared, makeTempDir, rejectsWithFormatError, type ExpectedFormatError } from './helpers.js';

let dir = '';
let cleanup: () => Promise<void> = async () => undefined;
before(async () => ({ dir, cleanup } = await makeTempDir()));
after(() => cleanup());

/** Reads CSV text from a stream in small chunks, so rows straddle chunk boundaries. */
function readText(text: string, options: CsvDatasetOptions = {}): Promise<Dataset> {
  return readCsvDataset(chunkedStream(Buffer.from(text), 5), options);
}

function rejectText(text: string, expected: ExpectedFormatError, options: CsvDatasetOptions = {}): Promise<void> {
  return rejectsWithFormatError(readText(text, options), expected);
}

describe('readCsvDataset', () => {
  it('makes every column an input when no label or targets are named', async () => {
    const dataset = await readText('a,b,c\n1,2,3\n4,5,600.5\n');
    assert.equal(dataset.rows, 2);
    assert.equal(dataset.inputWidth, 3);
    assert.deepEqual(dataset.inputColumns, ['a', 'b', 'c']);
    assert.ok(dataset.inputs instanceof Float32Array);
    assert.ok(isShared(dataset.inputs));
    assert.deepEqual(Array.from(dataset.inputs), [1, 2, 3, 4, 5, 600.5]);
    assert.equal(dataset.targets, undefined);
    assert.equal(dataset.name, 'csv');
  });

  it('keeps raw values (no normalization) and accepts ints, decimals, exponents and a leading +', async () => {
    const dataset = await readText('v\n255\n+3\n0.5\n.25\n7.\n1e3\n2.5E-1\n-0\n');
    assert.deepEqual(Array.from(dataset.inputs), [255, 3, 0.5, 0.25, 7, 1000, 0.25, -0]);
  });

  it('maps non-negative integer labels to their own class index', async () => {
    const dataset = await readText('x,label\n1,3\n2,0\n3,3\n', { labelColumn: 'label' });
    assert.deepEqual(dataset.inputColumns, ['x']);
    assert.ok(dataset.targets?.kind === 'class');
    assert.deepEqual(dataset.targets.classes, ['0', '1', '2', '3']);
    assert.deepEqual(Array.from(dataset.targets.labels), [3, 0, 3]);
    assert.ok(isShared(dataset.targets.labels));
  });

  it('maps other labels to classes in order of first appearance', async () => {
    const dataset = await readText('label,x\ncat,1\ndog,2\ncat,3\n1.5,4\n', { labelColumn: 'label' });
    assert.ok(dataset.targets?.kind === 'class');
    assert.deepEqual(dataset.targets.classes, ['cat', 'dog', '1.5']);
    assert.deepEqual(Array.from(dataset.targets.labels), [0, 1, 0, 2]);
    assert.deepEqual(Array.from(dataset.inputs), [1, 2, 3, 4]);
  });

  it('reads target columns as numeric values, negatives allowed', async () => {
    const dataset = await readText('t1,x,t2\n-1.5,10,2\n3,20,4\n', { targetColumns: ['t1', 't2'] });
    assert.deepEqual(dataset.inputColumns, ['x']);
    assert.ok(dataset.targets?.kind === 'values');
    assert.deepEqual(dataset.targets.columns, ['t1', 't2']);
    assert.deepEqual(Array.from(dataset.targets.values), [-1.5, 2, 3, 4]);
    assert.ok(isShared(dataset.targets.values));
  });

  it('reads only the chosen input columns, ignoring the others (even text)', async () => {
    const dataset = await readText('id,b,a,y\nrow-one,2,1,5\nrow-two,4,3,6\n', { inputColumns: ['a', 'b'], labelColumn: 'y' });
    assert.deepEqual(dataset.inputColumns, ['a', 'b']);
    assert.deepEqual(Array.from(dataset.inputs), [1, 2, 3, 4]);
  });

  it('handles RFC 4180 quoting, CRLF line ends, a BOM, spaces and blank lines', async () => {
    const text = '\ufeff"a","b, with comma","say ""hi"""\r\n"1", 2 ,3\r\n\r\n4,"5","6"\r\n';
    const dataset = await readText(text);
    assert.deepEqual(dataset.inputColumns, ['a', 'b, with comma', 'say "hi"']);
    assert.deepEqual(Array.from(dataset.inputs), [1, 2, 3, 4, 5, 6]);
  });

  it('reads a file (gzipped or not) and names the dataset after it', async () => {
    const path = join(dir, 'sensors.csv');
    await writeFile(path, 'a,b\n1,2\n');
    assert.equal((await readCsvDataset(path)).name, 'sensors.csv');
    const gz = join(dir, 'sensors.csv.gz');
    await writeFile(gz, gzipSync('a,b\n1,2\n3,4\n'));
    const dataset = await readCsvDataset(gz, { name: 'zipped' });
    assert.equal(dataset.name, 'zipped');
    assert.deepEqual(Array.from(dataset.inputs), [1, 2, 3, 4]);
  });

  it('grows its row buffer past the initial capacity', async () => {
    const lines = ['a,b,c'];
    for (let r = 0; r < 5000; r++) lines.push(`${r},${r + 1},${r % 256}`);
    const dataset = await readCsvDataset(Readable.from([lines.join('\n')]));
    assert.equal(dataset.rows, 5000);
    assert.equal(dataset.inputs.length, 15000);
    assert.deepEqual(Array.from(dataset.inputs.subarray(14997)), [4999, 5000, 4999 % 256]);
  });
});

describe('readCsvDataset errors (rows count lines from the header = row 1; columns are 1-based)', () => {
  it('rejects unknown column names in the options, at row 1', async () => {
    await rejectText('a,b\n1,2\n', { message: /^unknown column "z" in labelColumn \(the header has: a, b\) at row 1$/, row: 1 }, { labelColumn: 'z' });
    await rejectText('a,b\n1,2\n', { message: /unknown column "q" in targetColumns/, row: 1 }, { targetColumns: ['q'] });
    await rejectText('a,b\n1,2\n', { message: /unknown column "c" in inputColumns/, row: 1 }, { inputColumns: ['a', 'c'] });
    await rejectText('a,b,label\n1,2,x\n', { message: /^unknown column "lable" in labelColumn \(the header has: a, b, label; did you mean "label"\?\) at row 1$/, row: 1 }, { labelColumn: 'lable' });
  });

  it('rejects a column used in two roles', async () => {
    await rejectText('a,b\n1,2\n', { message: /column "a" is used twice/, row: 1 }, { inputColumns: ['a', 'b'], labelColumn: 'a' });
  });

  it('rejects duplicate and empty header names', async () => {
    await rejectText('a,b,a\n1,2,3\n', { message: /^duplicate column name "a" in the header at row 1, column 3$/, row: 1, column: 3 });
    await rejectText('a,,c\n1,2,3\n', { message: /empty column name/, row: 1, column: 2 });
  });

  it('rejects ragged rows, at the first missing or extra cell', async () => {
    await rejectText('a,b,c\n1,2,3\n4,5\n', { message: /^the row has 2 cells but the header has 3 columns at row 3, column 3$/, row: 3, column: 3 });
    await rejectText('a,b\n1,2\n3,4,5\n', { message: /the row has 3 cells but the header has 2 columns/, row: 3, column: 3 });
  });

  it('rejects empty cells', async () => {
    await rejectText('a,b\n1,2\n3,\n', { message: /^empty cell in column "b" at row 3, column 2$/, row: 3, column: 2 });
    await rejectText('a,y\n1,\n', { message: /empty cell in column "y"/, row: 2, column: 2 }, { labelColumn: 'y' });
    await rejectText('a,t\n1," "\n', { message: /empty cell in column "t"/, row: 2, column: 2 }, { targetColumns: ['t'] });
  });

  it('rejects non-numeric cells: "1,2", NaN, Infinity, hex, words, and floats out of range', async () => {
    const cases: Array<[string, RegExp]> = [
      ['"1,2"', /not a number in column "b": "1,2"/],
      ['NaN', /not a number in column "b": "NaN"/],
      ['Infinity', /not a number in column "b": "Infinity"/],
      ['0x1F', /not a number in column "b": "0x1F"/],
      ['12abc', /not a number in column "b": "12abc"/],
      ['1e39', /value 1e39 in column "b" does not fit a 32-bit float/],
    ];
    for (const [cell, message] of cases) await rejectText(`a,b\n1,2\n3,${cell}\n`, { message, row: 3, column: 2 });
  });

  it('rejects negative inputs: the network takes positive raw values', async () => {
    await rejectText('a,b\n1,2\n0,-3\n', {
      message: /^negative value in column "b": the network takes positive raw values; got -3 at row 3, column 2$/,
      row: 3,
      column: 2,
    });
  });

  it('names the line a row starts on, past blank lines and multi-line quoted cells', async () => {
    const text = 'a,note\n1,"two\nlines"\n\n-1,x\n';
    await rejectText(text, { message: /negative value in column "a"/, row: 5, column: 1 }, { inputColumns: ['a'] });
  });

  it('rejects a file without data rows, and an empty file', async () => {
    await rejectText('a,b\n', { message: /^no data rows \(only a header\) at row 2$/, row: 2 });
    await rejectText('', { message: /empty file: expected a header row/, row: 1 });
  });

  it('rejects more than maxRows data rows, at the first extra row', async () => {
    assert.equal((await readText('a\n1\n2\n', { maxRows: 2 })).rows, 2);
    await rejectText('a\n1\n2\n3\n', { message: /^more than 2 data rows \(option maxRows\) at row 4$/, row: 4 }, { maxRows: 2 });
  });

  it("maps csv-parse's own errors to format errors at the line where it noticed them", async () => {
    // An unclosed quote runs to the end of the file; csv-parse notices it on the last line.
    await rejectText('a,b\n1,"2\n3,4\n', { message: /malformed CSV: Quote Not Closed/, row: 3, column: 2 });
    await rejectText('a,b\n1,2"x\n', { message: /malformed CSV: Invalid Opening Quote/, row: 2, column: 2 });
  });

  it('maps a corrupt gzip stream to a format error', async () => {
    const corrupt = gzipSync('a\n1\n');
    corrupt[3] = 0xe0; // reserved gzip flag bits must be zero
    await rejectsWithFormatError(readCsvDataset(Readable.from([corrupt])), { message: /corrupt gzip stream/, byteOffset: 0 });
  });

  it('refuses labelColumn together with targetColumns', async () => {
    await assert.rejects(readText('a,b,c\n1,2,3\n', { labelColumn: 'b', targetColumns: ['c'] }), TypeError);
  });
});
