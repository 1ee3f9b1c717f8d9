/**
 * Line charts for the benchmarks, with no dependency and no browser: an SVG (for reading in
 * a browser) and a PNG rasterized here (a pixel buffer, a 5×7 bitmap font, zlib's deflate and
 * CRC-32 from Node itself). Only what the soak benchmark needs: panels stacked vertically,
 * each with its own y axis, a shared time axis, lines, a legend.
 */
import { crc32, deflateSync } from 'node:zlib';

export interface Series {
  label: string;
  /** RGB. */
  color: [number, number, number];
  points: [number, number][];
}

export interface Panel {
  title: string;
  yLabel: string;
  series: Series[];
}

export interface Chart {
  title: string;
  xLabel: string;
  panels: Panel[];
}

const WIDTH = 960;
const PANEL_HEIGHT = 300;
const MARGIN = { left: 80, right: 24, top: 48, bottom: 40 };

function niceStep(range: number, ticks: number): number {
  const raw = range / Math.max(1, ticks);
  const power = 10 ** Math.floor(Math.log10(raw || 1));
  const [best] = [1, 2, 5, 10].map((m) => m * power).filter((s) => s >= raw);
  return best ?? 10 * power;
}

function ticks(min: number, max: number, count: number): number[] {
  const step = niceStep(max - min, count);
  const out: number[] = [];
  for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

function format(v: number): string {
  return Math.abs(v) >= 100 || Number.isInteger(v) ? String(Math.round(v)) : v.toFixed(1);
}

interface Frame {
  x0: number;
  y0: number;
  w: number;
  h: number;
  xMin: number;
  xMax: number;
  yMin: number;
  yMax: number;
}

function frames(chart: Chart): Frame[] {
  const xs = chart.panels.flatMap((p) => p.series.flatMap((s) => s.points.map(([x]) => x)));
  const xMin = Math.min(0, ...xs);
  const xMax = Math.max(1, ...xs);
  return chart.panels.map((panel, i) => {
    const ys = panel.series.flatMap((s) => s.points.map(([, y]) => y));
    const top = Math.max(1, ...ys);
    const yMax = top + niceStep(top, 5) * 0.25;
    return { x0: MARGIN.left, y0: MARGIN.top + i * PANEL_HEIGHT, w: WIDTH - MARGIN.left - MARGIN.right, h: PANEL_HEIGHT - MARGIN.top - MARGIN.bottom + 24, xMin, xMax, yMin: 0, yMax };
  });
}

function height(chart: Chart): number {
  return chart.panels.length * PANEL_HEIGHT + MARGIN.bottom;
}

const px = (f: Frame, x: number): number => f.x0 + ((x - f.xMin) / (f.xMax - f.xMin || 1)) * f.w;
const py = (f: Frame, y: number): number => f.y0 + f.h - ((y - f.yMin) / (f.yMax - f.yMin || 1)) * f.h;

// ---------------------------------------------------------------------------------------
// SVG

const escape = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function chartSvg(chart: Chart): string {
  const fs = frames(chart);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height(chart)}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
  ];
  out.push(`<text x="${WIDTH / 2}" y="20" text-anchor="middle" font-size="15">${escape(chart.title)}</text>`);
  chart.panels.forEach((panel, i) => {
    const f = fs[i]!;
    out.push(`<text x="${f.x0}" y="${f.y0 - 10}" font-size="13">${escape(panel.title)}</text>`);
    out.push(`<rect x="${f.x0}" y="${f.y0}" width="${f.w}" height="${f.h}" fill="none" stroke="#888"/>`);
    for (const t of ticks(f.yMin, f.yMax, 5)) {
      out.push(`<line x1="${f.x0}" x2="${f.x0 + f.w}" y1="${py(f, t)}" y2="${py(f, t)}" stroke="#eee"/>`);
      out.push(`<text x="${f.x0 - 6}" y="${py(f, t) + 4}" text-anchor="end">${format(t)}</text>`);
    }
    for (const t of ticks(f.xMin, f.xMax, 10)) out.push(`<text x="${px(f, t)}" y="${f.y0 + f.h + 16}" text-anchor="middle">${format(t)}</text>`);
    out.push(`<text transform="translate(16 ${f.y0 + f.h / 2}) rotate(-90)" text-anchor="middle">${escape(panel.yLabel)}</text>`);
    panel.series.forEach((s, k) => {
      const color = `rgb(${s.color.join(',')})`;
      out.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${s.points.map(([x, y]) => `${px(f, x).toFixed(1)},${py(f, y).toFixed(1)}`).join(' ')}"/>`);
      out.push(`<rect x="${f.x0 + 10 + k * 220}" y="${f.y0 + 8}" width="14" height="4" fill="${color}"/><text x="${f.x0 + 30 + k * 220}" y="${f.y0 + 14}">${escape(s.label)}</text>`);
    });
  });
  out.push(`<text x="${MARGIN.left + (WIDTH - MARGIN.left - MARGIN.right) / 2}" y="${height(chart) - 6}" text-anchor="middle">${escape(chart.xLabel)}</text>`, '</svg>');
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------
// PNG

