/**
 * The Helm chart (k8s/hanami): `helm lint --strict`, `helm template` for the value sets in
 * k8s/hanami/ci/ (CPU-only with the embedded store; GPU pool with an external MongoDB; the
 * bundled MongoDB; both pools), every rendered object validated offline against the
 * Kubernetes JSON schemas of the oldest supported (1.27) and a current (1.36) Kubernetes with
 * kubernetes-validate --strict (unknown fields are errors), and the facts an operator relies
 * on asserted on the rendered objects: GPU resources only on the GPU workload, no secret
 * value in env or ConfigMaps, probes, non-root and read-only containers, selectors that
 * match, the embedded store never behind more than one pod. Contradictory values must stop
 * the render with a message.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { threadsFor } from '../../cpu-fallback/threads.js';
import { defaultConfig } from '../../server/config.js';
import { findTool, requireTools, ROOT, run, skipUnlessTools } from './helpers.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- rendered manifests are untyped JSON */
type K8s = any;

const helm = findTool('helm', 'HANAMI_HELM', 'bin/helm');
const validator = findTool('kubernetes-validate', 'HANAMI_K8S_VALIDATE', 'venv/bin/kubernetes-validate');
const skip = skipUnlessTools(helm, validator);

const CHART = join(ROOT, 'k8s', 'hanami');
const RELEASE = 'hanami';
const NAMESPACE = 'hanami-test';
/** The chart's kubeVersion floor and the Kubernetes helm v3.21 is built against. */
const KUBE_VERSIONS = ['1.27.0', '1.36.0'];
/** Kinds from CRDs: no schema in kubernetes-validate; checked structurally below. */
const CRD_GROUPS = ['monitoring.coreos.com/'];

const VALUE_SETS = {
  'cpu-embedded': 'cpu-embedded-values.yaml',
  'gpu-external-mongodb': 'gpu-external-mongodb-values.yaml',
  'bundled-mongodb': 'bundled-mongodb-values.yaml',
  'both-pools': 'both-pools-values.yaml',
} as const;
type SetName = keyof typeof VALUE_SETS;

let work: string;

function helmArgs(valueFile: string | undefined, sets: string[]): string[] {
  const args = ['template', RELEASE, CHART, '--namespace', NAMESPACE, '--kube-version', KUBE_VERSIONS[1] as string];
  if (valueFile) args.push('-f', join(CHART, 'ci', valueFile));
  for (const s of sets) args.push('--set', s);
  return args;
}

function render(valueFile: string | undefined, sets: string[] = []): { text: string; objects: K8s[] } {
  const [helmPath] = requireTools(helm);
  const r = run(helmPath as string, helmArgs(valueFile, sets));
  assert.equal(r.status, 0, `helm template failed:\n${r.output}`);
  const objects = parseAllDocuments(r.stdout)
    .map((d) => {
      assert.equal(d.errors.length, 0, `rendered YAML does not parse: ${d.errors.map((e) => e.message).join('; ')}`);
      return d.toJSON();
    })
    .filter((o) => o !== null && o !== undefined);
  return { text: r.stdout, objects };
}

function renderFails(sets: string[]): string {
  const [helmPath] = requireTools(helm);
  const r = run(helmPath as string, helmArgs(undefined, sets));
  assert.notEqual(r.status, 0, `helm template should have refused --set ${sets.join(' --set ')}, but rendered:\n${r.stdout.slice(0, 2000)}`);
  return r.stderr;
}

