/**
 * Splits CSV bytes into records, as csv-parse does with the options the reader used
 * (`bom`, record delimiter discovered from the first line end, RFC 4180 quotes), but over
 * bytes and without building strings: each complete record is handed to the sink as a byte
 * range with the line it starts on, so the reader can parse numbers straight from the bytes
 * (csv.ts). Quotes only toggle "inside a quoted cell" here: in a well-formed file that is
 * exactly where records end; a malformed one is handed over as the record where csv-parse
 * would stop, and the reader's csv-parse pass over that one record names the fault.
 *
 * Chunks are scanned once; only the incomplete record at a chunk's end is kept (copied) for
 * the next one. `maxRecordBytes` bounds that: a record longer than it (delimiters not
 * counted, as csv-parse's max_record_size) is refused as soon as it is seen.
 */

export const LF = 1;
export const CRLF = 2;
export const CR = 3;
/** 0 until the first line end outside quotes is seen. */
export type LineEnd = 0 | typeof LF | typeof CRLF | typeof CR;

export interface RecordSink {
  /** A complete record: bytes [start, end) of `bytes` (no line end), starting on `line`,
   *  with `breaks` more CR or LF bytes in it (csv-parse counts each as a line: in quoted
   *  cells, or a lone CR in a file of LF line ends). */
  record(bytes: Uint8Array, start: number, end: number, line: number, breaks: number): void;
  /** A record grew past `maxRecordBytes`; `line` is where the scan is. */
  tooLong(line: number): never;
}

const QUOTE = 34;
const COMMA = 44;
const NL = 10;
const CR_BYTE = 13;

export class CsvRecordScanner {
  lineEnd: LineEnd = 0;
  /** Bytes seen so far (for error offsets). */
  bytesSeen = 0;
  private buffer: Uint8Array = new Uint8Array(0);
  private length = 0;
  /** Start of the incomplete record, and how far it was scanned. */
  private recordStart = 0;
  private scanned = 0;
  private quoted = false;
  private lineEndsInRecord = 0;
  private commasInRecord = 0;
  private line = 1;
  private bomChecked = false;

  constructor(
    private readonly sink: RecordSink,
    private readonly maxRecordBytes = 0,
  ) {}

  push(chunk: Uint8Array): void {
    this.bytesSeen += chunk.length;
    if (this.recordStart === this.length) {
      // Nothing left over: scan the chunk where it is.
      this.buffer = chunk;
      this.ownsBuffer = false;
      this.length = chunk.length;
      this.recordStart = 0;
      this.scanned = 0;
    } else {
      this.append(chunk);
    }
    this.scan(false);
    this.keepRest();
  }

  end(): void {
    this.scan(true);
    if (this.recordStart < this.length) {
      // A break as the very last byte has no line after it: csv-parse does not count it.
      const last = this.buffer[this.length - 1];
      const breaks = this.lineEndsInRecord - (last === NL || last === CR_BYTE ? 1 : 0);
      this.sink.record(this.buffer, this.recordStart, this.length, this.line, Math.max(0, breaks));
      this.recordStart = this.length;
    }
  }

  /** Text of the line end once known (for parsing one record alone). */
  lineEndText(): string | undefined {
    return this.lineEnd === LF ? '\n' : this.lineEnd === CRLF ? '\r\n' : this.lineEnd === CR ? '\r' : undefined;
  }

  private append(chunk: Uint8Array): void {
    const rest = this.length - this.recordStart;
    const needed = rest + chunk.length;
    if (!(this.ownsBuffer && this.recordStart === 0 && this.buffer.length - this.length >= chunk.length)) {
      let target = this.buffer;
      if (!this.ownsBuffer || target.length < needed) {
        target = new Uint8Array(Math.max(needed, this.buffer.length * 2, 64 * 1024));
        target.set(this.buffer.subarray(this.recordStart, this.length));
      } else target.copyWithin(0, this.recordStart, this.length);
      this.scanned -= this.recordStart;
      this.length = rest;
      this.recordStart = 0;
      this.buffer = target;
      this.ownsBuffer = true;
    }
    this.buffer.set(chunk, this.length);
    this.length += chunk.length;
  }

  /** Whether `buffer` is ours (else it is a chunk of the stream, scanned where it lies). */
  private ownsBuffer = false;