/** 5×7 glyphs, one string per row ('#' = ink), for what the labels use. */
const FONT: Record<string, string[]> = {
  '0': ['.###.', '#...#', '#..##', '#.#.#', '##..#', '#...#', '.###.'],
  '1': ['..#..', '.##..', '..#..', '..#..', '..#..', '..#..', '.###.'],
  '2': ['.###.', '#...#', '....#', '...#.', '..#..', '.#...', '#####'],
  '3': ['####.', '....#', '....#', '.###.', '....#', '....#', '####.'],
  '4': ['...#.', '..##.', '.#.#.', '#..#.', '#####', '...#.', '...#.'],
  '5': ['#####', '#....', '####.', '....#', '....#', '#...#', '.###.'],
  '6': ['..##.', '.#...', '#....', '####.', '#...#', '#...#', '.###.'],
  '7': ['#####', '....#', '...#.', '..#..', '.#...', '.#...', '.#...'],
  '8': ['.###.', '#...#', '#...#', '.###.', '#...#', '#...#', '.###.'],
  '9': ['.###.', '#...#', '#...#', '.####', '....#', '...#.', '.##..'],
  A: ['.###.', '#...#', '#...#', '#####', '#...#', '#...#', '#...#'],
  B: ['####.', '#...#', '#...#', '####.', '#...#', '#...#', '####.'],
  C: ['.###.', '#...#', '#....', '#....', '#....', '#...#', '.###.'],
  D: ['####.', '#...#', '#...#', '#...#', '#...#', '#...#', '####.'],
  E: ['#####', '#....', '#....', '####.', '#....', '#....', '#####'],
  F: ['#####', '#....', '#....', '####.', '#....', '#....', '#....'],
  G: ['.###.', '#...#', '#....', '#.###', '#...#', '#...#', '.####'],
  H: ['#...#', '#...#', '#...#', '#####', '#...#', '#...#', '#...#'],
  I: ['.###.', '..#..', '..#..', '..#..', '..#..', '..#..', '.###.'],
  J: ['..###', '...#.', '...#.', '...#.', '...#.', '#..#.', '.##..'],
  K: ['#...#', '#..#.', '#.#..', '##...', '#.#..', '#..#.', '#...#'],
  L: ['#....', '#....', '#....', '#....', '#....', '#....', '#####'],
  M: ['#...#', '##.##', '#.#.#', '#.#.#', '#...#', '#...#', '#...#'],
  N: ['#...#', '#...#', '##..#', '#.#.#', '#..##', '#...#', '#...#'],
  O: ['.###.', '#...#', '#...#', '#...#', '#...#', '#...#', '.###.'],
  P: ['####.', '#...#', '#...#', '####.', '#....', '#....', '#....'],
  Q: ['.###.', '#...#', '#...#', '#...#', '#.#.#', '#..#.', '.##.#'],
  R: ['####.', '#...#', '#...#', '####.', '#.#..', '#..#.', '#...#'],
  S: ['.####', '#....', '#....', '.###.', '....#', '....#', '####.'],
  T: ['#####', '..#..', '..#..', '..#..', '..#..', '..#..', '..#..'],
  U: ['#...#', '#...#', '#...#', '#...#', '#...#', '#...#', '.###.'],
  V: ['#...#', '#...#', '#...#', '#...#', '#...#', '.#.#.', '..#..'],
  W: ['#...#', '#...#', '#...#', '#.#.#', '#.#.#', '#.#.#', '.#.#.'],
  X: ['#...#', '#...#', '.#.#.', '..#..', '.#.#.', '#...#', '#...#'],
  Y: ['#...#', '#...#', '.#.#.', '..#..', '..#..', '..#..', '..#..'],
  Z: ['#####', '....#', '...#.', '..#..', '.#...', '#....', '#####'],
  ' ': ['.....', '.....', '.....', '.....', '.....', '.....', '.....'],
  '.': ['.....', '.....', '.....', '.....', '.....', '.##..', '.##..'],
  ',': ['.....', '.....', '.....', '.....', '.##..', '..#..', '.#...'],
  ':': ['.....', '.##..', '.##..', '.....', '.##..', '.##..', '.....'],
  '-': ['.....', '.....', '.....', '#####', '.....', '.....', '.....'],
  '+': ['.....', '..#..', '..#..', '#####', '..#..', '..#..', '.....'],
  '/': ['....#', '....#', '...#.', '..#..', '.#...', '#....', '#....'],
  '(': ['...#.', '..#..', '.#...', '.#...', '.#...', '..#..', '...#.'],
  ')': ['.#...', '..#..', '...#.', '...#.', '...#.', '..#..', '.#...'],
  '%': ['##..#', '##..#', '...#.', '..#..', '.#...', '#..##', '#..##'],
  '=': ['.....', '.....', '#####', '.....', '#####', '.....', '.....'],
  _: ['.....', '.....', '.....', '.....', '.....', '.....', '#####'],
};

