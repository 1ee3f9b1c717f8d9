/**
 * The remote `hanami` commands: nouns and verbs that talk to a running service through the
 * SDK (client/): login and contexts, projects, users, members, datasets, templates,
 * clusters, tasks, checkpoints and direct I/O. Every one takes --json; project-scoped ones
 * take --project; names work wherever ids do. Reference: docs/cli.md, "Remote commands".
 */
import type { Command } from 'commander';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline/promises';
import type { Cluster, Dataset, Task, TaskEvent } from '../../../client/index.js';
import { client, loadClient, loadedClient } from './client-module.js';
import { findLabelsFile } from '../../datasets/idx.js';
import { CliError } from '../errors.js';
import { SecretPrompt } from '../secret-prompt.js';
import { configPath, readContexts, updateContext, writeContexts } from './contexts.js';
import { connect, currentContextName, pick, projectOf, type Connection } from './connect.js';
import { type Bar, type Column, printList, printOne, progressBar, say, type OutputOptions } from './output.js';

type Opts = Record<string, unknown> & { json?: boolean; context?: string; project?: string };
type Action = (args: string[], o: Opts) => Promise<void>;

/** A leaf command with the options every remote command has. */
function leaf(parent: Command, spec: string, description: string, options: { project?: boolean } = {}): Command {
  const c = parent
    .command(spec)
    .description(description)
    .option('--json', 'print JSON: one object, or one per line for lists and follows')
    .option('--context <name>', 'use this context instead of the current one');
  if (options.project) c.option('--project <name>', 'the project (name or id; default: the current one, see `project use`)');
  return c;
}

function run(c: Command, action: Action): Command {
  return c.action(async (...params: unknown[]) => {
    const command = params.at(-1) as Command;
    await action(
      command.processedArgs.filter((a): a is string => typeof a === 'string'),
      command.opts<Opts>(),
    );
  });
}

const out = (o: Opts): OutputOptions => ({ json: o.json === true });

function positiveInt(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new CliError(`${name} must be a positive integer`);
    return n;
  };
}

async function askLine(question: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return (await rl.question(question)).trim();
  } finally {
    rl.close();
  }
}

async function askSecret(question: string): Promise<string> {
  const prompt = new SecretPrompt(process.stdin, process.stderr);
  try {
    return await prompt.ask(question);
  } finally {
    prompt.close();
  }
}

async function readStdinLine(): Promise<string> {
  let text = '';
  for await (const chunk of process.stdin) text += String(chunk);
  return text.split(/\r?\n/)[0] ?? '';
}

// ---------------------------------------------------------------- login, logout, contexts

function registerSession(program: Command): void {
  run(
    leaf(program, 'login <url>', 'log in to a service and keep the token in a named context (passphrase: HANAMI_PASSPHRASE, or asked at the terminal)').option(
      '--user <name>',
      'user name (default: HANAMI_USER, or asked at the terminal)',
    ),
    async ([url], o) => {
      const base = url!.replace(/\/+$/, '');
      if (!/^https?:\/\/[^/]/.test(base)) throw new CliError(`not a service URL: ${url} (expected http://host:port or https://…)`);
      const tty = process.stdin.isTTY === true;
      const user = (o.user as string | undefined) ?? process.env.HANAMI_USER ?? (tty ? await askLine('User: ') : undefined);
      if (!user) throw new CliError('no user name: give --user NAME (or set HANAMI_USER)');
      const passphrase = process.env.HANAMI_PASSPHRASE ?? (tty ? await askSecret(`Passphrase for ${user}: `) : undefined);
      if (!passphrase) throw new CliError('no passphrase: set HANAMI_PASSPHRASE, or run `hanami login` at a terminal to be asked');
      const answer = await new (client().Hanami)({ url: base, user, passphrase }).login();
      const name = o.context ?? 'default';
      const file = readContexts();
      const before = file.contexts[name];
      file.contexts[name] = { url: base, user: answer.user.name, token: answer.token, ...(before?.project && before.url === base ? { project: before.project } : {}) };
      file.current = name;
      writeContexts(file);
      if (o.json) printOne({ context: name, url: base, user: answer.user.name, expiresAt: answer.expiresAt, config: configPath() }, out(o));
      else say(`Logged in to ${base} as ${answer.user.name} (context "${name}"); the token is renewed as it is used.`, out(o));
    },
  );

  run(leaf(program, 'logout', 'forget the token of the current context (or --context NAME)'), async (_args, o) => {
    const file = readContexts();
    const name = o.context ?? file.current;
    if (name === undefined || !file.contexts[name]) throw new CliError('not logged in: there is no context to log out of');
    const { token: _token, ...rest } = file.contexts[name];
    file.contexts[name] = rest;
    writeContexts(file);
    if (o.json) printOne({ context: name, loggedOut: true }, out(o));
    else say(`Logged out of ${rest.url} (context "${name}" keeps the URL and user; \`hanami login ${rest.url}\` to come back).`, out(o));
  });

  const context = program.command('context').description('named contexts: which service, as whom, and the current project');
  run(leaf(context, 'ls', 'list the contexts (* marks the current one)'), async (_args, o) => {
    const file = readContexts();
    const current = currentContextName(o);
    const rows = Object.entries(file.contexts).map(([name, c]) => ({
      current: name === current,
      name,
      url: c.url,
      user: c.user ?? null,
      project: c.project?.name ?? null,
      loggedIn: c.token !== undefined,
    }));
    printList(
      rows,
      [
        ['', (r) => (r.current ? '*' : '')],
        ['name', (r) => r.name],
        ['url', (r) => r.url],
        ['user', (r) => r.user],
        ['project', (r) => r.project],
        ['logged in', (r) => (r.loggedIn ? 'yes' : 'no')],
      ],
      out(o),
    );
  });
  run(leaf(context, 'use <name>', 'make a context the current one'), async ([name], o) => {
    const file = readContexts();
    if (!file.contexts[name!])
      pick(
        Object.keys(file.contexts).map((n) => ({ id: n, name: n })),
        name!,
        'context',
      );
    file.current = name!;
    writeContexts(file);
    if (o.json) printOne({ current: name }, out(o));
    else say(`Current context: ${name} (${file.contexts[name!]!.url})`, out(o));
  });
}