/** kubernetes-validate --strict on every object, for each Kubernetes version. */
function validateSchemas(name: string, text: string, objects: K8s[]): void {
  const [validatorPath] = requireTools(validator);
  const file = join(work, `${name}.yaml`);
  writeFileSync(file, text);
  const expected = objects
    .filter((o) => !CRD_GROUPS.some((g) => String(o.apiVersion).startsWith(g)))
    .map((o) => `${String(o.kind).toLowerCase()}/${o.metadata.name}`)
    .sort();
  for (const version of KUBE_VERSIONS) {
    const r = run(validatorPath as string, ['--strict', '-k', version, file]);
    assert.equal(r.status, 0, `${name}: schema validation against Kubernetes ${version} failed:\n${r.output}`);
    const passed = [...r.output.matchAll(/passed for resource (\S+) against version/g)].map((m) => m[1] as string).sort();
    assert.deepEqual(passed, expected, `${name}: every object must be validated against ${version}:\n${r.output}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Queries over rendered objects.

const ofKind = (objects: K8s[], kind: string): K8s[] => objects.filter((o) => o.kind === kind);
const named = (objects: K8s[], kind: string, name: string): K8s => {
  const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
  assert.ok(o, `${kind} ${name} not rendered (have: ${objects.map((x) => `${x.kind}/${x.metadata.name}`).join(', ')})`);
  return o;
};
const workloads = (objects: K8s[]): K8s[] => objects.filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet');
const serverDeployments = (objects: K8s[]): K8s[] => ofKind(objects, 'Deployment').filter((d) => d.metadata.labels['app.kubernetes.io/component'] === 'server');
const pool = (d: K8s): string => d.metadata.labels['hanami.io/pool'];
const podSpec = (w: K8s): K8s => w.spec.template.spec;
const serverContainer = (d: K8s): K8s => podSpec(d).containers.find((c: K8s) => c.name === 'hanami');
const env = (c: K8s): Map<string, K8s> => new Map((c.env ?? []).map((e: K8s) => [e.name, e]));
const envValue = (c: K8s, name: string): string | undefined => env(c).get(name)?.value;
const matches = (selector: Record<string, string>, labels: Record<string, string> | undefined): boolean => Object.entries(selector).every(([k, v]) => labels?.[k] === v);
const podsSelectedBy = (objects: K8s[], selector: Record<string, string>): K8s[] => workloads(objects).filter((w) => matches(selector, w.spec.template.metadata.labels));
const decodedSecretValues = (objects: K8s[]): string[] => ofKind(objects, 'Secret').flatMap((s) => Object.values<string>(s.data ?? {}).map((v) => Buffer.from(v, 'base64').toString('utf8')));

/** Names of env variables that would carry a secret in plain text. */
const SECRET_ENV = /(PASSPHRASE|JWT_KEY|MONGO_URL|PASSWORD|SECRET|TOKEN)$/;
/** Config keys the chart sets through env or Secrets, never through `config`. */
const CHART_MANAGED_KEYS = [
  'host',
  'port',
  'dataDir',
  'mongoUrl',
  'mongoDatabase',
  'backend',
  'threads',
  'adminUser',
  'adminPassphrase',
  'jwtKey',
  'policyFile',
  'metricsHost',
  'metricsPort',
  'metricsToken',
];

/** Facts every value set must keep. */
function checkCommon(name: string, objects: K8s[]): void {
  const all = (what: string): string => `${name}: ${what}`;

  // Identity: unique names per kind, the standard labels on everything.
  const keys = objects.map((o) => `${o.kind}/${o.metadata.name}`);
  assert.equal(new Set(keys).size, keys.length, all(`duplicate objects: ${keys.join(', ')}`));
  for (const o of objects) {
    assert.equal(o.metadata.labels?.['app.kubernetes.io/instance'], RELEASE, all(`${o.kind}/${o.metadata.name} lacks the instance label`));
    assert.equal(o.metadata.labels?.['app.kubernetes.io/managed-by'], 'Helm', all(`${o.kind}/${o.metadata.name} lacks the managed-by label`));
    assert.equal(o.metadata.namespace, undefined, all('objects must not hard-code a namespace'));
  }

  // Every workload: non-root, read-only root filesystem, no privilege escalation, all
  // capabilities dropped, no service-account token.
  for (const w of workloads(objects)) {
    const spec = podSpec(w);
    const where = `${w.kind}/${w.metadata.name}`;
    assert.equal(spec.securityContext?.runAsNonRoot, true, all(`${where}: runAsNonRoot`));
    assert.ok(Number(spec.securityContext?.runAsUser) > 0, all(`${where}: runAsUser must be a non-root uid`));
    assert.equal(spec.securityContext?.seccompProfile?.type, 'RuntimeDefault', all(`${where}: seccomp RuntimeDefault`));
    assert.equal(spec.automountServiceAccountToken, false, all(`${where}: no service-account token`));
    for (const c of [...spec.containers, ...(spec.initContainers ?? [])]) {
      const sc = c.securityContext ?? {};
      assert.equal(sc.readOnlyRootFilesystem, true, all(`${where}/${c.name}: readOnlyRootFilesystem`));
      assert.equal(sc.allowPrivilegeEscalation, false, all(`${where}/${c.name}: allowPrivilegeEscalation=false`));
      assert.notEqual(sc.privileged, true, all(`${where}/${c.name}: privileged`));
      assert.ok(sc.capabilities?.drop?.includes('ALL'), all(`${where}/${c.name}: capabilities.drop ALL`));
      assert.equal(sc.runAsUser ?? spec.securityContext.runAsUser, spec.securityContext.runAsUser, all(`${where}/${c.name}: same uid`));
      assert.ok(c.resources && Object.keys(c.resources).length > 0, all(`${where}/${c.name}: resources set`));
      // Secrets never as env values, and not as env references either: files only.
      for (const e of c.env ?? []) {
        if (SECRET_ENV.test(e.name)) assert.fail(all(`${where}/${c.name}: env ${e.name} would carry a secret; use ${e.name}_FILE`));
        assert.equal(e.valueFrom?.secretKeyRef, undefined, all(`${where}/${c.name}: env ${e.name} reads a Secret into the environment`));
      }
      // Every secret's *_FILE variable points into a volume that a Secret fills.
      for (const e of c.env ?? []) {
        if (!e.name.endsWith('_FILE') || !SECRET_ENV.test(e.name.slice(0, -'_FILE'.length))) continue;
        const mount = (c.volumeMounts ?? []).find((m: K8s) => String(e.value).startsWith(`${m.mountPath}/`));
        assert.ok(mount, all(`${where}/${c.name}: ${e.name}=${e.value} is not under a mounted volume`));
        const volume = spec.volumes.find((v: K8s) => v.name === mount.name);
        const file = String(e.value).slice(mount.mountPath.length + 1);
        const sources: K8s[] = volume.secret ? [{ secret: { ...volume.secret, name: volume.secret.secretName } }] : (volume.projected?.sources ?? []);
        const source = sources.find((s) => s.secret?.items?.some((i: K8s) => i.path === file));
        assert.ok(source, all(`${where}/${c.name}: ${e.name} -> ${file} is not provided by a Secret`));
        const rendered = ofKind(objects, 'Secret').find((s) => s.metadata.name === source.secret.name);
        if (rendered) {
          const key = source.secret.items.find((i: K8s) => i.path === file).key;
          assert.ok(key in rendered.data, all(`${where}: Secret ${rendered.metadata.name} has no key ${key}`));
        }
      }
    }
  }

  // No secret value anywhere but in Secrets (env, ConfigMaps, annotations, args).
  const secretValues = decodedSecretValues(objects);
  for (const value of secretValues) assert.ok(value.length >= 8, all('generated secrets are at least 8 characters'));
  for (const o of objects.filter((x) => x.kind !== 'Secret')) {
    const text = JSON.stringify(o);
    for (const value of secretValues) assert.ok(!text.includes(value), all(`${o.kind}/${o.metadata.name} contains a secret value`));
  }
  for (const s of ofKind(objects, 'Secret')) {
    assert.equal(s.metadata.annotations?.['helm.sh/resource-policy'], 'keep', all(`Secret ${s.metadata.name} must survive uninstall (generated once)`));
  }

  // Server pods: probes on /healthz and /readyz against the named port, the config file.
  const deployments = serverDeployments(objects);
  assert.ok(deployments.length >= 1, all('at least one server Deployment'));
  const configMap = named(objects, 'ConfigMap', `${RELEASE}`);
  const config = parseYaml(configMap.data['config.yaml']) ?? {};
  const known = new Set(Object.keys(defaultConfig()));
  for (const key of Object.keys(config)) {
    assert.ok(known.has(key), all(`config.yaml key ${key} is not a server setting (server/config.ts): the server would refuse to start`));
    assert.ok(!CHART_MANAGED_KEYS.includes(key), all(`config.yaml must not set ${key}`));
  }
  for (const d of deployments) {
    const c = serverContainer(d);
    const where = `Deployment/${d.metadata.name}`;
    assert.ok(c, all(`${where}: container hanami`));
    const port = c.ports.find((p: K8s) => p.name === 'http');
    assert.equal(port?.containerPort, 8080, all(`${where}: port http 8080`));
    assert.equal(envValue(c, 'HANAMI_PORT'), String(port.containerPort), all(`${where}: HANAMI_PORT matches the container port`));
    assert.equal(envValue(c, 'HANAMI_HOST'), '0.0.0.0', all(`${where}: listens on all addresses`));
    assert.equal(envValue(c, 'HANAMI_CONFIG'), '/etc/hanami/config.yaml', all(`${where}: HANAMI_CONFIG`));
    // Metrics on a port of their own (the API's port does not serve them, issue 13).
    const metricsPort = c.ports.find((p: K8s) => p.name === 'metrics');
    assert.ok(metricsPort && metricsPort.containerPort !== port.containerPort, all(`${where}: a metrics port apart from http`));
    assert.equal(envValue(c, 'HANAMI_METRICS_PORT'), String(metricsPort.containerPort), all(`${where}: HANAMI_METRICS_PORT matches the metrics port`));
    assert.equal(envValue(c, 'HANAMI_METRICS_HOST'), '0.0.0.0', all(`${where}: the metrics listener is reachable from the scraper`));
    for (const [probe, path] of [
      ['startupProbe', '/healthz'],
      ['livenessProbe', '/healthz'],
      ['readinessProbe', '/readyz'],
    ] as const) {
      assert.equal(c[probe]?.httpGet?.path, path, all(`${where}: ${probe} on ${path}`));
      assert.equal(c[probe]?.httpGet?.port, 'http', all(`${where}: ${probe} on the http port`));
    }
    assert.ok(envValue(c, 'HANAMI_JWT_KEY_FILE') && envValue(c, 'HANAMI_ADMIN_PASSPHRASE_FILE'), all(`${where}: secrets as files`));
    const grace = Number(config.shutdownGraceSeconds ?? 10);
    assert.ok(podSpec(d).terminationGracePeriodSeconds > grace, all(`${where}: terminationGracePeriodSeconds leaves room for HANAMI_SHUTDOWN_GRACE`));
    assert.equal(c.volumeMounts.find((m: K8s) => m.mountPath === '/var/lib/hanami')?.name, 'data', all(`${where}: data volume`));
    assert.equal(envValue(c, 'HANAMI_DATA_DIR'), '/var/lib/hanami', all(`${where}: HANAMI_DATA_DIR`));

    // GPU facts: only the GPU workload asks for GPUs and carries the NVIDIA settings.
    const limits = c.resources?.limits ?? {};
    if (pool(d) === 'gpu') {
      assert.ok(Number(limits['nvidia.com/gpu']) >= 1, all(`${where}: requests nvidia.com/gpu`));
      assert.equal(envValue(c, 'HANAMI_BACKEND'), 'webgpu', all(`${where}: HANAMI_BACKEND=webgpu`));
      assert.match(envValue(c, 'NVIDIA_DRIVER_CAPABILITIES') ?? '', /(^|,)graphics(,|$)/, all(`${where}: NVIDIA_DRIVER_CAPABILITIES has graphics (Vulkan)`));
      assert.ok(
        podSpec(d).tolerations?.some((t: K8s) => t.key === 'nvidia.com/gpu'),
        all(`${where}: tolerates the GPU taint`),
      );
      assert.equal(podSpec(d).nodeSelector?.['nvidia.com/gpu.present'], 'true', all(`${where}: GPU node selector`));
    } else {
      assert.equal(pool(d), 'cpu', all(`${where}: pool label`));
      assert.ok(!JSON.stringify(podSpec(d)).includes('nvidia'), all(`${where}: a CPU workload has nothing NVIDIA`));
      assert.ok(['cpu', 'auto'].includes(envValue(c, 'HANAMI_BACKEND') ?? ''), all(`${where}: CPU backend`));
    }
  }
  for (const w of workloads(objects).filter((x) => pool(x) !== 'gpu')) {
    assert.ok(!JSON.stringify(w).includes('nvidia.com/gpu'), all(`${w.kind}/${w.metadata.name}: GPU resource outside the GPU workload`));
  }

  // The embedded store never behind more than one pod, never two at once.
  const embedded = deployments.filter((d) => podSpec(d).volumes.some((v: K8s) => v.name === 'data' && v.persistentVolumeClaim));
  if (embedded.length > 0) {
    assert.equal(deployments.length, 1, all('embedded store: one server Deployment'));
    assert.equal(deployments[0].spec.replicas, 1, all('embedded store: one replica'));
    assert.equal(deployments[0].spec.strategy.type, 'Recreate', all('embedded store: Recreate, never two pods on the store'));
    assert.equal(envValue(serverContainer(deployments[0]), 'HANAMI_MONGO_URL_FILE'), undefined, all('embedded store: no MongoDB'));
  }

  // Selectors that select: Services, PDBs, NetworkPolicies, the ServiceMonitor.
  for (const d of workloads(objects)) {
    assert.ok(matches(d.spec.selector.matchLabels, d.spec.template.metadata.labels), all(`${d.metadata.name}: selector matches its pods`));
  }
  for (const s of ofKind(objects, 'Service')) {
    const selected = podsSelectedBy(objects, s.spec.selector);
    assert.ok(selected.length >= 1, all(`Service ${s.metadata.name} selects no pods`));
    for (const p of s.spec.ports) {
      for (const w of selected) {
        assert.ok(
          podSpec(w).containers.some((c: K8s) => c.ports?.some((cp: K8s) => cp.name === p.targetPort)),
          all(`Service ${s.metadata.name}: targetPort ${p.targetPort} not on ${w.metadata.name}`),
        );
      }
    }
  }
  const main = named(objects, 'Service', RELEASE);
  assert.deepEqual(
    podsSelectedBy(objects, main.spec.selector)
      .map((w) => w.metadata.name)
      .sort(),
    deployments.map((d) => d.metadata.name).sort(),
    all('the main Service selects every server pool and nothing else'),
  );
  for (const pdb of ofKind(objects, 'PodDisruptionBudget')) {
    assert.equal(podsSelectedBy(objects, pdb.spec.selector.matchLabels).length, 1, all(`PDB ${pdb.metadata.name} covers exactly one pool`));
  }
  for (const np of ofKind(objects, 'NetworkPolicy')) {
    assert.ok(podsSelectedBy(objects, np.spec.podSelector.matchLabels).length >= 1, all(`NetworkPolicy ${np.metadata.name} selects no pods`));
  }
  const serverPolicy = ofKind(objects, 'NetworkPolicy').find((np) => np.metadata.name === RELEASE);
  if (serverPolicy) {
    const rules = serverPolicy.spec.ingress as K8s[];
    assert.ok(
      rules.some((r) => r.ports?.some((p: K8s) => p.port === 'metrics')),
      all('the NetworkPolicy admits the metrics port'),
    );
    assert.ok(!rules.some((r) => r.ports?.some((p: K8s) => p.port === 'metrics') && r.ports?.some((p: K8s) => p.port === 'http')), all('the metrics port has a rule of its own'));
  }
  for (const ing of ofKind(objects, 'Ingress')) {
    for (const rule of ing.spec.rules) {
      for (const p of rule.http.paths) {
        for (const internal of ['/metrics', '/healthz', '/readyz']) {
          const exposed = p.pathType === 'Exact' ? p.path === internal : internal === p.path || internal.startsWith(`${p.path.replace(/\/$/, '')}/`) || p.path === '/';
          assert.ok(!exposed, all(`Ingress path ${p.path} exposes ${internal}, which has no authentication`));
        }
        const svc = named(objects, 'Service', p.backend.service.name);
        assert.ok(
          svc.spec.ports.some((sp: K8s) => sp.name === p.backend.service.port.name),
          all(`Ingress backend port ${p.backend.service.port.name}`),
        );
        assert.equal(p.backend.service.port.name, 'http', all(`Ingress path ${p.path} routes to the metrics port`));
      }
    }
  }
  for (const sm of ofKind(objects, 'ServiceMonitor')) {
    assert.equal(sm.apiVersion, 'monitoring.coreos.com/v1', all('ServiceMonitor apiVersion'));
    const services = ofKind(objects, 'Service').filter((s) => matches(sm.spec.selector.matchLabels, s.metadata.labels));
    assert.deepEqual(
      services.map((s) => s.metadata.name),
      [RELEASE],
      all('the ServiceMonitor scrapes the main Service only (once per pod)'),
    );
    assert.deepEqual(sm.spec.namespaceSelector, { matchNames: [NAMESPACE] }, all('ServiceMonitor namespace'));
    assert.equal(sm.spec.endpoints.length, 1, all('one ServiceMonitor endpoint'));
    const [ep] = sm.spec.endpoints;
    assert.equal(ep.port, 'metrics', all('ServiceMonitor port: the metrics listener'));
    assert.ok(
      named(objects, 'Service', RELEASE).spec.ports.some((p: K8s) => p.name === 'metrics'),
      all('the main Service has the metrics port'),
    );
    assert.equal(ep.path, '/metrics', all('ServiceMonitor path'));
    assert.match(ep.interval, /^\d+[smh]$/, all('ServiceMonitor interval is a duration'));
    assert.match(ep.scrapeTimeout, /^\d+[smh]$/, all('ServiceMonitor scrapeTimeout is a duration'));
    assert.deepEqual(Object.keys(sm.spec).sort(), ['endpoints', 'namespaceSelector', 'selector'], all('ServiceMonitor spec fields'));
  }
}

// ---------------------------------------------------------------------------------------------

describe('Helm chart k8s/hanami', { skip }, () => {
  const rendered = new Map<SetName, K8s[]>();

  before(() => {
    work = mkdtempSync(join(tmpdir(), 'hanami-helm-'));
  });
  after(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test('helm lint --strict passes with the defaults and every CI value set', () => {
    const [helmPath] = requireTools(helm);
    for (const file of [undefined, ...Object.values(VALUE_SETS)]) {
      const args = ['lint', '--strict', CHART, '--namespace', NAMESPACE];
      if (file) args.push('-f', join(CHART, 'ci', file));
      const r = run(helmPath as string, args);
      assert.equal(r.status, 0, `helm lint ${file ?? '(defaults)'}:\n${r.output}`);
      assert.match(r.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
    }
  });

  for (const [name, file] of Object.entries(VALUE_SETS) as [SetName, string][]) {
    test(`${name}: renders, validates against the Kubernetes ${KUBE_VERSIONS.join(' and ')} schemas, keeps the common facts`, () => {
      const { text, objects } = render(file);
      validateSchemas(name, text, objects);
      checkCommon(name, objects);
      rendered.set(name, objects);
    });
  }

  test("the pool size agrees with the CPU limit: HANAMI_THREADS is what the service detects from the limit's cgroup quota", () => {
    // Kubernetes turns limits.cpu into a CFS quota of millicores × 100 µs per 100 ms period;
    // cpu-fallback/threads.ts reads it back as ⌊quota / period⌋ threads, at least 1.
    for (const limit of ['2', '3', '1500m', '500m', '2500m']) {
      const { objects } = render(undefined, [`cpu.resources.limits.cpu=${limit}`, `cpu.resources.requests.cpu=${limit}`]);
      const [d] = serverDeployments(objects);
      const c = serverContainer(d);
      assert.equal(String(c.resources.limits.cpu), limit);
      const millis = limit.endsWith('m') ? Number(limit.slice(0, -1)) : Number(limit) * 1000;
      const detected = threadsFor(64, [{ dir: '/sys/fs/cgroup', cpuMax: `${millis * 100} 100000` }]).threads;
      assert.equal(envValue(c, 'HANAMI_THREADS'), String(detected), `limits.cpu ${limit}`);
    }
  });

  test('defaults: one CPU pod on the embedded store, validated', () => {
    const { text, objects } = render(undefined);
    validateSchemas('defaults', text, objects);
    checkCommon('defaults', objects);
    assert.deepEqual(serverDeployments(objects).map(pool), ['cpu']);
  });

  const get = (name: SetName): K8s[] => {
    const objects = rendered.get(name) ?? render(VALUE_SETS[name]).objects;
    rendered.set(name, objects);
    return objects;
  };

  test('cpu-embedded: PVC kept on uninstall, Recreate, generated secrets, sticky Ingress with TLS', () => {
    const objects = get('cpu-embedded');
    const [d] = serverDeployments(objects);
    assert.equal(serverDeployments(objects).length, 1);
    assert.equal(pool(d), 'cpu');
    assert.equal(d.spec.strategy.type, 'Recreate');
    const claim = podSpec(d).volumes.find((v: K8s) => v.name === 'data').persistentVolumeClaim.claimName;
    const pvc = named(objects, 'PersistentVolumeClaim', claim);
    assert.equal(pvc.metadata.annotations['helm.sh/resource-policy'], 'keep');
    assert.equal(pvc.spec.resources.requests.storage, '10Gi');
    const c = serverContainer(d);
    assert.equal(envValue(c, 'HANAMI_BACKEND'), 'cpu');
    assert.equal(envValue(c, 'HANAMI_THREADS'), '2', 'threads follow the CPU limit');
    assert.equal(envValue(c, 'HANAMI_POLICY_FILE'), '/etc/hanami/policy.csv');
    assert.match(named(objects, 'ConfigMap', RELEASE).data['policy.csv'], /^p, admin/);
    const auth = named(objects, 'Secret', `${RELEASE}-auth`);
    assert.ok(Buffer.from(auth.data['jwt-key'], 'base64').toString().length >= 32, 'JWT key >= 32 characters');
    assert.ok(Buffer.from(auth.data['admin-passphrase'], 'base64').toString().length >= 8, 'passphrase >= 8 characters');
    const ingress = named(objects, 'Ingress', RELEASE);
    assert.equal(ingress.metadata.annotations['nginx.ingress.kubernetes.io/affinity'], 'cookie');
    assert.equal(ingress.spec.tls[0].secretName, 'hanami-tls');
    assert.equal(ingress.spec.ingressClassName, 'nginx');
    assert.equal(named(objects, 'Service', RELEASE).spec.sessionAffinity, 'ClientIP');
    assert.equal(ofKind(objects, 'ServiceMonitor')[0].metadata.labels.release, 'prometheus');
    assert.equal(named(objects, 'ServiceAccount', RELEASE).automountServiceAccountToken, false);
  });

  test('gpu-external-mongodb: GPU pods only, runtime class, MongoDB URL and auth from existing Secrets', () => {
    const objects = get('gpu-external-mongodb');
    const deployments = serverDeployments(objects);
    assert.deepEqual(deployments.map(pool), ['gpu']);
    const [d] = deployments;
    assert.equal(d.spec.replicas, 2);
    assert.equal(d.spec.strategy.type, 'Recreate', 'the default: never two generations of servers on one store');
    assert.equal(podSpec(d).runtimeClassName, 'nvidia');
    const c = serverContainer(d);
    assert.equal(c.resources.limits['nvidia.com/gpu'], 1);
    assert.match(c.image, /@sha256:[0-9a-f]{64}$/, 'a digest pins the image');
    assert.equal(envValue(c, 'HANAMI_MONGO_URL_FILE'), '/run/secrets/hanami/mongodb-url');
    assert.equal(envValue(c, 'HANAMI_MONGO_DB'), 'hanami');
    assert.equal(ofKind(objects, 'Secret').length, 0, 'all secrets exist already: the chart renders none');
    assert.equal(ofKind(objects, 'PersistentVolumeClaim').length, 0);
    const sources = podSpec(d).volumes.find((v: K8s) => v.name === 'secrets').projected.sources;
    assert.deepEqual(
      sources.map((s: K8s) => [s.secret.name, s.secret.items.map((i: K8s) => `${i.key}->${i.path}`)]),
      [
        ['hanami-prod-auth', ['jwt-key->jwt-key', 'admin-passphrase->admin-passphrase']],
        ['hanami-mongodb-url', ['url->mongodb-url']],
      ],
    );
    assert.ok(podSpec(d).volumes.find((v: K8s) => v.name === 'data').emptyDir, 'with MongoDB the data folder is scratch');
  });

  test('bundled-mongodb: authenticated single-node MongoDB, URL Secret consistent, only the server may connect', () => {
    const objects = get('bundled-mongodb');
    const mongo = named(objects, 'StatefulSet', `${RELEASE}-mongodb`);
    const mc = podSpec(mongo).containers[0];
    assert.match(mc.image, /^docker\.io\/library\/mongo:\d+\.\d+\.\d+$/, 'pinned MongoDB image');
    assert.equal(envValue(mc, 'MONGO_INITDB_ROOT_PASSWORD_FILE'), '/run/secrets/mongodb/mongodb-root-password');
    assert.equal(env(mc).get('MONGO_INITDB_ROOT_PASSWORD'), undefined);
    assert.equal(mongo.spec.volumeClaimTemplates[0].spec.resources.requests.storage, '5Gi');
    assert.equal(mongo.spec.serviceName, `${RELEASE}-mongodb`);
    assert.equal(named(objects, 'Service', `${RELEASE}-mongodb`).spec.clusterIP, 'None');
    assert.ok(mc.readinessProbe && mc.livenessProbe, 'MongoDB probes');
    const init = named(objects, 'ConfigMap', `${RELEASE}-mongodb-init`).data['10-create-app-user.sh'];
    assert.match(init, /createUser/);
    assert.match(init, /readWrite/);
    const secret = named(objects, 'Secret', `${RELEASE}-mongodb`);
    const decoded = (k: string): string => Buffer.from(secret.data[k], 'base64').toString('utf8');
    const url = new URL(decoded('mongodb-url'));
    assert.equal(url.protocol, 'mongodb:');
    assert.equal(url.hostname, `${RELEASE}-mongodb`);
    assert.equal(url.username, 'hanami');
    assert.equal(url.password, decoded('mongodb-password'));
    assert.notEqual(decoded('mongodb-password'), decoded('mongodb-root-password'));
    assert.equal(url.pathname, '/hanami');
    assert.equal(url.searchParams.get('authSource'), 'hanami');
    const [d] = serverDeployments(objects);
    assert.equal(d.spec.replicas, 3);
    assert.deepEqual(d.spec.strategy, { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } });
    assert.equal(envValue(serverContainer(d), 'HANAMI_THREADS'), '2');
    assert.equal(envValue(serverContainer(d), 'HANAMI_MONGO_URL_FILE'), '/run/secrets/hanami/mongodb-url');
    const mongoPolicy = named(objects, 'NetworkPolicy', `${RELEASE}-mongodb`);
    assert.deepEqual(
      podsSelectedBy(objects, mongoPolicy.spec.podSelector.matchLabels).map((w) => w.kind),
      ['StatefulSet'],
    );
    const from = mongoPolicy.spec.ingress[0].from[0].podSelector.matchLabels;
    assert.deepEqual(
      podsSelectedBy(objects, from).map((w) => w.metadata.name),
      [d.metadata.name],
      'only the server pods reach MongoDB',
    );
    const serverPolicy = named(objects, 'NetworkPolicy', RELEASE);
    assert.ok(serverPolicy.spec.policyTypes.includes('Egress'), 'egress restricted');
    const egressPorts = serverPolicy.spec.egress.flatMap((r: K8s) => r.ports.map((p: K8s) => `${p.protocol}/${p.port}`));
    assert.deepEqual(egressPorts.sort(), ['TCP/27017', 'TCP/53', 'UDP/53']);
  });

  test('both-pools: two workloads, GPU only on the GPU one, direct I/O owned by the GPU pod', () => {
    const objects = get('both-pools');
    const deployments = serverDeployments(objects);
    assert.deepEqual(deployments.map(pool).sort(), ['cpu', 'gpu']);
    const byPool = Object.fromEntries(deployments.map((d) => [pool(d), d]));
    assert.equal(serverContainer(byPool.gpu).resources.limits['nvidia.com/gpu'], 2);
    assert.equal(serverContainer(byPool.cpu).resources.limits['nvidia.com/gpu'], undefined);
    assert.equal(podSpec(byPool.cpu).nodeSelector['node-pool'], 'cpu');
    assert.equal(ofKind(objects, 'PodDisruptionBudget').length, 2, 'one PDB per pool');
    const io = named(objects, 'Service', `${RELEASE}-io`);
    assert.deepEqual(
      podsSelectedBy(objects, io.spec.selector).map((w) => w.metadata.name),
      [byPool.gpu.metadata.name],
    );
    assert.equal(io.spec.sessionAffinity, 'ClientIP');
    const paths = named(objects, 'Ingress', RELEASE).spec.rules[0].http.paths;
    assert.deepEqual(
      paths.map((p: K8s) => `${p.path} ${p.pathType} -> ${p.backend.service.name}`),
      ['/v1 Prefix -> hanami', '/docs Prefix -> hanami', '/openapi.json Exact -> hanami', '/socket.io Prefix -> hanami-io'],
    );
    const np = named(objects, 'NetworkPolicy', RELEASE);
    assert.equal(np.spec.ingress[0].from.length, 2, 'ingress limited to the given namespaces');
    assert.ok(!np.spec.policyTypes.includes('Egress'));
  });

  test('contradictory or unsafe values stop the render with a message', () => {
    const cases: [string[], RegExp][] = [
      [['cpu.replicas=2'], /embedded store .* serves exactly one replica.*cpu\.replicas=2/],
      [['gpu.enabled=true'], /embedded store .* CPU and a GPU pool side by side need store\.type=mongodb/],
      [['cpu.enabled=false'], /nothing to run/],
      [['metrics.port=8080'], /metrics\.port=8080 is the API's port/],
      [['updateStrategy=RollingUpdate'], /RollingUpdate would run two servers on the embedded store/],
      [['store.type=mongodb'], /mongodb\.external\.existingSecret/],
      [['store.type=mongodb', 'mongodb.external.existingSecret=m', 'cpu.replicas=2', 'socketIO.stickySessions=false'], /would break Socket\.IO sessions/],
      [['store.type=mongodb', 'mongodb.external.existingSecret=m', 'socketIO.ownerPool=gpu'], /ownerPool=gpu names a pool that is not enabled/],
      // Secrets have no plain values: the schema refuses them.
      [['config.jwtKey=0123456789abcdef0123456789abcdef'], /additional properties 'jwtKey' not allowed/],
      [['config.adminPassphrase=correct-horse'], /additional properties 'adminPassphrase' not allowed/],
      [['mongodb.external.url=mongodb://u:p@h/db'], /additional properties 'url' not allowed/],
      [['auth.adminPassphrase=correct-horse'], /additional properties 'adminPassphrase' not allowed/],
      [['cpu.extraEnv[0].name=HANAMI_ADMIN_PASSPHRASE', 'cpu.extraEnv[0].value=x'], /extraEnv/],
      // Non-root and read-only are not optional; Vulkan needs `graphics`.
      [['podSecurityContext.runAsNonRoot=false'], /runAsNonRoot/],
      [['securityContext.readOnlyRootFilesystem=false'], /readOnlyRootFilesystem/],
      [['securityContext.privileged=true'], /privileged/],
      [['gpu.enabled=true', 'cpu.enabled=false', 'gpu.count=0'], /count/],
      [['gpu.driverCapabilities=compute\\,utility'], /driverCapabilities/],
      [['image.digest=sha256:nothex'], /digest/],
      [['unknownKey=1'], /additional properties 'unknownKey' not allowed/],
    ];
    for (const [sets, message] of cases) {
      const stderr = renderFails(sets);
      assert.match(stderr, message, `--set ${sets.join(' --set ')}: unexpected message:\n${stderr}`);
    }
  });

  test('every setting the schema lets into config.yaml is one the server knows', () => {
    const schema = JSON.parse(readFileSync(join(CHART, 'values.schema.json'), 'utf8'));
    const config = schema.properties.config;
    const defaults = defaultConfig() as unknown as Record<string, unknown>;
    assert.equal(config.additionalProperties, false);
    for (const key of Object.keys(config.properties)) {
      assert.ok(key in defaults, `values.schema.json allows config.${key}, which server/config.ts does not know: the server would refuse to start`);
      assert.ok(!CHART_MANAGED_KEYS.includes(key), `config.${key} is set by the chart itself`);
    }
    assert.equal(config.properties.io.additionalProperties, false);
    for (const key of Object.keys(config.properties.io.properties)) assert.ok(key in (defaults.io as object), `config.io.${key} is unknown to the server`);
  });

  test('every top-level value is documented in docs/operations.md', () => {
    const values = parseYaml(readFileSync(join(CHART, 'values.yaml'), 'utf8')) as Record<string, unknown>;
    const docs = readFileSync(join(ROOT, 'docs', 'operations.md'), 'utf8');
    for (const key of Object.keys(values)) assert.ok(docs.includes(`\`${key}`), `values.yaml key ${key} is not described in docs/operations.md`);
  });
});