class Raster {
  readonly data: Uint8Array;
  constructor(
    readonly width: number,
    readonly height: number,
  ) {
    this.data = new Uint8Array(width * height * 3).fill(255);
  }

  set(x: number, y: number, c: [number, number, number]): void {
    const xi = Math.round(x);
    const yi = Math.round(y);
    if (xi < 0 || yi < 0 || xi >= this.width || yi >= this.height) return;
    const i = (yi * this.width + xi) * 3;
    this.data[i] = c[0];
    this.data[i + 1] = c[1];
    this.data[i + 2] = c[2];
  }

  line(x0: number, y0: number, x1: number, y1: number, c: [number, number, number], thick = 1): void {
    const steps = Math.max(1, Math.ceil(Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0))));
    for (let s = 0; s <= steps; s++) {
      const x = x0 + ((x1 - x0) * s) / steps;
      const y = y0 + ((y1 - y0) * s) / steps;
      for (let dx = 0; dx < thick; dx++) for (let dy = 0; dy < thick; dy++) this.set(x + dx - (thick >> 1), y + dy - (thick >> 1), c);
    }
  }

  rect(x: number, y: number, w: number, h: number, c: [number, number, number]): void {
    this.line(x, y, x + w, y, c);
    this.line(x + w, y, x + w, y + h, c);
    this.line(x + w, y + h, x, y + h, c);
    this.line(x, y + h, x, y, c);
  }

  fill(x: number, y: number, w: number, h: number, c: [number, number, number]): void {
    for (let i = 0; i < w; i++) for (let j = 0; j < h; j++) this.set(x + i, y + j, c);
  }

  /** Text in the bitmap font (upper case), `scale` pixels per dot; anchored at its left or right end, or its middle. */
  text(s: string, x: number, y: number, c: [number, number, number], anchor: 'start' | 'middle' | 'end' = 'start', scale = 1): void {
    const chars = [...s.toUpperCase()];
    const width = chars.length * 6 * scale;
    let left = anchor === 'start' ? x : anchor === 'end' ? x - width : x - width / 2;
    for (const ch of chars) {
      const glyph = FONT[ch] ?? FONT[' ']!;
      glyph.forEach((row, r) => {
        for (let k = 0; k < 5; k++) if (row[k] === '#') this.fill(left + k * scale, y - 7 * scale + r * scale, scale, scale, c);
      });
      left += 6 * scale;
    }
  }

  /** Text written upwards (a y-axis label). */
  textUp(s: string, x: number, y: number, c: [number, number, number]): void {
    const chars = [...s.toUpperCase()];
    let bottom = y + (chars.length * 6) / 2;
    for (const ch of chars) {
      const glyph = FONT[ch] ?? FONT[' ']!;
      glyph.forEach((row, r) => {
        for (let k = 0; k < 5; k++) if (row[k] === '#') this.set(x - 7 + r, bottom - k, c);
      });
      bottom -= 6;
    }
  }

  png(): Buffer {
    const rows = Buffer.alloc((this.width * 3 + 1) * this.height);
    for (let y = 0; y < this.height; y++) {
      rows[y * (this.width * 3 + 1)] = 0;
      Buffer.from(this.data.buffer, y * this.width * 3, this.width * 3).copy(rows, y * (this.width * 3 + 1) + 1);
    }
    const chunk = (type: string, body: Buffer): Buffer => {
      const head = Buffer.alloc(8);
      head.writeUInt32BE(body.length, 0);
      head.write(type, 4, 'latin1');
      const crc = Buffer.alloc(4);
      crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), body])) >>> 0, 0);
      return Buffer.concat([head, body, crc]);
    };
    const ihdr = Buffer.alloc(13);
    ihdr.writeUInt32BE(this.width, 0);
    ihdr.writeUInt32BE(this.height, 4);
    ihdr[8] = 8; // bit depth
    ihdr[9] = 2; // RGB
    return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(rows, { level: 9 })), chunk('IEND', Buffer.alloc(0))]);
  }
}

