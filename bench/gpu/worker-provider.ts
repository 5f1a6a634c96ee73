/**
 * Which provider a worker takes on this host with LATENTWALK_PROVIDER unset: the worker's own path (its config
 * from the environment, then loadEngineBackend as `latentwalk worker` calls it) on the bundled model, without
 * Redis. Writes {provider, line, name} as JSON.
 *
 *   env -u LATENTWALK_PROVIDER node --import tsx bench/gpu/worker-provider.ts OUT.json
 */
import { writeFileSync } from 'node:fs';
import { loadJobsConfig } from '../../src/jobs/config.ts';
import { loadEngineBackend } from '../../src/worker/backend.ts';

const out = process.argv[2] ?? 'worker.json';
const result: Record<string, unknown> = { LATENTWALK_PROVIDER: process.env['LATENTWALK_PROVIDER'] ?? null };
try {
  const config = loadJobsConfig();
  const lines: string[] = [];
  const backend = await loadEngineBackend({
    ...(config.worker.modelDir ? { modelDir: config.worker.modelDir } : {}),
    ...(config.worker.provider ? { provider: config.worker.provider } : {}),
    log: (line) => lines.push(line),
  });
  const line = lines.find((l) => l.startsWith('execution provider:')) ?? '';
  result['provider'] = /^execution provider: (\w+)/.exec(line)?.[1];
  result['line'] = line;
  result['name'] = backend.name;
  await backend.dispose();
  console.log(`worker-provider: ${backend.name}; ${line}`);
} catch (error) {
  result['error'] = error instanceof Error ? error.message : String(error);
  console.log(`worker-provider: failed: ${result['error']}`);
  process.exitCode = 1;
}
writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
