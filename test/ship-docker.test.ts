/**
 * The Dockerfile and compose.yaml cannot be built here (no Docker engine), so this reads them and checks them
 * against the code: pinned base images, the two targets and their entry points (the CLI's own commands), the CUDA
 * provider install in the worker and no onnxruntime in the bot, non-root users, healthchecks on the ops port,
 * every environment variable a real setting with a valid value, the ports, Redis with AOF + noeviction, the GPU
 * reservation and the model volume. The healthcheck command itself is run against a live ops endpoint, and the
 * bot's module graph is loaded with onnxruntime blocked (the bot image has none).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ALL_SETTINGS } from '../src/app/config.ts';
import { BUNDLED_PACKS, DEFAULT_BUNDLED_PACK } from '../src/engine/pack/bundled.ts';
import { defaultText, readSetting } from '../src/settings/index.ts';
import { healthReport, startOpsServer } from '../src/ops/server.ts';
import { VARIANT_FACTS } from '../src/cli/gpu/cudaProviders.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const read = (file: string) => readFileSync(join(ROOT, file), 'utf8');

// ---- the Dockerfile --------------------------------------------------------------------------------------------

interface Instruction {
  op: string;
  args: string;
}
interface Stage {
  name: string;
  from: string;
  steps: Instruction[];
}

function parseDockerfile(text: string): { args: Record<string, string>; stages: Stage[] } {
  const joined = text.replace(/\\\n/g, ' ');
  const args: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const raw of joined.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const [, op, rest] = /^(\w+)\s+(.*)$/.exec(line) ?? [];
    if (!op || rest === undefined) continue;
    const OP = op.toUpperCase();
    if (OP === 'ARG' && stages.length === 0) {
      const [key, value] = rest.split('=');
      args[key!] = value ?? '';
      continue;
    }
    if (OP === 'FROM') {
      const [, image, name] = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest) ?? [];
      const from = image!.replace(/^\$\{(\w+)\}$/, (_, key: string) => args[key] ?? '');
      stages.push({ name: name ?? `stage${stages.length}`, from, steps: [] });
      continue;
    }
    stages.at(-1)!.steps.push({ op: OP, args: rest.replace(/\s+/g, ' ') });
  }
  return { args, stages };
}

const dockerfile = parseDockerfile(read('Dockerfile'));
const stage = (name: string) => {
  const found = dockerfile.stages.find((s) => s.name === name);
  assert.ok(found, `Dockerfile stage ${name}`);
  return found;
};
/** A stage and the stages it is built FROM, nearest first. */
const lineage = (name: string): Stage[] => {
  const out: Stage[] = [];
  for (let s: Stage | undefined = stage(name); s; s = dockerfile.stages.find((x) => x.name === s!.from)) out.push(s);
  return out;
};
const env = (s: Stage): Record<string, string> =>
  Object.fromEntries(
    s.steps
      .filter((step) => step.op === 'ENV')
      .flatMap((step) => [...step.args.matchAll(/([A-Z_][A-Z0-9_]*)=(\S+)/g)].map((m) => [m[1]!, m[2]!] as const)),
  );
const cmd = (s: Stage): string[] => JSON.parse(s.steps.filter((step) => step.op === 'CMD').at(-1)!.args) as string[];

// ---- compose.yaml: the YAML subset it is written in (maps, lists, flow lists, quoted scalars, comments) ----------