  /** Keeps the incomplete record in a buffer of our own (the chunk belongs to the stream). */
  private keepRest(): void {
    if (this.ownsBuffer || this.recordStart === this.length) return;
    const rest = this.buffer.slice(this.recordStart, this.length);
    this.scanned -= this.recordStart;
    this.length = rest.length;
    this.recordStart = 0;
    this.buffer = rest;
    this.ownsBuffer = true;
  }

  private scan(final: boolean): void {
    const bytes = this.buffer;
    const length = this.length;
    if (!this.bomChecked) {
      if (length - this.recordStart < 3 && !final) return;
      this.bomChecked = true;
      const s = this.recordStart;
      if (bytes[s] === 0xef && bytes[s + 1] === 0xbb && bytes[s + 2] === 0xbf) {
        this.recordStart += 3;
        this.scanned = Math.max(this.scanned, this.recordStart);
      }
    }
    // Searched with indexOf (memchr): only the filled part.
    const view = Buffer.from(bytes.buffer, bytes.byteOffset, length);
    let i = this.scanned;
    let quoted = this.quoted;
    let commas = this.commasInRecord;
    let lineEnds = this.lineEndsInRecord;
    let start = this.recordStart;
    let lineEnd = this.lineEnd;
    const max = this.maxRecordBytes;
    let nextQuote = -1;
    let nextOther = -1;
    for (;;) {
      // Whole lines without a quote or another line break, found by their line end.
      if (lineEnd !== 0 && !quoted && i === start) {
        const endByte = lineEnd === CR ? CR_BYTE : NL;
        const otherByte = lineEnd === CR ? NL : CR_BYTE;
        for (;;) {
          const at = view.indexOf(endByte, i);
          if (at < 0) break;
          if (nextQuote < i) {
            nextQuote = view.indexOf(QUOTE, i);
            if (nextQuote < 0) nextQuote = length;
          }
          if (nextOther < i) {
            nextOther = view.indexOf(otherByte, i);
            if (nextOther < 0) nextOther = length;
          }
          let end = at;
          if (lineEnd === CRLF) {
            if (at === start || nextOther !== at - 1) break;
            end = at - 1;
          } else if (nextOther < at) break;
          if (nextQuote < at) break;
          if (max > 0 && end - start > max && end - start - countCommas(bytes, start, end) > max) this.sink.tooLong(this.line);
          this.sink.record(bytes, start, end, this.line, 0);
          this.line++;
          i = start = at + 1;
        }
      }
      // Byte by byte, until one record ends or the data does.
      let ended = false;
      for (; i < length; i++) {
        const c = bytes[i]!;
        if (c > CR_BYTE) {
          if (c === QUOTE) quoted = !quoted;
          else if (c === COMMA && !quoted) commas++;
          continue;
        }
        if (c !== NL && c !== CR_BYTE) continue;
        if (quoted) {
          lineEnds++;
          continue;
        }
        if (lineEnd === 0) {
          if (c === NL) lineEnd = LF;
          else {
            if (i + 1 >= length && !final) break;
            lineEnd = bytes[i + 1] === NL ? CRLF : CR;
          }
          // Known from here on (the sink asks for it while this scan goes on).
          this.lineEnd = lineEnd;
        }
        let size = 1;
        if (lineEnd === CRLF) {
          if (c === CR_BYTE && i + 1 >= length && !final) break;
          if (c === CR_BYTE && bytes[i + 1] === NL) size = 2;
          else {
            lineEnds++;
            continue;
          }
        } else if (c !== (lineEnd === LF ? NL : CR_BYTE)) {
          lineEnds++;
          continue;
        }
        if (max > 0 && i - start - commas > max) this.sink.tooLong(this.line + lineEnds);
        this.sink.record(bytes, start, i, this.line, lineEnds);
        this.line += 1 + lineEnds;
        i = start = i + size;
        commas = 0;
        lineEnds = 0;
        ended = true;
        break;
      }
      if (!ended) break;
    }
    if (max > 0 && i - start - commas > max) this.sink.tooLong(this.line + lineEnds);
    this.scanned = i;
    this.quoted = quoted;
    this.commasInRecord = commas;
    this.lineEndsInRecord = lineEnds;
    this.recordStart = start;
    this.lineEnd = lineEnd;
  }
}

function countCommas(bytes: Uint8Array, start: number, end: number): number {
  let n = 0;
  for (let i = start; i < end; i++) if (bytes[i] === COMMA) n++;
  return n;
}
