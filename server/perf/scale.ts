/**
 * The `scale` suite of `npm run bench` (`-- --only scale`): how the service holds up with big
 * inputs. Each part runs the real service as a child process; its objects go into
 * bench-results.json and a line of medians is printed. Parts: `csv-upload` (scale-csv.ts).
 */
import { csvScale, csvScaleMedians, type CsvScaleResult } from './scale-csv.js';

export type ScaleResult = CsvScaleResult | { bench: 'scale'; part: 'csv-upload'; runs: number; medians: Record<string, number> };

export async function runScale(args: { runs: number; threads: number }): Promise<ScaleResult[]> {
  const csv = await csvScale(args.runs, args.threads);
  const m = csvScaleMedians(csv);
  process.stdout.write(
    `scale csv-upload (${csv.length} runs, medians): ${m.uploadMegabytesPerSecond} MB/s, other requests' p99 ${m.idleP99} ms idle, ${m.duringUploadP99} ms during the upload (${m.p99DuringUploadOverIdle}×), first train task after a restart ÷ second ${m.firstOverSecondTrain}×\n`,
  );
  return [...csv, { bench: 'scale', part: 'csv-upload', runs: csv.length, medians: m }];
}
