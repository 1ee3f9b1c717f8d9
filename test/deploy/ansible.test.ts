/**
 * The Ansible playbook and role (ansible/): `ansible-playbook --syntax-check`, `ansible-lint`
 * with the production profile and no skipped rules, the role's variables documented, the
 * systemd unit checked by `systemd-analyze verify` and scored by `systemd-analyze security`,
 * and a real run of the playbook against localhost (connection local) into a throw-away
 * prefix: the working tree packed as the release archive (what a fresh clone has), `npm ci`
 * by the role, the service started as a background process on a free port with a temp data
 * folder. Then /readyz answers, the generated admin passphrase logs in, tokens are signed
 * with the generated JWT key, a second run changes nothing, a changed setting restarts the
 * service, a bad setting is refused before it reaches the live config, and the service is
 * stopped at the end.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { findTool, httpRequest, IN_CI, requireTools, ROOT, run, skipUnlessTools } from './helpers.js';

const playbook = findTool('ansible-playbook', 'HANAMI_ANSIBLE_PLAYBOOK', undefined);
const lint = findTool('ansible-lint', 'HANAMI_ANSIBLE_LINT', undefined);
const adhoc = findTool('ansible', 'HANAMI_ANSIBLE', undefined);
const shellcheck = findTool('shellcheck', 'HANAMI_SHELLCHECK', undefined);
const skip = skipUnlessTools(playbook, lint, adhoc);

const ANSIBLE_DIR = join(ROOT, 'ansible');
const ROLE_DIR = join(ANSIBLE_DIR, 'roles', 'hanami');
/** The interpreter Debian's ansible modules run with (it has the apt bindings). */
const PYTHON = '/usr/bin/python3';

function ansibleEnv(work: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    ANSIBLE_CONFIG: join(ANSIBLE_DIR, 'ansible.cfg'),
    ANSIBLE_NOCOLOR: '1',
    ANSIBLE_FORCE_COLOR: '0',
    ANSIBLE_LOCAL_TEMP: join(work, '.ansible', 'tmp'),
    ANSIBLE_REMOTE_TEMP: join(work, '.ansible', 'tmp'),
    ANSIBLE_HOME: join(work, '.ansible'),
    ANSIBLE_RETRY_FILES_ENABLED: '0',
  };
}

function readDefaults(): Record<string, unknown> {
  return parseYaml(readFileSync(join(ROLE_DIR, 'defaults', 'main.yml'), 'utf8')) as Record<string, unknown>;
}