// ---------------------------------------------------------------- projects, users, members

// Lists: the name first, the id last (ids are long; the other columns stay aligned beside them).
const PROJECT_COLUMNS: Column<{ id: string; name: string; description: string; createdAt: string }>[] = [
  ['name', (p) => p.name],
  ['description', (p) => p.description || '-'],
  ['id', (p) => p.id],
];

async function resolveUser(conn: Connection, input: string): Promise<{ id: string; name: string }> {
  return pick(await conn.hanami.users.all(), input, 'user');
}

function registerProjects(program: Command): void {
  const project = program.command('project').description('projects (the tenants: everything else belongs to one)');
  run(leaf(project, 'ls', 'list the projects you belong to (admins: all)'), async (_args, o) => {
    printList(await connect(o).hanami.projects.all(), PROJECT_COLUMNS, out(o));
  });
  run(leaf(project, 'create <name>', 'create a project').option('--description <text>', 'what it is for'), async ([name], o) => {
    const p = await connect(o).hanami.projects.create({ name: name!, ...(o.description !== undefined ? { description: o.description as string } : {}) });
    printOne(p, out(o));
  });
  run(leaf(project, 'use <project>', 'make a project the current one of this context'), async ([input], o) => {
    const conn = connect(o);
    const p = await projectOf(conn, input);
    const name = conn.contextName ?? 'default';
    updateContext(name, (c) => ({ ...(c ?? { url: conn.hanami.url }), project: p }));
    const file = readContexts();
    if (!file.current || !file.contexts[file.current]) writeContexts({ ...file, current: name });
    if (o.json) printOne({ context: name, project: p }, out(o));
    else say(`Current project: ${p.name} (${p.id})`, out(o));
  });
  run(leaf(project, 'show <project>', 'show a project'), async ([input], o) => {
    const conn = connect(o);
    printOne(await conn.hanami.projects.get((await projectOf(conn, input)).id), out(o));
  });
  run(leaf(project, 'rm <project>', 'delete a project and everything in it'), async ([input], o) => {
    const conn = connect(o);
    const p = await projectOf(conn, input);
    await conn.hanami.projects.remove(p.id);
    if (conn.context?.project?.id === p.id && conn.contextName) updateContext(conn.contextName, ({ project: _p, ...c } = { url: conn.hanami.url }) => c);
    if (o.json) printOne({ deleted: p }, out(o));
    else say(`Deleted project ${p.name} (${p.id})`, out(o));
  });

  const user = program.command('user').description('accounts (admins)');
  run(leaf(user, 'ls', 'list the users'), async (_args, o) => {
    printList(
      await connect(o).hanami.users.all(),
      [
        ['name', (u) => u.name],
        ['admin', (u) => (u.isAdmin ? 'yes' : 'no')],
        ['id', (u) => u.id],
      ],
      out(o),
    );
  });
  run(
    leaf(user, 'create <name>', 'create a user (the passphrase: asked twice at the terminal, --passphrase-stdin, or --generate)')
      .option('--admin', 'make the user an admin')
      .option('--passphrase-stdin', 'read the passphrase from stdin (one line)')
      .option('--generate', 'make up a passphrase and print it'),
    async ([name], o) => {
      let passphrase: string;
      if (o.generate) passphrase = randomBytes(18).toString('base64url');
      else if (o.passphraseStdin) passphrase = await readStdinLine();
      else if (process.stdin.isTTY) {
        passphrase = await askSecret(`Passphrase for ${name}: `);
        if ((await askSecret('Again: ')) !== passphrase) throw new CliError('the two passphrases differ; nothing was changed');
      } else throw new CliError('no passphrase: give --passphrase-stdin or --generate (or run at a terminal to be asked)');
      const u = await connect(o).hanami.users.create({ name: name!, passphrase, ...(o.admin ? { isAdmin: true } : {}) });
      printOne(o.generate ? { ...u, passphrase } : u, out(o));
    },
  );
  run(leaf(user, 'rm <user>', 'delete a user'), async ([input], o) => {
    const conn = connect(o);
    const u = await resolveUser(conn, input!);
    await conn.hanami.users.remove(u.id);
    if (o.json) printOne({ deleted: { id: u.id, name: u.name } }, out(o));
    else say(`Deleted user ${u.name} (${u.id})`, out(o));
  });

  const member = program.command('member').description('who belongs to a project, with which role');
  run(leaf(member, 'ls', 'list the members of the project', { project: true }), async (_args, o) => {
    const conn = connect(o);
    const p = await projectOf(conn, o.project);
    const page = await conn.hanami.members.list(p.id, { limit: 1000 });
    printList(
      page.items as Record<string, unknown>[],
      [
        ['user', (m) => m.userName ?? m.name ?? m.userId],
        ['role', (m) => m.role],
      ],
      out(o),
    );
  });
  run(leaf(member, 'add <user>', 'add a user to the project (or change their role)', { project: true }).option('--role <role>', 'member or project-admin', 'member'), async ([input], o) => {
    const role = o.role as string;
    if (role !== 'member' && role !== 'project-admin') throw new CliError(`--role must be member or project-admin, not "${role}"`);
    const conn = connect(o);
    const p = await projectOf(conn, o.project);
    const u = await resolveUser(conn, input!);
    const m = await conn.hanami.members.set(p.id, u.id, role);
    if (o.json) printOne(m, out(o));
    else say(`${u.name} is ${role} of ${p.name}`, out(o));
  });
  run(leaf(member, 'rm <user>', 'remove a user from the project', { project: true }), async ([input], o) => {
    const conn = connect(o);
    const p = await projectOf(conn, o.project);
    const u = await resolveUser(conn, input!);
    await conn.hanami.members.remove(p.id, u.id);
    if (o.json) printOne({ removed: { project: p, user: { id: u.id, name: u.name } } }, out(o));
    else say(`${u.name} no longer belongs to ${p.name}`, out(o));
  });
}

