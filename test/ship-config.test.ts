/**
 * Configuration: defaults live in one file (config/defaults.json) that every setting and only the settings
 * have; the job layer and the bot read their defaults from it; the environment overrides it; the README's one
 * table is exactly what the schema generates; and every environment variable the code reads is in it.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ALL_SETTINGS, configTableMarkdown, TABLE_BEGIN, TABLE_END, unknownVariables, validateStackConfig } from '../src/app/config.ts';
import { loadBotConfig } from '../src/bot/config.ts';
import { runConfigCommand } from '../src/cli/start.ts';
import { DEFAULT_JOBS_CONFIG, loadJobsConfig } from '../src/jobs/config.ts';
import { loadOpsConfig } from '../src/ops/config.ts';
import { CONFIG_DEFAULTS, settingDefault } from '../src/settings/index.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MiB = 1024 * 1024;

/** The README's table: README.md once docs/README-ship.md is merged into it, the sections file until then. */
function readmeTable(): { file: string; table: string } {
  for (const file of ['README.md', 'docs/README-ship.md']) {
    const text = readFileSync(join(ROOT, file), 'utf8');
    const begin = text.indexOf(TABLE_BEGIN);
    if (begin < 0) continue;
    const end = text.indexOf(TABLE_END, begin);
    assert.ok(end > begin, `${file}: the table's end marker`);
    assert.equal(text.indexOf(TABLE_BEGIN, begin + 1), -1, `${file}: one configuration table`);
    return { file, table: text.slice(begin, end + TABLE_END.length) };
  }
  throw new Error('no configuration table in README.md or docs/README-ship.md');
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return /\.(ts|js|mjs)$/.test(name) ? [path] : [];
  });
}

describe('config/defaults.json', () => {
  it('has a default for every setting and nothing else, each valid for its setting', () => {
    assert.deepEqual(Object.keys(CONFIG_DEFAULTS).sort(), Object.keys(ALL_SETTINGS).sort());
    for (const key of Object.keys(ALL_SETTINGS)) {
      assert.doesNotThrow(() => settingDefault(ALL_SETTINGS, key), key);
    }
  });

  it('is where the job layer, the bot and the ops settings take their defaults from', () => {
    assert.deepEqual(DEFAULT_JOBS_CONFIG, {
      redisUrl: 'redis://127.0.0.1:6379',
      redisTopology: { kind: 'single' },
      replicaWaitMs: 500,
      prefix: 'latentwalk',
      queueName: 'render',
      limits: { maxFrames: 60, maxSteps: 50, maxSide: 1024, maxGridSize: 6, maxPromptChars: 500, maxArtifactBytes: 100 * MiB },
      caps: { perGuild: 25, perUser: 3, total: 500 },
      fairness: { usageHalfLifeMs: 60_000, usageAllowance: 3, maxUsageRounds: 4 },
      worker: {
        concurrency: 1,
        lockMs: 30_000,
        stalledIntervalMs: 30_000,
        maxStalled: 2,
        attempts: 3,
        retryDelayMs: 5_000,
        shutdownGraceMs: 30_000,
        modelDir: undefined,
        provider: undefined,
        threads: undefined,
      },
      artifactTtlMs: 6 * 3600_000,
      artifactStoreBytes: 1024 * MiB,
      checkpointTtlMs: 24 * 3600_000,
      finishedTtlMs: 7 * 24 * 3600_000,
      resultsMaxLen: 100_000,
      preview: { intervalMs: 5000, maxBytes: 64 * 1024 },
    });
    const bot = loadBotConfig({ DISCORD_TOKEN: 'a-token-long-enough-1234567890' });
    assert.deepEqual(
      [bot.apiUrl, bot.boardTtlMs, bot.progressIntervalMs, bot.boardSweepMs, bot.tokenMarginMs, bot.instance, bot.logLevel],
      ['https://discord.com/api', 1800_000, 3000, 10_000, 60_000, 'bot-1', 'info'],
    );
    assert.deepEqual(loadOpsConfig({}), { logLevel: 'info', metricsPort: undefined, metricsHost: '127.0.0.1' });
    // No other copy of these numbers in the config modules.
    for (const file of ['src/jobs/config.ts', 'src/bot/config.ts']) {
      const text = readFileSync(join(ROOT, file), 'utf8');
      assert.doesNotMatch(text, /\?\? (30 \* 60_000|3000|10_000|60_000|'bot-1'|'info')\b/, file);
    }
  });

  it('is overridden by the environment, and the environment is validated', () => {
    const config = loadJobsConfig({ LATENTWALK_MAX_FRAMES: '12', LATENTWALK_ARTIFACT_TTL_S: '60', REDIS_URL: 'redis://r:1' });
    assert.equal(config.limits.maxFrames, 12);
    assert.equal(config.artifactTtlMs, 60_000);
    assert.equal(config.redisUrl, 'redis://r:1');
    assert.equal(config.limits.maxSteps, 50);
    assert.equal(loadOpsConfig({ LATENTWALK_METRICS_PORT: '9464' }).metricsPort, 9464);
    assert.throws(() => loadOpsConfig({ LATENTWALK_METRICS_HOST: 'not a host!' }), /LATENTWALK_METRICS_HOST must be a host name or an IP address/);
  });
});