function parseYaml(text: string): unknown {
  const lines = text
    .split('\n')
    .map((line) => line.replace(/(^|\s)#.*$/, ''))
    .filter((line) => line.trim() !== '')
    .map((line) => ({ indent: line.length - line.trimStart().length, text: line.trim() }));
  let i = 0;
  const scalar = (value: string): unknown => {
    const v = value.trim();
    if (/^".*"$|^'.*'$/.test(v)) return v.slice(1, -1);
    if (v.startsWith('[')) return [...v.slice(1, -1).matchAll(/"([^"]*)"|'([^']*)'|([^,\s][^,]*)/g)].map((m) => m[1] ?? m[2] ?? m[3]!.trim());
    return v;
  };
  const block = (indent: number): unknown => (lines[i]!.text.startsWith('- ') ? list(indent) : map(indent));
  const map = (indent: number): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    while (i < lines.length && lines[i]!.indent === indent && !lines[i]!.text.startsWith('- ')) {
      const [, key, rest] = /^([^:]+):(?:\s+(.*))?$/.exec(lines[i]!.text) ?? [];
      assert.ok(key, `YAML line ${lines[i]!.text}`);
      i++;
      if (rest === undefined || rest === '') out[key] = i < lines.length && lines[i]!.indent > indent ? block(lines[i]!.indent) : null;
      else out[key] = scalar(rest);
    }
    return out;
  };
  const list = (indent: number): unknown[] => {
    const out: unknown[] = [];
    while (i < lines.length && lines[i]!.indent === indent && lines[i]!.text.startsWith('- ')) {
      const item = lines[i]!.text.slice(2);
      if (/^[A-Za-z_][\w.-]*:(\s|$)/.test(item)) {
        lines[i] = { indent: indent + 2, text: item };
        out.push(map(indent + 2));
      } else {
        out.push(scalar(item));
        i++;
      }
    }
    return out;
  };
  return map(0);
}

type Service = {
  image?: string;
  command?: string[];
  build?: { context: string; target: string };
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  deploy?: { resources: { reservations: { devices: { driver: string; count: string; capabilities: string[] }[] } } };
  stop_grace_period?: string;
};
const compose = parseYaml(read('compose.yaml')) as { services: Record<string, Service>; volumes: Record<string, unknown> };

/** "nvidia/cuda:13.0.2-cudnn-runtime-ubuntu24.04" -> 13 */
const cudaMajorOf = (image: string) => Number(/^nvidia\/cuda:(\d+)\./.exec(image)?.[1]);

/** Checks a setting's value the way the code would read it. */
function assertValidSetting(name: string, value: string, where: string): void {
  assert.ok(name in ALL_SETTINGS, `${where}: ${name} is not a setting the code reads`);
  if (/^\$\{/.test(value)) return; // interpolated by compose from the host
  assert.doesNotThrow(() => readSetting(ALL_SETTINGS, { [name]: value }, name), `${where}: ${name}=${value}`);
}

describe('Dockerfile', () => {
  it('pins its base images: Node 20 bookworm-slim, CUDA 12 + cuDNN 9 runtime with the CUDA 12 provider by default', () => {
    assert.match(dockerfile.args['NODE_IMAGE']!, /^node:20\.\d+\.\d+-bookworm-slim$/);
    assert.match(dockerfile.args['CUDA_IMAGE']!, /^nvidia\/cuda:12\.\d+\.\d+-cudnn-runtime-ubuntu\d\d\.\d\d$/);
    assert.equal(dockerfile.args['CUDA_PROVIDER'], 'cuda12', 'CUDA 12 hosts keep working with a plain build');
    assert.equal(cudaMajorOf(dockerfile.args['CUDA_IMAGE']!), VARIANT_FACTS.cuda12.cudaMajor);
    assert.equal(stage('bot').from, dockerfile.args['NODE_IMAGE']);
    assert.equal(stage('worker').from, dockerfile.args['CUDA_IMAGE']);
    // The worker's Node comes from the same pinned image as the bot's.
    const copyNode = stage('worker').steps.find((s) => s.op === 'COPY' && s.args.includes('/usr/local/bin/node'));
    assert.ok(copyNode);
    const from = /--from=(\S+)/.exec(copyNode.args)![1]!;
    assert.equal(stage(from).from, dockerfile.args['NODE_IMAGE']);
  });

  it('installs production dependencies the same way on every npm, and the CUDA provider for the worker only, with latentwalk gpu install', () => {
    const ci = stage('deps').steps.find((s) => s.op === 'RUN' && s.args.includes('npm ci'));
    assert.ok(ci && ci.args.includes('--omit=dev') && ci.args.includes('--ignore-scripts'));
    const deps = stage('worker-deps');
    assert.equal(deps.from, 'deps');
    assert.ok(deps.steps.some((s) => s.op === 'ARG' && s.args === 'CUDA_PROVIDER'), 'the stage sees the build argument');
    for (const dir of ['bin', 'src']) assert.ok(deps.steps.some((s) => s.op === 'COPY' && s.args === `${dir} ./${dir}`), `the CLI is there to run (${dir})`);
    const install = deps.steps.find((s) => s.op === 'RUN' && s.args.includes('gpu install'));
    assert.ok(install, 'the worker image installs the provider with the CLI');
    assert.match(install.args, /^node bin\/latentwalk\.js gpu install \$\{CUDA_PROVIDER\} /);
    for (const lib of ['libonnxruntime_providers_cuda.so', 'libonnxruntime_providers_shared.so']) {
      assert.match(install.args, new RegExp(`test -s node_modules/onnxruntime-node/bin/napi-v6/linux/x64/${lib.replace(/\./g, '\\.')}`));
    }
    // cuda12 is onnxruntime-node's own script with the variable that wins over .npmrc's skip
    assert.ok(existsSync(join(ROOT, 'node_modules/onnxruntime-node/script/install.js')), 'the script the cuda12 install runs');
    assert.match(read('node_modules/onnxruntime-node/script/install-utils.js'), /process\.env\.ONNXRUNTIME_NODE_INSTALL \|\|/, 'the variable wins over .npmrc');
    assert.match(read('src/cli/gpu/install.ts'), /ONNXRUNTIME_NODE_INSTALL: 'cuda12'/);
    assert.match(read('src/cli/gpu/install.ts'), /join\(ort\.dir, 'script', 'install\.js'\)/);
    const workerModules = stage('worker').steps.find((s) => s.op === 'COPY' && s.args.includes('/app/node_modules'));
    assert.match(workerModules!.args, /--from=worker-deps/);
    const bot = lineage('bot').flatMap((s) => s.steps).map((s) => s.args).join('\n');
    assert.doesNotMatch(bot, /cuda|nvidia|ONNXRUNTIME_NODE_INSTALL/i, 'no GPU libraries in the bot image');
    assert.ok(stage('bot').steps.some((s) => s.op === 'RUN' && s.args.includes('rm -rf node_modules/onnxruntime-node')));
  });

  it('the worker image refuses to build when it lacks a library its provider needs (a real `gpu check` command)', () => {
    const worker = stage('worker');
    const at = (pred: (s: Instruction) => boolean) => worker.steps.findIndex(pred);
    const check = at((s) => s.op === 'RUN' && s.args.includes('gpu check'));
    assert.ok(check >= 0);
    assert.equal(worker.steps[check]!.args, 'node bin/latentwalk.js gpu check --static --require cuda');
    assert.ok(check > at((s) => s.op === 'COPY' && s.args.includes('/app/node_modules')) && check > at((s) => s.op === 'COPY' && /\bsrc \.\/src$/.test(s.args)), 'after the code and the provider are in');
    assert.ok(check < at((s) => s.op === 'USER'), 'as root, before the image switches user');
    // The same command here: it runs, and fails (this machine has no CUDA provider) with one readable line.
    const r = spawnSync(process.execPath, [join(ROOT, 'bin/latentwalk.js'), ...worker.steps[check]!.args.split(' ').slice(2)], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr.trim(), /^latentwalk: cuda cannot load here: /);
  });

  it('makes room for its user on Ubuntu 24.04 images (the CUDA 13 ones ship a user with uid 1000)', () => {
    const user = stage('worker').steps.find((s) => s.op === 'RUN' && s.args.includes('useradd'))!.args;
    assert.match(user, /^if id -u ubuntu >\/dev\/null 2>&1; then userdel --remove ubuntu; fi && groupadd --gid 1000 latentwalk && useradd --uid 1000 /);
  });

  it('runs the CLI’s bot and worker commands as a non-root user, with healthchecks on the ops port', () => {
    const main = read('src/cli/main.ts');
    for (const name of ['bot', 'worker'] as const) {
      const s = stage(name);
      assert.deepEqual(cmd(s), ['node', 'bin/latentwalk.js', name]);
      assert.match(main, new RegExp(`\\b${name}: async \\(\\) =>`), `main.ts has a ${name} command`);
      const user = s.steps.filter((step) => step.op === 'USER').at(-1)?.args;
      assert.ok(user && !/^(root|0)(:|$)/.test(user), `${name}: USER ${user}`);
      const variables = env(s);
      for (const [key, value] of Object.entries(variables)) if (key !== 'NODE_ENV') assertValidSetting(key, value, `Dockerfile ${name}`);
      const port = variables['LATENTWALK_METRICS_PORT'];
      assert.ok(port, `${name} enables the ops endpoint`);
      assert.equal(variables['LATENTWALK_METRICS_HOST'], '0.0.0.0');
      assert.ok(s.steps.some((step) => step.op === 'EXPOSE' && step.args === port), `${name} exposes ${port}`);
      const health = s.steps.find((step) => step.op === 'HEALTHCHECK');
      assert.ok(health && health.args.includes('/healthz') && health.args.includes('process.env.LATENTWALK_METRICS_PORT'));
      for (const copy of s.steps.filter((step) => step.op === 'COPY' && !step.args.includes('--from'))) {
        const source = copy.args.replace(/--\S+\s+/g, '').split(' ')[0]!;
        assert.ok(existsSync(join(ROOT, source)), `${name}: COPY ${source}`);
      }
    }
    assert.equal(env(stage('worker'))['LATENTWALK_PROVIDER'], 'cuda');
    assert.ok(stage('worker').steps.some((s) => s.op === 'VOLUME' && s.args.includes('/models')), 'the model directory is a volume');
    // The bundled models: the whole folder, which .dockerignore narrows to the bundled packs (next test).
    assert.ok(stage('worker').steps.some((s) => s.op === 'COPY' && s.args === '--chown=latentwalk:latentwalk models ./models'), 'the bundled models');
    assert.ok(existsSync(join(ROOT, 'models', DEFAULT_BUNDLED_PACK, 'latentwalk.json')), `the default bundled pack (${DEFAULT_BUNDLED_PACK}) is in the checkout`);
  });

  it('sends only what the images copy, and never .env', () => {
    const ignore = read('.dockerignore');
    assert.match(ignore, /^\*\*$/m);
    for (const path of ['package.json', 'package-lock.json', '.npmrc', 'bin/', 'config/', 'src/']) assert.match(ignore, new RegExp(`^!${path.replace('.', '\\.')}$`, 'm'));
    // Every bundled pack (shapes, emoji) and nothing else from models/: the test packs stay out of the images.
    const models = ignore.split('\n').filter((line) => line.startsWith('!models'));
    assert.deepEqual(models.sort(), BUNDLED_PACKS.map((name) => `!models/${name}/`).sort());
    assert.match(ignore, /^\*\*\/\.env$/m);
  });

  it('healthcheck command: exit 0 on a healthy endpoint, 1 on an unhealthy or absent one', async () => {
    const health = stage('worker').steps.find((s) => s.op === 'HEALTHCHECK')!.args;
    const script = /CMD node -e "(.*)"$/.exec(health)![1]!;
    let ok = true;
    const server = await startOpsServer({ port: 0, host: '127.0.0.1', health: () => healthReport({ model: ok || 'loading' }) });
    const run = async (port: number) =>
      new Promise<number | null>((resolve) => {
        // Not spawnSync: the endpoint under test lives in this process.
        const child = spawn(process.execPath, ['-e', script], { env: { LATENTWALK_METRICS_PORT: String(port) }, stdio: 'ignore', timeout: 10_000 });
        child.once('exit', (code) => resolve(code));
      });
    try {
      assert.equal(await run(server.port), 0);
      ok = false;
      assert.equal(await run(server.port), 1);
    } finally {
      await server.close();
    }
    assert.equal(await run(server.port), 1);
  });

  it('the bot’s module graph loads without onnxruntime (the bot image has none)', () => {
    const block = `import { register } from "node:module"; register("data:text/javascript," + encodeURIComponent("export async function resolve(s, c, n) { if (/^onnxruntime-node(\\\\/|$)/.test(s)) throw new Error(\\"blocked \\" + s); return n(s, c); }"));`;
    const run = (args: string[]) => spawnSync(process.execPath, ['--import', `data:text/javascript,${block}`, join(ROOT, 'bin/latentwalk.js'), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    const bot = run(['bot', '--help']);
    assert.equal(bot.status, 0, bot.stderr);
    // The block works: the renderer does need onnxruntime.
    const render = run(['render', '--help']);
    assert.notEqual(render.status, 0);
    assert.match(render.stderr, /blocked onnxruntime-node/);
  });
});

describe('compose.yaml', () => {
  const { services } = compose;
  const dockerPort = env(stage('bot'))['LATENTWALK_METRICS_PORT']!;

  it('runs Redis pinned, with AOF, noeviction, a volume and a healthcheck', () => {
    const redis = services['redis']!;
    assert.match(redis.image!, /^redis:\d+\.\d+\.\d+(-alpine)?$/);
    const command = redis.command!.join(' ');
    assert.match(command, /--appendonly yes/);
    assert.match(command, /--maxmemory-policy noeviction/);
    assert.ok(redis.volumes!.includes('redis-data:/data'));
    assert.ok('redis-data' in compose.volumes);
    assert.deepEqual(redis.healthcheck!.test, ['CMD', 'redis-cli', 'ping']);
  });

  it('builds the bot and the worker from the Dockerfile’s targets with the same commands, settings and ports', () => {
    for (const name of ['bot', 'worker'] as const) {
      const service = services[name]!;
      assert.deepEqual(service.build, { context: '.', target: name });
      assert.deepEqual(service.command, cmd(stage(name)), `${name}: the image's entry point`);
      for (const [key, value] of Object.entries(service.environment!)) assertValidSetting(key, value, `compose ${name}`);
      assert.equal(service.environment!['REDIS_URL'], 'redis://redis:6379');
      assert.equal(service.environment!['LATENTWALK_METRICS_PORT'], dockerPort);
      assert.ok(service.ports!.some((p) => p.endsWith(`:${dockerPort}`)), `${name} publishes the ops port`);
      assert.deepEqual(service.depends_on, { redis: { condition: 'service_healthy' } });
    }
    assert.match(services['bot']!.environment!['DISCORD_TOKEN']!, /^\$\{DISCORD_TOKEN:\?.+\}$/, 'required, from the host');
    assert.ok(!Object.keys(services['worker']!.environment!).some((key) => key.startsWith('DISCORD_')), 'the worker gets no Discord secret');
  });

  it('reserves a GPU for the worker and mounts the model where LATENTWALK_MODEL_DIR points', () => {
    const worker = services['worker']!;
    const device = worker.deploy!.resources.reservations.devices[0]!;
    assert.equal(device.driver, 'nvidia');
    assert.ok(device.capabilities.includes('gpu'));
    assert.equal(worker.environment!['LATENTWALK_PROVIDER'], 'cuda');
    const modelDir = worker.environment!['LATENTWALK_MODEL_DIR']!;
    assert.ok(worker.volumes!.some((v) => v.split(':')[1] === modelDir), `a volume at ${modelDir}`);
    assert.ok(modelDir.startsWith('/models'), 'inside the image’s model volume');
    const grace = Number(/^(\d+)s$/.exec(worker.stop_grace_period!)![1]) * 1000;
    assert.ok(grace > Number(defaultText('LATENTWALK_SHUTDOWN_GRACE_MS')), 'a running job gets its grace period');
  });

  it('CUDA 13 hosts: compose.cuda13.yaml switches only the worker’s image to the CUDA 13 provider on a CUDA 13 + cuDNN 9 base', () => {
    const override = parseYaml(read('compose.cuda13.yaml')) as { services: Record<string, { build?: { args?: Record<string, string> } } & Record<string, unknown>> };
    assert.deepEqual(Object.keys(override), ['services']);
    assert.deepEqual(Object.keys(override.services), ['worker'], 'nothing but the worker changes');
    const worker = override.services['worker']!;
    assert.deepEqual(Object.keys(worker), ['build']);
    const args = worker.build!.args!;
    assert.deepEqual(Object.keys(args).sort(), ['CUDA_IMAGE', 'CUDA_PROVIDER']);
    assert.ok(Object.keys(args).every((a) => a in dockerfile.args), 'both are build arguments of the Dockerfile');
    assert.equal(args['CUDA_PROVIDER'], 'cuda13');
    assert.match(args['CUDA_IMAGE']!, /^nvidia\/cuda:13\.\d+\.\d+-cudnn-runtime-ubuntu\d\d\.\d\d$/);
    assert.equal(cudaMajorOf(args['CUDA_IMAGE']!), VARIANT_FACTS.cuda13.cudaMajor, 'the image has the CUDA major the provider links');
    // the documented commands
    assert.match(read('compose.cuda13.yaml'), /docker compose -f compose\.yaml -f compose\.cuda13\.yaml up -d --build/);
    assert.match(read('README.md'), /compose\.cuda13\.yaml/);
    assert.match(read('Dockerfile'), /--build-arg CUDA_PROVIDER=cuda13/);
  });
});