// ---------------------------------------------------------------- datasets, templates

const DATASET_COLUMNS: Column<Dataset>[] = [
  ['name', (d) => d.name],
  ['format', (d) => d.format],
  ['status', (d) => d.status],
  ['rows', (d) => d.rows],
  ['bytes', (d) => d.receivedBytes],
  ['id', (d) => d.id],
];

function registerDatasets(program: Command): void {
  const dataset = program.commands.find((c) => c.name() === 'dataset') ?? program.command('dataset');
  dataset.description('datasets: export a built-in one as files (here), or upload, list, show and delete those of a service');
  run(leaf(dataset, 'ls', "list the project's datasets", { project: true }), async (_args, o) => {
    const conn = connect(o);
    printList(await conn.hanami.datasets.all((await projectOf(conn, o.project)).id), DATASET_COLUMNS, out(o));
  });
  run(
    leaf(
      dataset,
      'upload <name> <file>',
      'create a dataset from IDX images (labels found beside them, or --labels) or a CSV file (.csv/.csv.gz; say --label or --targets), streamed with a progress bar',
      { project: true },
    )
      .option('--labels <file>', 'IDX: the labels file (default: found beside the images by the standard MNIST names)')
      .option('--label <column>', 'CSV: the class-label column')
      .option('--targets <columns>', 'CSV: comma-separated target columns')
      .option('--inputs <columns>', 'CSV: comma-separated input columns (default: all others)'),
    async ([name, file], o) => {
      if (!existsSync(file!)) throw new CliError(`file not found: ${file}`);
      const csv = /\.csv(\.gz)?$/i.test(file!);
      const list = (v: unknown): string[] | undefined =>
        typeof v === 'string'
          ? v
              .split(',')
              .map((s) => s.trim())
              .filter(Boolean)
          : undefined;
      if (csv && o.label === undefined && o.targets === undefined) throw new CliError('a CSV dataset needs --label <column> (classes) or --targets <columns> (values)');
      const labels = csv ? undefined : ((o.labels as string | undefined) ?? findLabelsFile(file!));
      if (labels !== undefined && !existsSync(labels)) throw new CliError(`labels file not found: ${labels}`);
      const conn = connect(o);
      const p = await projectOf(conn, o.project);
      // One bar per part, started by the part's first progress (none drawn before).
      let bar: Bar = { update: () => {}, stop: () => {} };
      let part = '';
      const onProgress = ({ part: now, sent, total }: { part: string; sent: number; total: number }): void => {
        if (now !== part) {
          bar.stop();
          part = now;
          bar = progressBar(out(o), ' {part} [{bar}] {percentage}% | {value}/{total} bytes', total, { part: now.padEnd(6) });
        }
        bar.update(sent, { part: now.padEnd(6) });
      };
      let d: Dataset;
      try {
        d = csv
          ? await conn.hanami.datasets.uploadCsv(
              p.id,
              {
                name: name!,
                ...(o.label !== undefined ? { labelColumn: o.label as string } : {}),
                ...(list(o.targets) ? { targetColumns: list(o.targets)! } : {}),
                ...(list(o.inputs) ? { inputColumns: list(o.inputs)! } : {}),
              },
              file!,
              { onProgress },
            )
          : await conn.hanami.datasets.uploadIdx(p.id, name!, { images: file!, ...(labels !== undefined ? { labels } : {}) }, { onProgress });
      } finally {
        bar.stop();
      }
      printOne(d, out(o), DATASET_SHOW);
    },
  );
  run(leaf(dataset, 'show <dataset>', 'show a dataset', { project: true }), async ([input], o) => {
    const conn = connect(o);
    const p = await projectOf(conn, o.project);
    printOne(pick(await conn.hanami.datasets.all(p.id), input!, 'dataset'), out(o));
  });
  run(leaf(dataset, 'rm <dataset>', 'delete a dataset', { project: true }), async ([input], o) => {
    const conn = connect(o);
    const p = await projectOf(conn, o.project);
    const d = pick(await conn.hanami.datasets.all(p.id), input!, 'dataset');
    await conn.hanami.datasets.remove(p.id, d.id);
    if (o.json) printOne({ deleted: { id: d.id, name: d.name } }, out(o));
    else say(`Deleted dataset ${d.name} (${d.id})`, out(o));
  });
}