const GREY: [number, number, number] = [136, 136, 136];
const LIGHT: [number, number, number] = [232, 232, 232];
const INK: [number, number, number] = [20, 20, 20];

export function chartPng(chart: Chart): Buffer {
  const fs = frames(chart);
  const r = new Raster(WIDTH, height(chart));
  r.text(chart.title, WIDTH / 2, 24, INK, 'middle', 2);
  chart.panels.forEach((panel, i) => {
    const f = fs[i]!;
    r.text(panel.title, f.x0, f.y0 - 8, INK, 'start', 1);
    for (const t of ticks(f.yMin, f.yMax, 5)) {
      r.line(f.x0, py(f, t), f.x0 + f.w, py(f, t), LIGHT);
      r.text(format(t), f.x0 - 6, py(f, t) + 3, INK, 'end');
    }
    for (const t of ticks(f.xMin, f.xMax, 10)) {
      r.line(px(f, t), f.y0 + f.h, px(f, t), f.y0 + f.h + 4, GREY);
      r.text(format(t), px(f, t), f.y0 + f.h + 15, INK, 'middle');
    }
    r.rect(f.x0, f.y0, f.w, f.h, GREY);
    r.textUp(panel.yLabel, 22, f.y0 + f.h / 2, INK);
    panel.series.forEach((s, k) => {
      for (let j = 1; j < s.points.length; j++) {
        const [ax, ay] = s.points[j - 1]!;
        const [bx, by] = s.points[j]!;
        r.line(px(f, ax), py(f, ay), px(f, bx), py(f, by), s.color, 2);
      }
      r.fill(f.x0 + 10 + k * 220, f.y0 + 10, 14, 4, s.color);
      r.text(s.label, f.x0 + 30 + k * 220, f.y0 + 16, INK);
    });
  });
  r.text(chart.xLabel, MARGIN.left + (WIDTH - MARGIN.left - MARGIN.right) / 2, height(chart) - 6, INK, 'middle');
  return r.png();
}