describe('Ansible playbook and role', { skip }, () => {
  let work: string;
  before(() => {
    work = mkdtempSync(join(tmpdir(), 'hanami-ansible-'));
  });
  after(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test('ansible-playbook --syntax-check', () => {
    const [bin] = requireTools(playbook);
    const r = run(bin as string, ['--syntax-check', '-i', 'inventory.example.ini', 'site.yml'], { cwd: ANSIBLE_DIR, env: ansibleEnv(work) });
    assert.equal(r.status, 0, r.output);
    assert.match(r.stdout, /playbook: site\.yml/);
  });

  test('ansible-lint: production profile, nothing skipped', () => {
    const [bin] = requireTools(lint);
    const config = parseYaml(readFileSync(join(ANSIBLE_DIR, '.ansible-lint'), 'utf8')) as Record<string, unknown>;
    assert.equal(config.profile, 'production');
    for (const key of ['skip_list', 'warn_list', 'enable_list_skip']) assert.equal(config[key], undefined, `.ansible-lint must not have ${key}`);
    const r = run(bin as string, ['--nocolor', '--offline', '-c', '.ansible-lint', 'site.yml', 'roles/hanami'], { cwd: ANSIBLE_DIR, env: ansibleEnv(work), timeoutMs: 300_000 });
    assert.equal(r.status, 0, r.output);
    assert.match(r.output, /Passed with production profile: 0 failure\(s\), 0 warning\(s\)/, r.output);
    assert.doesNotMatch(r.output, /noqa/);
  });

  test('every role variable has a default, an argument spec and a line in docs/operations.md', () => {
    const defaults = Object.keys(readDefaults()).sort();
    const specs = parseYaml(readFileSync(join(ROLE_DIR, 'meta', 'argument_specs.yml'), 'utf8')) as {
      argument_specs: { main: { options: Record<string, { default: unknown; description: unknown }> } };
    };
    const options = specs.argument_specs.main.options;
    assert.deepEqual(Object.keys(options).sort(), defaults, 'argument_specs.yml and defaults/main.yml list the same variables');
    const values = readDefaults();
    for (const name of defaults) {
      assert.deepEqual(options[name]?.default, values[name], `${name}: the argument spec's default equals defaults/main.yml`);
      assert.ok(options[name]?.description, `${name}: described in the argument spec`);
    }
    const docs = readFileSync(join(ROOT, 'docs', 'operations.md'), 'utf8');
    for (const name of defaults) assert.ok(docs.includes(`\`${name}\``), `${name} is not documented in docs/operations.md`);
    const tasks = ['tasks', 'templates', 'handlers', 'vars'].map((d) => join(ROLE_DIR, d));
    const used = run('grep', ['-rhoE', 'hanami_[a-z_]+', ...tasks]).stdout.split('\n');
    for (const name of defaults) assert.ok(used.includes(name), `${name} is declared but never used`);
  });

  test('the systemd unit verifies and scores as hardened (systemd-analyze)', (t) => {
    const [bin] = requireTools(adhoc);
    const analyze = ['/usr/bin/systemd-analyze', '/bin/systemd-analyze'].find((p) => existsSync(p));
    if (!analyze) {
      if (IN_CI) assert.fail('systemd-analyze is missing');
      t.skip('systemd-analyze not installed');
      return;
    }
    const unitDir = join(work, 'unit');
    mkdirSync(unitDir, { recursive: true });
    const unit = join(unitDir, 'hanami.service');
    const r = run(
      bin as string,
      [
        'localhost',
        '-i',
        'localhost,',
        '-c',
        'local',
        '-e',
        `ansible_python_interpreter=${PYTHON}`,
        '-e',
        `@${join(ROLE_DIR, 'defaults', 'main.yml')}`,
        '-e',
        `@${join(ROLE_DIR, 'vars', 'main.yml')}`,
        '-e',
        `hanami_node_bin=${process.execPath}`,
        '-m',
        'ansible.builtin.template',
        '-a',
        `src=${join(ROLE_DIR, 'templates', 'hanami.service.j2')} dest=${unit} mode=0644`,
      ],
      { cwd: ANSIBLE_DIR, env: ansibleEnv(work) },
    );
    assert.equal(r.status, 0, r.output);
    const text = readFileSync(unit, 'utf8');
    assert.match(text, /^User=hanami$/m);
    assert.match(text, /^NoNewPrivileges=yes$/m);
    assert.match(text, /^ProtectSystem=strict$/m);
    assert.match(text, /^ReadWritePaths=\/var\/lib\/hanami$/m);
    assert.match(text, /^EnvironmentFile=\/etc\/hanami\/hanami\.env$/m);
    assert.doesNotMatch(text, /^Environment=.*(PASSPHRASE|JWT_KEY|MONGO_URL)=/m, 'no secret in the unit');
    const verify = run(analyze, ['verify', '--man=no', unit]);
    assert.equal(verify.status, 0, verify.output);
    assert.doesNotMatch(verify.output, /Unknown key|Failed to parse|Invalid|ignoring/i, verify.output);
    // Exposure from 0 (locked down) to 10 (unprotected); systemd labels up to 4.9 "OK".
    // Ours must stay under 3.
    const security = run(analyze, ['security', '--offline=true', '--threshold=30', unit]);
    assert.equal(security.status, 0, security.output);
    const score = Number(/Overall exposure level for hanami\.service: ([\d.]+)/.exec(security.output)?.[1]);
    assert.ok(score < 3, `exposure ${score}:\n${security.output}`);
  });

  test('hanami-ctl (the background manager) and the CI step pass shellcheck', { skip: skipUnlessTools(shellcheck) }, () => {
    const [ansibleBin, shellcheckBin] = requireTools(adhoc, shellcheck);
    const script = join(work, 'hanami-ctl');
    const r = run(
      ansibleBin as string,
      [
        'localhost',
        '-i',
        'localhost,',
        '-c',
        'local',
        '-e',
        `ansible_python_interpreter=${PYTHON}`,
        '-e',
        `@${join(ROLE_DIR, 'defaults', 'main.yml')}`,
        '-e',
        `@${join(ROLE_DIR, 'vars', 'main.yml')}`,
        '-m',
        'ansible.builtin.template',
        '-a',
        `src=${join(ROLE_DIR, 'templates', 'hanami-ctl.sh.j2')} dest=${script} mode=0755`,
      ],
      { cwd: ANSIBLE_DIR, env: ansibleEnv(work) },
    );
    assert.equal(r.status, 0, r.output);
    const check = run(shellcheckBin as string, ['--severity=style', script]);
    assert.equal(check.status, 0, check.output);
    const step = run(shellcheckBin as string, ['--severity=style', '-s', 'bash', join(ROOT, '.ci', 'steps', '50-deploy-tools.sh')]);
    assert.equal(step.status, 0, step.output);
  });

  describe('a real run against localhost into a temp prefix', () => {
    const mainSource = join(ROOT, 'server', 'main.ts');
    const runSkip = skip || (!existsSync(mainSource) && !IN_CI ? 'server/main.ts does not exist yet' : false);
    let prefix: string;
    let port: number;
    let metricsPort: number;
    let varsFile: string;
    let inventory: string;
    let ctl: string;
    const paths = {
      install: '',
      config: '',
      data: '',
      log: '',
    };

    const playbookRun = (extraVars: Record<string, unknown> = {}, extraArgs: string[] = []): { changed: number; failed: number; output: string; status: number | null } => {
      const [bin] = requireTools(playbook);
      const args = ['-i', inventory, join(ANSIBLE_DIR, 'site.yml'), '-e', `@${varsFile}`, '-e', 'ansible_become=false', ...extraArgs];
      if (Object.keys(extraVars).length > 0) args.push('-e', JSON.stringify(extraVars));
      const r = run(bin as string, args, { cwd: ANSIBLE_DIR, env: ansibleEnv(prefix), timeoutMs: 15 * 60_000 });
      const recap = /localhost\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)/.exec(r.stdout);
      assert.ok(recap, `no play recap:\n${r.output.slice(-6000)}`);
      return { changed: Number(recap[2]), failed: Number(recap[4]), output: r.output, status: r.status };
    };
    const pid = (): string => readFileSync(join(paths.log, 'hanami.pid'), 'utf8').trim();
    const url = (path: string): string => `http://127.0.0.1:${port}${path}`;

    before(async () => {
      if (runSkip) return;
      assert.ok(existsSync(mainSource), 'server/main.ts must exist: the role installs and starts the real service');
      prefix = mkdtempSync(join(tmpdir(), 'hanami-role-'));
      paths.install = join(prefix, 'opt', 'hanami');
      paths.config = join(prefix, 'etc', 'hanami');
      paths.data = join(prefix, 'var', 'lib', 'hanami');
      paths.log = join(prefix, 'var', 'log', 'hanami');
      ctl = join(paths.install, 'bin', 'hanami-ctl');
      const freePort = (): Promise<number> =>
        new Promise<number>((resolve, reject) => {
          const s = createServer();
          s.once('error', reject);
          s.listen(0, '127.0.0.1', () => {
            const address = s.address();
            s.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
          });
        });
      port = await freePort();
      do metricsPort = await freePort();
      while (metricsPort === port);
      // The release archive: the working tree as a fresh clone has it (tracked files plus
      // new files git does not ignore), nothing built.
      const files = run('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'])
        .stdout.split('\0')
        .filter((f) => f && existsSync(join(ROOT, f)) && statSync(join(ROOT, f)).isFile());
      const archive = join(prefix, 'hanami.tar.gz');
      const tar = run('tar', ['--null', '-T', '-', '-czf', archive], { input: `${files.join('\0')}\0` });
      assert.equal(tar.status, 0, tar.output);
      const npm = join(dirname(process.execPath), 'npm');
      const user = userInfo().username;
      const group = run('id', ['-gn']).stdout.trim();
      const vars: Record<string, unknown> = {
        hanami_service_manager: 'background',
        hanami_manage_packages: false,
        hanami_manage_user: false,
        hanami_user: user,
        hanami_group: group,
        hanami_config_owner: user,
        hanami_install_dir: paths.install,
        hanami_config_dir: paths.config,
        hanami_data_dir: paths.data,
        hanami_log_dir: paths.log,
        hanami_source_archive: archive,
        hanami_host: '127.0.0.1',
        hanami_port: port,
        hanami_metrics_port: metricsPort,
        hanami_threads: 1,
        hanami_firewall: 'none',
        hanami_node_bin: process.execPath,
        hanami_npm_bin: existsSync(npm) ? npm : 'npm',
        hanami_npm_environment: process.env.npm_config_nodedir ? { npm_config_nodedir: process.env.npm_config_nodedir } : {},
        hanami_ready_timeout: 90,
      };
      varsFile = join(prefix, 'vars.json');
      writeFileSync(varsFile, JSON.stringify(vars, null, 2));
      inventory = join(prefix, 'inventory.ini');
      writeFileSync(inventory, `[hanami]\nlocalhost ansible_connection=local ansible_python_interpreter=${PYTHON}\n`);
    });

    after(() => {
      if (!prefix) return;
      if (existsSync(ctl)) {
        const r = run(ctl, ['stop'], { timeoutMs: 60_000 });
        assert.match(r.stdout, /stopped/, r.output);
      }
      rmSync(prefix, { recursive: true, force: true });
    });

    test('first run installs, configures and starts; /readyz answers; the generated secrets work', { skip: runSkip, timeout: 15 * 60_000 }, async (t) => {
      const started = Date.now();
      const first = playbookRun();
      assert.equal(first.status, 0, first.output.slice(-8000));
      assert.equal(first.failed, 0);
      assert.ok(first.changed > 0, 'a first run changes things');
      t.diagnostic(`first role run (npm ci, build, start): ${((Date.now() - started) / 1000).toFixed(1)} s`);

      const ready = await httpRequest(url('/readyz'));
      assert.equal(ready.status, 200);
      assert.equal((JSON.parse(ready.body) as { status: string }).status, 'ready');
      assert.equal((await httpRequest(url('/healthz'))).status, 200);
      // Metrics on their own listener only (issue 13): the API's port answers 404.
      const metrics = await httpRequest(`http://127.0.0.1:${metricsPort}/metrics`);
      assert.equal(metrics.status, 200);
      assert.match(metrics.body, /hanami_process_resident_memory_bytes/);
      assert.equal((await httpRequest(url('/metrics'))).status, 404);

      // The release: built, pruned to production dependencies, linked as `current`.
      const current = join(paths.install, 'current');
      assert.ok(existsSync(join(current, 'dist', 'server', 'main.js')));
      assert.ok(existsSync(join(current, 'node_modules', 'better-sqlite3')));
      assert.ok(!existsSync(join(current, 'node_modules', 'typescript')), 'devDependencies pruned');
      assert.ok(existsSync(join(paths.data, 'store.sqlite')), 'the embedded store lives in hanami_data_dir');

      // Secrets: files readable by owner and group only, generated once, used by the service.
      const secrets = join(paths.config, 'secrets');
      for (const f of ['jwt-key', 'admin-passphrase']) assert.equal(statSync(join(secrets, f)).mode & 0o777, 0o640, `${f} mode`);
      assert.equal(statSync(secrets).mode & 0o777, 0o750);
      assert.equal(statSync(paths.data).mode & 0o777, 0o750);
      const jwtKey = readFileSync(join(secrets, 'jwt-key'), 'utf8');
      const passphrase = readFileSync(join(secrets, 'admin-passphrase'), 'utf8');
      assert.ok(jwtKey.length >= 32 && passphrase.length >= 8);
      for (const f of [join(paths.config, 'config.yaml'), join(paths.config, 'hanami.env')]) {
        const text = readFileSync(f, 'utf8');
        assert.ok(!text.includes(jwtKey) && !text.includes(passphrase), `${f} holds no secret`);
      }
      const config = parseYaml(readFileSync(join(paths.config, 'config.yaml'), 'utf8')) as Record<string, unknown>;
      assert.equal(config.port, port);
      assert.equal(config.dataDir, paths.data);
      assert.equal(config.threads, 1);
      assert.equal(config.metricsPort, metricsPort);
      assert.equal(config.metricsHost, '127.0.0.1');

      const login = await httpRequest(url('/v1/auth/login'), { json: { name: 'admin', passphrase } });
      assert.equal(login.status, 200, login.body);
      const { token } = JSON.parse(login.body) as { token: string };
      const [header, payload, signature] = token.split('.');
      const expected = createHmac('sha256', jwtKey).update(`${header}.${payload}`).digest('base64url');
      assert.equal(signature, expected, 'tokens are signed with the key from HANAMI_JWT_KEY_FILE');
    });

    test('second run changes nothing and leaves the process alone', { skip: runSkip, timeout: 10 * 60_000 }, async () => {
      const before = pid();
      const second = playbookRun();
      assert.equal(second.status, 0, second.output.slice(-8000));
      assert.equal(second.failed, 0);
      assert.equal(
        second.changed,
        0,
        `the role is not idempotent:\n${second.output
          .split('\n')
          .filter((l) => /^changed:/.test(l) || /^TASK/.test(l))
          .join('\n')}`,
      );
      assert.equal(pid(), before, 'not restarted');
      assert.equal((await httpRequest(url('/readyz'))).status, 200);
    });

    test('a changed setting is written and restarts the service', { skip: runSkip, timeout: 10 * 60_000 }, async () => {
      const before = pid();
      const r = playbookRun({ hanami_log_level: 'debug' });
      assert.equal(r.status, 0, r.output.slice(-8000));
      assert.equal(r.failed, 0);
      assert.ok(r.changed >= 2, 'config.yaml and the restart');
      assert.notEqual(pid(), before, 'restarted');
      assert.equal((await httpRequest(url('/readyz'))).status, 200);
      assert.equal((parseYaml(readFileSync(join(paths.config, 'config.yaml'), 'utf8')) as Record<string, unknown>).logLevel, 'debug');
    });

    test("a setting the server would refuse is stopped by the application's own config check", { skip: runSkip, timeout: 10 * 60_000 }, async () => {
      const live = readFileSync(join(paths.config, 'config.yaml'), 'utf8');
      const before = pid();
      const r = playbookRun({ hanami_log_level: 'debug', hanami_extra_config: { noSuchSetting: 1 } }, ['--tags', 'config']);
      assert.notEqual(r.status, 0);
      assert.equal(r.failed, 1, r.output.slice(-4000));
      assert.match(r.output, /unknown setting \\?"noSuchSetting\\?"/);
      assert.equal(readFileSync(join(paths.config, 'config.yaml'), 'utf8'), live, 'the live config is untouched');
      assert.equal(pid(), before);
      assert.equal((await httpRequest(url('/readyz'))).status, 200);
    });
  });
});