const DATASET_SHOW: Column<never>[] = (
  [
    ['id', (d) => d.id],
    ['name', (d) => d.name],
    ['format', (d) => d.format],
    ['status', (d) => d.status],
    ['rows', (d) => d.rows],
    ['inputWidth', (d) => d.inputWidth],
    ['parts', (d) => d.parts.map((x) => `${x.part} (${x.bytes} bytes)`).join(', ')],
    ['error', (d) => d.error],
  ] as Column<Dataset>[]
).map(([h, f]) => [h, f as (r: never) => unknown]);

function registerTemplates(program: Command): void {
  const template = program.command('template').description('cluster templates (validated when stored)');
  run(leaf(template, 'ls', "list the project's templates", { project: true }), async (_args, o) => {
    const conn = connect(o);
    printList(
      await conn.hanami.templates.all((await projectOf(conn, o.project)).id),
      [
        ['name', (t) => t.name],
        ['hexagons', (t) => t.summary.hexagons],
        ['inputs', (t) => t.summary.inputs.join(',')],
        ['outputs', (t) => t.summary.outputs.join(',')],
        ['id', (t) => t.id],
      ],
      out(o),
    );
  });
  run(leaf(template, 'create <name> <file>', 'store a template from a file', { project: true }), async ([name, file], o) => {
    const text = readText(file!, 'template');
    const conn = connect(o);
    printOne(await conn.hanami.templates.create((await projectOf(conn, o.project)).id, { name: name!, template: text }), out(o), TEMPLATE_SHOW);
  });
  run(leaf(template, 'show <template>', 'show a template (its text with --json or below the summary)', { project: true }), async ([input], o) => {
    const conn = connect(o);
    const t = pick(await conn.hanami.templates.all((await projectOf(conn, o.project)).id), input!, 'template');
    if (o.json) printOne(t, out(o));
    else
      process.stdout.write(
        `# ${t.name} (${t.id}): ${t.summary.hexagons} hexagons, inputs ${t.summary.inputs.join(', ')}, outputs ${t.summary.outputs.join(', ')}\n${t.template.replace(/\n?$/, '\n')}`,
      );
  });
  run(leaf(template, 'rm <template>', 'delete a template', { project: true }), async ([input], o) => {
    const conn = connect(o);
    const p = await projectOf(conn, o.project);
    const t = pick(await conn.hanami.templates.all(p.id), input!, 'template');
    await conn.hanami.templates.remove(p.id, t.id);
    if (o.json) printOne({ deleted: { id: t.id, name: t.name } }, out(o));
    else say(`Deleted template ${t.name} (${t.id})`, out(o));
  });
}

const TEMPLATE_SHOW: Column<{ id: string; name: string; summary: { hexagons: number; inputs: string[]; outputs: string[] } }>[] = [
  ['name', (t) => t.name],
  ['hexagons', (t) => t.summary.hexagons],
  ['inputs', (t) => t.summary.inputs.join(', ')],
  ['outputs', (t) => t.summary.outputs.join(', ')],
  ['id', (t) => t.id],
];

function readText(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    throw new CliError(`${what} file not found: ${file}`);
  }
}

// ---------------------------------------------------------------- clusters

const CLUSTER_COLUMNS: Column<Cluster>[] = [
  ['name', (c) => c.name],
  ['mode', (c) => c.mode],
  ['backend', (c) => c.backend],
  ['neurons', (c) => c.stats.neurons ?? 0],
  ['synapses', (c) => c.stats.synapses ?? 0],
  ['queued', (c) => c.queuedTasks],
  ['running', (c) => (c.runningTaskId ? 'yes' : 'no')],
  ['id', (c) => c.id],
];

