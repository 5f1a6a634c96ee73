/**
 * The settings machinery (src/settings/) is its own module: it knows no layer, and the job layer, the bot, ops
 * and the app each declare their settings with it (ops and the app no longer borrow it from src/jobs/config.ts).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { ConfigError, intSetting, readSetting, setting, settingErrors, settingsTableMarkdown, unknownSettingNames } from '../src/settings/index.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

function imports(file: string): string[] {
  return [...readFileSync(join(ROOT, file), 'utf8').matchAll(/^(?:import|export)[^;]*?from '([^']+)'/gms)].map((m) => m[1]!);
}

describe('src/settings', () => {
  it('imports no layer of the project', () => {
    for (const name of readdirSync(join(ROOT, 'src/settings'))) {
      for (const from of imports(`src/settings/${name}`)) {
        assert.doesNotMatch(from, /^\.\.\/(jobs|bot|ops|app|worker|cli|commands|engine)\b/, `src/settings/${name} imports ${from}`);
      }
    }
  });

  it('is where each layer takes the machinery from', () => {
    for (const file of ['src/jobs/config.ts', 'src/bot/config.ts', 'src/ops/config.ts', 'src/app/config.ts']) {
      assert.ok(imports(file).includes('../settings/index.ts'), `${file} declares its settings with src/settings`);
    }
    // ops knows nothing of the job layer; the app and the bot take only the job layer's own table and loader.
    assert.ok(!imports('src/ops/config.ts').some((from) => from.includes('jobs/')), 'src/ops/config.ts imports from src/jobs');
  });

  it('reads, validates with errors naming the key, and documents any table', () => {
    const table = {
      EXAMPLE_COUNT: intSetting(1, 9, ['worker'], 'How many.'),
      EXAMPLE_SECRET: setting(z.string().min(8, { error: 'is too short' }), '8+ characters', ['bot'], 'A key.', { secret: true }),
    };
    assert.equal(readSetting(table, { EXAMPLE_COUNT: ' 4 ' }, 'EXAMPLE_COUNT'), 4);
    assert.equal(readSetting(table, {}, 'EXAMPLE_COUNT'), undefined);
    const errors = settingErrors(table, { EXAMPLE_COUNT: '12', EXAMPLE_SECRET: 'hunter2' });
    assert.deepEqual(errors.map((e) => [e instanceof ConfigError, e.key]), [[true, 'EXAMPLE_COUNT'], [true, 'EXAMPLE_SECRET']]);
    assert.match(errors[0]!.message, /^EXAMPLE_COUNT must be at most 9 \(got "12"\)$/);
    assert.doesNotMatch(errors[1]!.message, /hunter2/);
    assert.match(settingsTableMarkdown(table), /\| `EXAMPLE_COUNT` \| unset \| whole number 1–9 \| worker \| How many\. \|/);
    assert.deepEqual(unknownSettingNames(table, { EXAMPLE_CUONT: '1' }, 'EXAMPLE_'), ['EXAMPLE_CUONT is not a latentwalk setting and is ignored; did you mean EXAMPLE_COUNT?']);
  });
});
