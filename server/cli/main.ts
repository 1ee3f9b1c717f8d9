#!/usr/bin/env node
/**
 * The `hanami` command line: train and test networks on datasets, export the benchmark
 * data, run the benchmark suite, and report what this host offers.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import cliProgress from 'cli-progress';
import { readFileSync } from 'node:fs';
import { FASHION_MNIST_DIR } from '../datasets/fashion.js';
import { exportMnist8k } from '../datasets/mnist8k.js';
import { closestName } from '../did-you-mean.js';
import { BACKEND_CHOICES, type BackendChoice } from '../network/select-backend.js';
import { hostInfo } from './info.js';
import { runBench } from './bench.js';
import { runGpuShape } from './gpu-shape.js';
import { resetPassphrase } from './admin.js';
import { asCliError, defaultThreads, runTest, runTrain } from './commands.js';
import { CliError } from './errors.js';
import { registerRemoteCommands, remoteFailure } from './remote/commands.js';
import { checkCommandWords } from './remote/words.js';

const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

function positiveInt(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be a positive integer`);
    return n;
  };
}

function nonNegativeInt(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new InvalidArgumentError(`${name} must be an integer between 0 and 4294967295`);
    return n;
  };
}

function list(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/** The backend option; its default is HANAMI_BACKEND when that names a backend, else cpu. */
function backendOption(): Option {
  const fromEnv = process.env.HANAMI_BACKEND;
  const fallback = fromEnv && (BACKEND_CHOICES as readonly string[]).includes(fromEnv) ? fromEnv : 'cpu';
  return new Option('--backend <name>', 'network backend: cpu, webgpu, or auto (WebGPU on a hardware adapter, else cpu)').choices(BACKEND_CHOICES).default(fallback);
}

/** A progress bar on stderr, only when stderr is a terminal and output is not JSON. */
function progressReporter(json: boolean): { update: (phase: 'train' | 'test', done: number, total: number) => void; stop: () => void } {
  if (json || !process.stderr.isTTY) return { update: () => {}, stop: () => {} };
  const bar = new cliProgress.SingleBar(
    { stream: process.stderr, format: ' {phase} [{bar}] {percentage}% | {value}/{total} samples | {eta}s left', hideCursor: true },
    cliProgress.Presets.shades_classic,
  );
  let phase = '';
  return {
    update(p, done, total) {
      if (p !== phase) {
        if (phase) bar.stop();
        phase = p;
        bar.start(total, 0, { phase: p.padEnd(5) });
      }
      bar.update(done, { phase: p.padEnd(5) });
    },
    stop: () => {
      if (phase) bar.stop();
    },
  };
}

/** Only mnist8k is built from a package at run time; fashion60k already is a folder of files. */
function unknownExportMessage(name: string): string {
  if (name === 'fashion60k') return `fashion60k cannot be exported: its files already are in ${FASHION_MNIST_DIR} (only mnist8k can be)`;
  const guess = closestName(name, ['mnist8k']);
  return `unknown dataset "${name}" (${guess === undefined ? 'expected mnist8k' : `did you mean ${guess}?`})`;
}

function printHuman(report: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
}