async function resolveCluster(conn: Connection, projectId: string, input: string): Promise<Cluster> {
  return pick(await conn.hanami.clusters.all(projectId), input, 'cluster');
}

function registerClusters(program: Command): void {
  const cluster = program.command('cluster').description('networks created from templates');
  run(leaf(cluster, 'ls', "list the project's clusters", { project: true }), async (_args, o) => {
    const conn = connect(o);
    printList(await conn.hanami.clusters.all((await projectOf(conn, o.project)).id), CLUSTER_COLUMNS, out(o));
  });
  run(
    leaf(cluster, 'create <name>', 'create a cluster from a template file or a stored template', { project: true })
      .requiredOption('--template <file-or-name>', 'a template file, or the name or id of a stored template')
      .option('--seed <n>', 'random seed', positiveIntOrZero('--seed'))
      .option('--backend <name>', 'auto, cpu or webgpu'),
    async ([name], o) => {
      const conn = connect(o);
      const p = await projectOf(conn, o.project);
      const spec = o.template as string;
      const source = existsSync(spec) ? { template: readText(spec, 'template') } : { templateId: pick(await conn.hanami.templates.all(p.id), spec, 'template file or stored template').id };
      const backend = o.backend as string | undefined;
      if (backend !== undefined && !['auto', 'cpu', 'webgpu'].includes(backend)) throw new CliError(`--backend must be auto, cpu or webgpu, not "${backend}"`);
      const c = await conn.hanami.clusters.create(p.id, {
        name: name!,
        ...source,
        ...(o.seed !== undefined ? { seed: o.seed as number } : {}),
        ...(backend !== undefined ? { backend: backend as 'auto' | 'cpu' | 'webgpu' } : {}),
      });
      printOne(c, out(o), CLUSTER_COLUMNS);
    },
  );
  run(leaf(cluster, 'show <cluster>', 'show a cluster', { project: true }), async ([input], o) => {
    const conn = connect(o);
    const c = await resolveCluster(conn, (await projectOf(conn, o.project)).id, input!);
    printOne(c, out(o), [...CLUSTER_COLUMNS, ['stats', (x: Cluster) => x.stats] as Column<Cluster>] as Column<never>[]);
  });
  run(leaf(cluster, 'rm <cluster>', 'delete a cluster (and its tasks)', { project: true }), async ([input], o) => {
    const conn = connect(o);
    const p = await projectOf(conn, o.project);
    const c = await resolveCluster(conn, p.id, input!);
    await conn.hanami.clusters.remove(p.id, c.id);
    if (o.json) printOne({ deleted: { id: c.id, name: c.name } }, out(o));
    else say(`Deleted cluster ${c.name} (${c.id})`, out(o));
  });
  run(leaf(cluster, 'mode <cluster> <mode>', 'switch between tasks (queued train/request tasks) and direct (I/O over Socket.IO)', { project: true }), async ([input, mode], o) => {
    if (mode !== 'tasks' && mode !== 'direct') throw new CliError(`the mode is tasks or direct, not "${mode}"`);
    const conn = connect(o);
    const p = await projectOf(conn, o.project);
    const c = await resolveCluster(conn, p.id, input!);
    const updated = await conn.hanami.clusters.update(p.id, c.id, { mode });
    if (o.json) printOne(updated, out(o));
    else say(`Cluster ${updated.name} is in ${updated.mode} mode`, out(o));
  });
}

function positiveIntOrZero(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new CliError(`${name} must be an integer between 0 and 4294967295`);
    return n;
  };
}

// ---------------------------------------------------------------- tasks

const TASK_COLUMNS: Column<Task>[] = [
  ['name', (t) => t.name],
  ['kind', (t) => t.kind],
  ['state', (t) => t.state],
  ['progress', (t) => `${t.progress.done}/${t.progress.total}`],
  ['accuracy', (t) => t.result?.accuracy ?? null],
  ['id', (t) => t.id],
];

const TASK_SHOW: Column<Task>[] = [
  ['id', (t) => t.id],
  ['name', (t) => t.name],
  ['kind', (t) => t.kind],
  ['state', (t) => t.state],
  ['cluster', (t) => t.clusterId],
  ['dataset', (t) => t.datasetId],
  ['progress', (t) => `${t.progress.done}/${t.progress.total}`],
  ['samples/s', (t) => (t.result ? Math.round(t.result.samplesPerSecond) : null)],
  ['accuracy', (t) => t.result?.accuracy ?? null],
  ['rmse', (t) => t.result?.rmse ?? null],
  ['error', (t) => t.error],
];

/** A task by id or name: in the given cluster, or in any cluster of the project. */
async function resolveTask(conn: Connection, projectId: string, input: string, clusterInput: string | undefined): Promise<Task> {
  const clusters = clusterInput !== undefined ? [await resolveCluster(conn, projectId, clusterInput)] : await conn.hanami.clusters.all(projectId);
  const tasks: Task[] = [];
  for (const c of clusters) tasks.push(...(await conn.hanami.tasks.all(projectId, c.id)));
  return pick(tasks, input, 'task');
}