describe('the configuration table', () => {
  it('in the README is the one the schema generates', () => {
    const { file, table } = readmeTable();
    assert.equal(table, configTableMarkdown(), `${file} is out of date: paste \`latentwalk config --markdown\` in place of its table`);
  });

  it('lists every environment variable the code reads', () => {
    const { table } = readmeTable();
    const listed = new Set([...table.matchAll(/^\| `([A-Z0-9_]+)` \|/gm)].map((m) => m[1]!));
    assert.deepEqual([...listed].sort(), Object.keys(ALL_SETTINGS).sort());
    const read = new Map<string, string>();
    // Not settings: a test harness switch, and the system's own variables (PATH: where redis-server is found;
    // LD_LIBRARY_PATH: where the dynamic loader finds the CUDA provider's libraries).
    const notSettings = new Set(['LATENTWALK_E2E_LOG', 'PATH', 'HOME', 'TMPDIR', 'NODE_ENV', 'LD_LIBRARY_PATH']);
    for (const file of [...sourceFiles(join(ROOT, 'src')), join(ROOT, 'bin/latentwalk.js')]) {
      const text = readFileSync(file, 'utf8');
      const names = [
        ...[...text.matchAll(/\benv(?:\[\s*['"`]|\.)([A-Z][A-Z0-9_]*)/g)].map((m) => m[1]!),
        ...[...text.matchAll(/['"`]((?:LATENTWALK|DISCORD)_[A-Z0-9_]+|REDIS_URL)['"`]/g)].map((m) => m[1]!),
      ];
      for (const name of names) if (!notSettings.has(name)) read.set(name, file.slice(ROOT.length));
    }
    assert.ok(read.size >= 20, `found ${read.size} variables`);
    const missing = [...read].filter(([name]) => !listed.has(name));
    assert.deepEqual(missing, [], 'variables read by the code but missing from the table (declare them in a settings schema)');
  });

  it('is what `latentwalk config --markdown` prints', async () => {
    const original = console.log;
    let out = '';
    console.log = (...parts: unknown[]) => void (out += `${parts.join(' ')}\n`);
    try {
      assert.equal(await runConfigCommand(['--markdown']), 0);
    } finally {
      console.log = original;
    }
    assert.equal(out.trim(), configTableMarkdown());
  });
});

describe('validation', () => {
  it('names a misspelt variable and the one that was meant', () => {
    assert.deepEqual(unknownVariables({ LATENTWALK_MAX_FRAME: '3', LATENTWALK_E2E_LOG: '1', OTHER: 'x' }), [
      'LATENTWALK_MAX_FRAME is not a latentwalk setting and is ignored; did you mean LATENTWALK_MAX_FRAMES?',
    ]);
    const config = validateStackConfig({ LATENTWALK_MAX_FRAME: '3' }, { bot: false, cwd: '/srv/lw' });
    assert.equal(config.warnings.length, 1);
    assert.equal(config.privateRedis, true);
    assert.equal(config.start.dataDir, '/srv/lw/data');
    assert.equal(validateStackConfig({ REDIS_URL: 'redis://r:6379' }, { bot: false }).privateRedis, false);
  });
});