async function main(argv: string[]): Promise<void> {
  const program = new Command('hanami')
    .description('Growing neural networks on raw data: train, test and benchmark here, or drive a running service (login, project, dataset, cluster, task, …)')
    .version(pkg.version)
    .showHelpAfterError()
    // Commander's own errors (bad option values, unknown options) read "hanami: ..." like ours.
    .configureOutput({ writeErr: (s) => process.stderr.write(s), outputError: (s, write) => write(s.replace(/^error: /, 'hanami: ')) })
    .exitOverride();

  program
    .command('train')
    .description('train a new network on a dataset (IDX images with labels beside them, CSV, or mnist8k / fashion60k)')
    .requiredOption('--train <dataset>', 'training data: file path or mnist8k / fashion60k')
    .option('--test <dataset>', 'test data: file path or mnist8k / fashion60k')
    .option('--train-labels <file>', 'IDX labels of the training images (default: found beside them)')
    .option('--test-labels <file>', 'IDX labels of the test images (default: found beside them)')
    .option('--label <column>', 'CSV: class-label column (one output per class)')
    .option('--targets <columns>', 'CSV: comma-separated numeric target columns', list)
    .option('--inputs <columns>', 'CSV: comma-separated input columns (default: all others)', list)
    .option('--template <file>', 'cluster template (default: input → hidden → output line)')
    .option('--epochs <n>', 'passes over the training data', positiveInt('--epochs'), 1)
    .option('--seed <n>', 'random seed', nonNegativeInt('--seed'), 1)
    .addOption(backendOption())
    .option('--threads <n>', 'CPU worker threads', positiveInt('--threads'))
    .option('--save <checkpoint>', 'write the trained network to this file')
    .option('--json', 'print exactly one JSON object on stdout')
    .action(async (o: Record<string, unknown>) => {
      const progress = progressReporter(Boolean(o.json));
      try {
        const report = await runTrain({
          train: o.train as string,
          test: o.test as string | undefined,
          trainLabels: o.trainLabels as string | undefined,
          testLabels: o.testLabels as string | undefined,
          label: o.label as string | undefined,
          targets: o.targets as string[] | undefined,
          inputs: o.inputs as string[] | undefined,
          template: o.template as string | undefined,
          epochs: o.epochs as number,
          seed: o.seed as number,
          backend: o.backend as BackendChoice,
          threads: o.threads as number | undefined,
          save: o.save as string | undefined,
          onProgress: progress.update,
        });
        progress.stop();
        if (o.json) process.stdout.write(`${JSON.stringify(report)}\n`);
        else printHuman(report as unknown as Record<string, unknown>);
      } finally {
        progress.stop();
      }
    });

  program
    .command('test')
    .description('score a saved network on a dataset')
    .requiredOption('--checkpoint <file>', 'checkpoint written by train --save or the service')
    .requiredOption('--test <dataset>', 'test data: file path or mnist8k / fashion60k')
    .option('--test-labels <file>', 'IDX labels of the test images (default: found beside them)')
    .option('--label <column>', 'CSV: class-label column')
    .option('--targets <columns>', 'CSV: comma-separated numeric target columns', list)
    .option('--inputs <columns>', 'CSV: comma-separated input columns', list)
    .addOption(backendOption())
    .option('--threads <n>', 'CPU worker threads', positiveInt('--threads'))
    .option('--json', 'print exactly one JSON object on stdout')
    .action(async (o: Record<string, unknown>) => {
      const report = await runTest({
        checkpoint: o.checkpoint as string,
        test: o.test as string,
        labels: o.testLabels as string | undefined,
        label: o.label as string | undefined,
        targets: o.targets as string[] | undefined,
        inputs: o.inputs as string[] | undefined,
        backend: o.backend as BackendChoice,
        threads: o.threads as number | undefined,
      });
      if (o.json) process.stdout.write(`${JSON.stringify(report)}\n`);
      else printHuman(report);
    });

  program
    .command('info')
    .description('version, available backends and threads of this host')
    .option('--json', 'print exactly one JSON object on stdout')
    .action(async (o: Record<string, unknown>) => {
      const info = await hostInfo(pkg.version);
      if (o.json) process.stdout.write(`${JSON.stringify(info)}\n`);
      else printHuman(info as unknown as Record<string, unknown>);
    });

  program
    .command('bench')
    .description('run the standard benchmark suite and write bench-results.json (--shape: the CPU vs WebGPU shape figures)')
    .option('--only <suites>', 'comma-separated suites (mnist8k, fashion60k, contention, tenants, scale)', list)
    .option('--runs <n>', 'runs per suite (the table shows medians)', positiveInt('--runs'), 1)
    .addOption(backendOption())
    .option('--threads <n>', 'CPU worker threads', positiveInt('--threads'), defaultThreads())
    .option('--out <file>', 'where to write the results (default bench-results.json; with --shape: JSON lines, none by default)')
    .option('--contention', 'only the contention suite: one core kept busy, default threads ÷ one thread (same as --only contention)')
    .option(
      '--shape',
      'instead of the suite: CPU and WebGPU side by side on mnist8k and fashion60k (dispatches, submits, readbacks and bytes per sample, samples/s for training and batched inference), as JSON lines',
    )
    .option('--train-rows <n>', 'with --shape: training samples per dataset (default all)', positiveInt('--train-rows'))
    .action(async (o: Record<string, unknown>, command: Command) => {
      if (o.shape) {
        await runGpuShape({ threads: o.threads as number, out: o.out as string | undefined, trainRows: o.trainRows as number | undefined });
        return;
      }
      await runBench({
        only: o.contention ? ['contention'] : (o.only as string[] | undefined),
        threadsGiven: command.getOptionValueSource('threads') === 'cli',
        runs: o.runs as number,
        backend: o.backend as BackendChoice,
        threads: o.threads as number,
        out: (o.out as string | undefined) ?? 'bench-results.json',
      });
    });

  const dataset = program.command('dataset').description('dataset utilities');
  dataset
    .command('export')
    .description('write a built-in dataset as the four standard MNIST files')
    .argument('<name>', 'mnist8k')
    .argument('<dir>', 'target directory (created if missing)')
    .action(async (name: string, dir: string) => {
      if (name !== 'mnist8k') throw new CliError(unknownExportMessage(name));
      const files = await exportMnist8k(dir);
      for (const f of files) process.stdout.write(`${f}\n`);
    });

  const admin = program.command('admin').description("offline administration, run on the service's host with the service's configuration");
  admin
    .command('reset-passphrase')
    .description(
      "set a new passphrase for a user (a lost initial admin passphrase, say) and revoke the user's tokens; " +
        'finds the store like the service does (HANAMI_CONFIG, HANAMI_DATA_DIR, HANAMI_MONGO_URL); without an option, asks twice at the terminal',
    )
    .argument('<user>', 'the user name, e.g. admin')
    .addOption(new Option('--passphrase-stdin', 'read the new passphrase from stdin (one line)'))
    .addOption(new Option('--generate', 'make up a random passphrase and print it on stdout').conflicts('passphraseStdin'))
    .action(async (user: string, o: Record<string, unknown>) => {
      const result = await resetPassphrase(user, o.generate ? 'generate' : o.passphraseStdin ? 'stdin' : 'prompt');
      if (result.generated !== undefined) process.stdout.write(`${result.generated}\n`);
      process.stderr.write(`Passphrase of "${user}" reset in ${result.store}; every token issued to "${user}" before is revoked (a running service refuses them within 2 seconds).\n`);
    });

  // The commands that talk to a running service (docs/cli.md, "Remote commands").
  registerRemoteCommands(program);
  checkCommandWords(program, argv.slice(2));
  await program.parseAsync(argv);
}

main(process.argv).then(
  () => {
    process.exitCode = process.exitCode ?? 0;
  },
  (e: unknown) => {
    const err = asCliError(e);
    if (err && typeof err === 'object' && 'code' in err && typeof err.code === 'string' && String((err as { code: string }).code).startsWith('commander.')) {
      // commander already printed its message (or help): 0 for --help / --version, and
      // 2 (bad input) for every usage error, where commander itself would exit with 1.
      process.exitCode = (err as { exitCode?: number }).exitCode === 0 ? 0 : 2;
      return;
    }
    const remote = remoteFailure(err);
    if (remote) {
      process.stderr.write(`hanami: ${remote.line}\n`);
      process.exitCode = remote.exitCode;
      return;
    }
    if (err instanceof CliError) {
      process.stderr.write(`hanami: ${err.message}\n`);
      process.exitCode = err.exitCode;
      return;
    }
    process.stderr.write(`hanami: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