/** Follows a task to its end: a progress bar on a terminal, one JSON line per event with --json. */
async function followTask(conn: Connection, task: Task, o: Opts): Promise<Task> {
  const output = out(o);
  const format = ` ${task.kind.padEnd(7)} [{bar}] {percentage}% | {value}/{total} samples | {sps} samples/s | {score} | {synapses} synapses`;
  const bar = progressBar(output, format, Math.max(1, task.progress.total), { sps: '-', score: '-', synapses: '-' });
  try {
    for await (const e of conn.hanami.tasks.follow(task.projectId, task.clusterId, task.id)) {
      if (o.json) process.stdout.write(`${JSON.stringify(e)}\n`);
      showEvent(bar, e);
    }
  } finally {
    bar.stop();
  }
  const ended = await conn.hanami.tasks.get(task.projectId, task.clusterId, task.id);
  if (!o.json) printOne(ended, output, TASK_SHOW);
  if (ended.state !== 'finished') throw new TaskEndedError(ended);
  return ended;
}

function showEvent(bar: ReturnType<typeof progressBar>, e: TaskEvent): void {
  if (e.type === 'metric') {
    const p = e.point;
    const score = p.accuracy !== undefined ? `accuracy ${p.accuracy.toFixed(3)}` : p.rmse !== undefined ? `rmse ${p.rmse.toFixed(3)}` : '-';
    bar.update(p.done, { total: p.total, sps: Math.round(p.samplesPerSecond), score, synapses: p.synapses });
  } else bar.update(e.task.progress.done, {});
}

/** A followed task that failed or was cancelled: exit code 1 with its error. */
export class TaskEndedError extends Error {
  constructor(readonly task: Task) {
    super(`task ${task.id} ${task.state}${task.error ? `: ${task.error}` : ''}`);
    this.name = 'TaskEndedError';
  }
}

function registerTasks(program: Command): void {
  const task = program.command('task').description('train and request (test) tasks, queued per cluster');
  for (const kind of ['train', 'test'] as const) {
    const c = leaf(task, kind, kind === 'train' ? 'train a cluster on a dataset' : "score a cluster on a dataset (a request task; the accuracy against the dataset's labels)", { project: true })
      .requiredOption('--cluster <cluster>', 'the cluster (name or id)')
      .requiredOption('--dataset <dataset>', 'the dataset (name or id)')
      .option('--name <name>', 'a name for the task')
      .option('--follow', 'show live progress until the task ends (exit code 1 when it fails)');
    if (kind === 'train') c.option('--epochs <n>', 'passes over the data', positiveInt('--epochs'));
    run(c, async (_args, o) => {
      const conn = connect(o);
      const p = await projectOf(conn, o.project);
      const cl = await resolveCluster(conn, p.id, o.cluster as string);
      const d = pick(await conn.hanami.datasets.all(p.id), o.dataset as string, 'dataset');
      const options = { ...(o.name !== undefined ? { name: o.name as string } : {}), ...(o.epochs !== undefined ? { epochs: o.epochs as number } : {}) };
      const created = kind === 'train' ? await conn.hanami.tasks.train(p.id, cl.id, d.id, options) : await conn.hanami.tasks.test(p.id, cl.id, d.id, options);
      if (o.follow) await followTask(conn, created, o);
      else printOne(created, out(o), TASK_SHOW);
    });
  }
  run(leaf(task, 'ls', 'list the tasks of a cluster (or of every cluster of the project)', { project: true }).option('--cluster <cluster>', 'only this cluster'), async (_args, o) => {
    const conn = connect(o);
    const p = await projectOf(conn, o.project);
    const clusters = o.cluster !== undefined ? [await resolveCluster(conn, p.id, o.cluster as string)] : await conn.hanami.clusters.all(p.id);
    const tasks: Task[] = [];
    for (const c of clusters) tasks.push(...(await conn.hanami.tasks.all(p.id, c.id)));
    tasks.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
    printList(tasks, clusters.length > 1 ? [['cluster', (t: Task) => clusters.find((c) => c.id === t.clusterId)?.name], ...TASK_COLUMNS] : TASK_COLUMNS, out(o));
  });
  run(
    leaf(task, 'show <task>', 'show a task', { project: true }).option('--cluster <cluster>', 'the cluster (faster; default: searched)').option('--follow', 'follow it until it ends'),
    async ([input], o) => {
      const conn = connect(o);
      const p = await projectOf(conn, o.project);
      const t = await resolveTask(conn, p.id, input!, o.cluster as string | undefined);
      if (o.follow) await followTask(conn, t, o);
      else printOne(t, out(o), TASK_SHOW);
    },
  );
  run(leaf(task, 'cancel <task>', 'cancel a queued or running task', { project: true }).option('--cluster <cluster>', 'the cluster (default: searched)'), async ([input], o) => {
    const conn = connect(o);
    const p = await projectOf(conn, o.project);
    const t = await resolveTask(conn, p.id, input!, o.cluster as string | undefined);
    printOne(await conn.hanami.tasks.cancel(p.id, t.clusterId, t.id), out(o), TASK_SHOW);
  });
  run(
    leaf(task, 'metrics <task>', "a task's metric series (one point per line with --json)", { project: true }).option('--cluster <cluster>', 'the cluster (default: searched)'),
    async ([input], o) => {
      const conn = connect(o);
      const p = await projectOf(conn, o.project);
      const t = await resolveTask(conn, p.id, input!, o.cluster as string | undefined);
      const points = [];
      for (let offset = 0; ;) {
        const page = await conn.hanami.tasks.metrics(p.id, t.clusterId, t.id, { offset, limit: 1000 });
        points.push(...page.items);
        offset += page.items.length;
        if (page.items.length === 0 || offset >= page.total) break;
      }
      printList(
        points,
        [
          ['seq', (m) => m.seq],
          ['done', (m) => `${m.done}/${m.total}`],
          ['samples/s', (m) => Math.round(m.samplesPerSecond)],
          ['accuracy', (m) => m.accuracy ?? null],
          ['rmse', (m) => m.rmse ?? null],
          ['neurons', (m) => m.neurons],
          ['synapses', (m) => m.synapses],
          ['final', (m) => (m.final ? 'yes' : '')],
        ],
        out(o),
      );
    },
  );
}

