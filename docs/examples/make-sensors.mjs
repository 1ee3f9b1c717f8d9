// Writes sensors-train.csv and sensors-test.csv beside this file: readings of three sensors in
// wildly different units (0..1e-3, 0..50, 1e5..2e5), a class label that depends on all three
// and a numeric target. Deterministic (a fixed-seed generator): run it again, get the same
// files. The docs' CLI examples train on them (docs/cli.md).
import { writeFileSync } from 'node:fs';

function random(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function rows(count, seed) {
  const rand = random(seed);
  const out = ['id,micro,mid,big,speed,label'];
  for (let i = 0; i < count; i++) {
    const micro = rand() * 1e-3;
    const mid = rand() * 50;
    const big = 1e5 + rand() * 1e5;
    const score = micro / 1e-3 + mid / 50 + (big - 1e5) / 1e5;
    const label = score < 1.2 ? 'calm' : score < 1.8 ? 'busy' : 'storm';
    const speed = (micro * 1000 + mid / 10 + (big - 1e5) / 2e4).toFixed(4);
    out.push([`s${i}`, micro.toExponential(6), mid.toFixed(4), big.toFixed(2), speed, label].join(','));
  }
  return `${out.join('\n')}\n`;
}

writeFileSync(new URL('./sensors-train.csv', import.meta.url), rows(600, 7));
writeFileSync(new URL('./sensors-test.csv', import.meta.url), rows(200, 8));
