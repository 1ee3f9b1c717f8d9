/**
 * The byte scanner (readCsvDataset) against the csv-parse reader it replaced
 * (readCsvDatasetWithCsvParse): the same datasets and the same errors (class, message, row,
 * column) over generated files, plain and odd (quotes, line ends of every kind, BOM, spaces,
 * ragged rows, bad numbers, limits), read in chunks that split rows anywhere.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readCsvDataset, readCsvDatasetWithCsvParse, type CsvDatasetOptions } from '../../../server/datasets/csv.js';
import type { Dataset } from '../../../server/datasets/types.js';
import { chunkedStream } from './helpers.js';

type Outcome = { ok: true; dataset: unknown } | { ok: false; name: string; message: string; row: unknown; column: unknown; limit: unknown };

function plain(d: Dataset): unknown {
  return {
    rows: d.rows,
    inputWidth: d.inputWidth,
    inputColumns: d.inputColumns,
    inputs: Array.from(d.inputs),
    targets: d.targets ? { ...d.targets, ...('labels' in d.targets ? { labels: Array.from(d.targets.labels) } : { values: Array.from(d.targets.values) }) } : undefined,
  };
}

async function outcome(read: typeof readCsvDataset, bytes: Buffer, chunk: number, options: CsvDatasetOptions): Promise<Outcome> {
  try {
    return { ok: true, dataset: plain(await read(chunkedStream(bytes, chunk), options)) };
  } catch (error) {
    const e = error as Error & { row?: unknown; column?: unknown; details?: { limit?: unknown } };
    return { ok: false, name: e.name, message: e.message, row: e.row ?? (e.details as { row?: unknown } | undefined)?.row, column: e.column, limit: e.details?.limit };
  }
}

async function same(text: string, options: CsvDatasetOptions = {}, chunk = 7): Promise<Outcome> {
  const bytes = Buffer.from(text, 'utf8');
  const expected = await outcome(readCsvDatasetWithCsvParse, bytes, chunk, options);
  const actual = await outcome(readCsvDataset, bytes, chunk, options);
  // csv-parse's stream reads ahead of the rows taken from it, so its own fault on a later
  // line could win over an earlier row's: the scanner names the first fault in the file.
  const earlier = !actual.ok && !expected.ok && /^malformed CSV/.test(expected.message) && Number(actual.row) < Number(expected.row);
  if (!earlier) assert.deepEqual(actual, expected, `for ${JSON.stringify(text)} ${JSON.stringify(options)}`);
  return actual;
}

/** xorshift32: the same files on every run. */
function random(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

describe('readCsvDataset (byte scanner) matches the csv-parse reader', () => {
  it('on hand-picked odd files', async () => {
    const cases = [
      'a,b\n1,2\n',
      'a,b\r\n1,2\r\n3,4',
      'a,b\r1,2\r3,4\r',
      'a,b\r\n1,2\n3,4\r\n',
      'a,b\n1,2\r\n3,4\n',
      '\ufeffa,b\n1,2\n',
      'a,b\n  \n1,2\n\n\n3,4\n',
      'a,b\n"1", 2 \n" 3 ",4\n',
      'a,b\n1,"2\n3"\n',
      'a,b\n1,"2\n3,4\n',
      'a,b\n1,2"x\n',
      'a,b\n"1"x,2\n',
      'a,b\n1,""\n',
      'a,b\n1,2,3\n',
      'a,b\n1\n',
      'a,b\n1,-2\n',
      'a,b\n1,-0\n',
      'a,b\n1,1e39\n',
      'a,b\n1,3.4e38\n',
      'a,b\n0.1,.5\n1.,+7\n1e-30,12345678901234567890\n0.30000000000000004,1E+2\n',
      'a,b\n1,NaN\n',
      'a,b\n1,0x10\n',
      'a,b\n1,1 2\n',
      'a,b\n1,\u00a02\n',
      'a,b\n1,2\u00a0\n',
      'a,b\n\t1\t,\v2\f\n',
      'a,a\n1,2\n',
      '',
      '\n\n',
      'a,b\n',
      'a\n"\n',
      'a,b\n1,"2""\n',
    ];
    for (const text of cases) await same(text);
    for (const text of cases) await same(text, {}, 1);
  });

  it('on labels and targets, in any column order', async () => {
    const text = 'id,x,y,label,t\nr1,1,2,7,0.5\nr2,3,4,07,-1\nr3,5,6,cat,2\nr4,7,8,"7",3\nr5,9,10, 7 ,4\n';
    await same(text, { labelColumn: 'label', inputColumns: ['y', 'x'] });
    await same(text, { targetColumns: ['t', 'y'], inputColumns: ['x'] });
    await same('a,label\n1,3\n2,0\n3,3\n', { labelColumn: 'label' });
    await same('a,label\n1,\n', { labelColumn: 'label' });
    await same('a,b,c\n1,x,-3\n', { inputColumns: ['c', 'b'] });
  });

  it('on limits: rows, memory, columns and row length', async () => {
    const rows = `a,b\n${'1,2\n'.repeat(50)}`;
    await same(rows, { limits: { maxRows: 10 } });
    await same(rows, { limits: { maxDatasetBytes: 100 } });
    await same(rows, { maxRows: 5 });
    await same(`a,b\n1,2\n${'1,'.repeat(200)}1\n`, { limits: { maxColumns: 3 } });
    await same(`${'c,'.repeat(5)}c\n1,2\n`, { limits: { maxColumns: 3 } });
  });

  it('on 300 generated files', async () => {
    const next = random(Number(process.env.CSV_FUZZ_SEED ?? 7));
    const pieces = ['1', '23', '4.5', '-6', '+7', '.8', '9e2', '0', ' ', '\t', ',', ',', ',', '\n', '\n', '\r\n', '\r', '"', '""', 'x', '\u00a0', '1e40'];
    for (let f = 0; f < Number(process.env.CSV_FUZZ_FILES ?? 300); f++) {
      const columns = 1 + Math.floor(next() * 4);
      const header = Array.from({ length: columns }, (_, i) => `c${i}`).join(',');
      const eol = ['\n', '\r\n', '\r'][Math.floor(next() * 3)]!;
      let body = '';
      const rows = 1 + Math.floor(next() * 6);
      for (let r = 0; r < rows; r++) {
        const cells = Array.from({ length: columns }, () => String(Math.floor(next() * 100)));
        let line = cells.join(',');
        // Now and then a piece of trouble somewhere in the line.
        if (next() < 0.3) {
          const at = Math.floor(next() * (line.length + 1));
          line = line.slice(0, at) + pieces[Math.floor(next() * pieces.length)]! + line.slice(at);
        }
        body += line + eol;
      }
      const options: CsvDatasetOptions = next() < 0.5 || columns < 2 ? {} : { labelColumn: `c${columns - 1}` };
      await same(header + eol + body, options, 1 + Math.floor(next() * 9));
    }
  });
});