// ---------------------------------------------------------------- checkpoints

function registerCheckpoints(program: Command): void {
  const checkpoint = program.command('checkpoint').description('saved cluster states');
  type Row = { id: string; name: string; clusterId: string; bytes: number; createdAt: string };
  const columnsWith = (clusters: readonly Cluster[]): Column<Row>[] => [
    ['name', (c) => c.name],
    ['bytes', (c) => c.bytes],
    ['cluster', (c) => clusters.find((x) => x.id === c.clusterId)?.name ?? '(deleted)'],
    ['id', (c) => c.id],
  ];
  run(leaf(checkpoint, 'ls', "list the project's checkpoints", { project: true }), async (_args, o) => {
    const conn = connect(o);
    const p = await projectOf(conn, o.project);
    printList(await conn.hanami.checkpoints.all(p.id), columnsWith(o.json ? [] : await conn.hanami.clusters.all(p.id)), out(o));
  });
  run(leaf(checkpoint, 'save <name>', 'save the state of a cluster', { project: true }).requiredOption('--cluster <cluster>', 'the cluster (name or id)'), async ([name], o) => {
    const conn = connect(o);
    const p = await projectOf(conn, o.project);
    const c = await resolveCluster(conn, p.id, o.cluster as string);
    printOne(await conn.hanami.checkpoints.save(p.id, c.id, name!), out(o), columnsWith([c]));
  });
  run(
    leaf(checkpoint, 'restore <checkpoint>', 'restore into an idle cluster (--cluster; default: the one it was saved from) or a new one (--name)', { project: true })
      .option('--cluster <cluster>', 'replace the state of this cluster')
      .option('--name <name>', 'create a new cluster with this name'),
    async ([input], o) => {
      if (o.cluster !== undefined && o.name !== undefined) throw new CliError('give --cluster or --name, not both');
      const conn = connect(o);
      const p = await projectOf(conn, o.project);
      const ck = pick(await conn.hanami.checkpoints.all(p.id), input!, 'checkpoint');
      const body = o.name !== undefined ? { name: o.name as string } : { clusterId: o.cluster !== undefined ? (await resolveCluster(conn, p.id, o.cluster as string)).id : ck.clusterId };
      const c = await conn.hanami.checkpoints.restore(p.id, ck.id, body);
      if (o.json) printOne(c, out(o));
      else say(`Restored ${ck.name} into cluster ${c.name} (${c.id})`, out(o));
    },
  );
  run(
    leaf(checkpoint, 'download <checkpoint>', 'write the checkpoint file (usable by `hanami test --checkpoint`)', { project: true }).option('--out <file>', 'where (default: <name>.ckpt)'),
    async ([input], o) => {
      const conn = connect(o);
      const p = await projectOf(conn, o.project);
      const ck = pick(await conn.hanami.checkpoints.all(p.id), input!, 'checkpoint');
      const bytes = await conn.hanami.checkpoints.download(p.id, ck.id);
      const file = (o.out as string | undefined) ?? `${ck.name.replace(/[^A-Za-z0-9._-]+/g, '_')}.ckpt`;
      writeFileSync(file, bytes);
      if (o.json) printOne({ file, bytes: bytes.byteLength, sha256: ck.sha256 }, out(o));
      else say(`Wrote ${file} (${bytes.byteLength} bytes)`, out(o));
    },
  );
  run(leaf(checkpoint, 'rm <checkpoint>', 'delete a checkpoint', { project: true }), async ([input], o) => {
    const conn = connect(o);
    const p = await projectOf(conn, o.project);
    const ck = pick(await conn.hanami.checkpoints.all(p.id), input!, 'checkpoint');
    await conn.hanami.checkpoints.remove(p.id, ck.id);
    if (o.json) printOne({ deleted: { id: ck.id, name: ck.name } }, out(o));
    else say(`Deleted checkpoint ${ck.name} (${ck.id})`, out(o));
  });
}

// ---------------------------------------------------------------- direct I/O

/** One input: a JSON array (`[0, 12, 255]`) or a CSV line (`0,12,255`). */
export function parseValues(text: string): number[] {
  const trimmed = text.trim();
  let values: unknown[];
  if (trimmed.startsWith('[')) {
    try {
      values = JSON.parse(trimmed) as unknown[];
    } catch {
      throw new CliError('the input is not a JSON array of numbers');
    }
    if (!Array.isArray(values)) throw new CliError('the input is not a JSON array of numbers');
  } else values = trimmed.split(',').map((s) => (s.trim() === '' ? NaN : Number(s)));
  const bad = values.findIndex((v) => typeof v !== 'number' || !Number.isFinite(v));
  if (values.length === 0 || bad >= 0) throw new CliError(`the input must be finite numbers (a CSV line or a JSON array); value ${bad + 1} is not`);
  return values as number[];
}

function registerIo(program: Command): void {
  const io = program.command('io').description('direct I/O with a cluster in direct mode (one input at a time, over Socket.IO)');
  for (const verb of ['request', 'train'] as const) {
    const c = leaf(io, `${verb} <values>`, verb === 'request' ? "the cluster's outputs for one input (a CSV line or a JSON array)" : 'learn one input with its target', {
      project: true,
    }).requiredOption('--cluster <cluster>', 'the cluster (name or id), in direct mode');
    if (verb === 'train') c.option('--label <index>', 'the class (0-based)').option('--classes <n>', 'how many classes the output has').option('--values <list>', 'target values (CSV or JSON array)');
    run(c, async ([text], o) => {
      const values = parseValues(text!);
      if (verb === 'train' && (o.label === undefined) === (o.values === undefined)) throw new CliError('give --label <index> (a class) or --values <list> (targets)');
      const conn = connect(o);
      const p = await projectOf(conn, o.project);
      const cl = await resolveCluster(conn, p.id, o.cluster as string);
      const ioClient = await client().HanamiIo.connect(conn.hanami.url, await conn.hanami.token());
      try {
        await ioClient.attach(p.id, cl.id);
        const answer =
          verb === 'request'
            ? await ioClient.request(values)
            : await ioClient.train(
                values,
                o.values !== undefined ? { values: parseValues(o.values as string) } : { label: Number(o.label), ...(o.classes !== undefined ? { classes: Number(o.classes) } : {}) },
              );
        const byOutput = Object.fromEntries(
          Object.entries(answer.byOutput).map(([k, v]) => [k, { mode: v.mode, values: Array.from(v.values), ...(v.label !== undefined ? { label: v.label, index: v.index } : {}) }]),
        );
        const result = { argmax: answer.argmax, outputs: byOutput };
        if (o.json) printOne(result, out(o));
        else
          for (const [name, v] of Object.entries(byOutput))
            say(v.mode === 'class' && 'label' in v ? `${name}: class ${v.label}` : `${name}: ${v.values.map((x) => Math.round(x * 1e4) / 1e4).join(', ')}`, out(o));
      } finally {
        ioClient.close();
      }
    });
  }
}

/** Every remote noun and its verbs (for the did-you-mean of unknown words). */
export const REMOTE_NOUNS = ['login', 'logout', 'context', 'project', 'user', 'member', 'dataset', 'template', 'cluster', 'task', 'checkpoint', 'io'] as const;

export function registerRemoteCommands(program: Command): void {
  const local = new Set(program.commands.filter((c) => c.name() !== 'dataset'));
  registerSession(program);
  registerProjects(program);
  registerDatasets(program);
  registerTemplates(program);
  registerClusters(program);
  registerTasks(program);
  registerCheckpoints(program);
  registerIo(program);
  // The client is loaded for these commands only (a hook on a command runs for its subcommands).
  for (const command of program.commands) {
    if (!local.has(command)) command.hook('preAction', async () => void (await loadClient()));
  }
}

/** How an error of a remote command is reported: one line, exit code 1 for a failed
 *  request (or task), undefined for errors that are not ours to word. */
export function remoteFailure(e: unknown): { line: string; exitCode: number } | undefined {
  const { HanamiError, HanamiIoError } = loadedClient() ?? {};
  if (HanamiError && e instanceof HanamiError && e.code === 'token_expired') return { line: `${e.message} (\`hanami login <url>\`, or set HANAMI_PASSPHRASE)`, exitCode: 1 };
  if (HanamiError && e instanceof HanamiError) return { line: e.message, exitCode: 1 };
  if (e instanceof TaskEndedError) return { line: e.message, exitCode: 1 };
  if (HanamiIoError && e instanceof HanamiIoError) return { line: `direct I/O refused (${e.code}): ${e.message}`, exitCode: 1 };
  return undefined;
}
