/**
 * The engine next to a PyTorch implementation of the bundled model (bench/torch/shapes_morph.py: the training
 * code's modules, the weights read from the pack's ONNX files): the same morph (the guide's walk, `off`),
 * frames compared pixel by pixel, warm render times side by side. Needs Debian's python3-torch; skipped with a
 * line saying why where it is missing.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { render, type LoadedModel } from '../src/engine/index.ts';

const SCRIPT = fileURLToPath(new URL('./torch/shapes_morph.py', import.meta.url));
export const TORCH_PYTHON = process.env.LATENTWALK_TORCH_PYTHON ?? '/usr/bin/python3';

export interface TorchComparison {
  torchVersion: string;
  threads: number;
  engineMs: number;
  torchMs: number;
  /** Largest per-channel difference between the two renders' frames, 0..255. */
  maxDiff: number;
  /** Share of channel values that differ at all. */
  differing: number;
}

/** Why the comparison cannot run here, or undefined when it can. */
export function torchUnavailable(): string | undefined {
  const probe = spawnSync(TORCH_PYTHON, ['-c', 'import torch, numpy'], { encoding: 'utf8' });
  if (probe.error) return `${TORCH_PYTHON} not found`;
  if (probe.status !== 0) return `${TORCH_PYTHON} cannot import torch and numpy (Debian: apt-get install python3-torch)`;
  return undefined;
}

export async function compareWithTorch(model: LoadedModel, options: { prompts: readonly [string, string]; frames: number; seed: number; threads: number }): Promise<TorchComparison> {
  const { prompts, frames, seed, threads } = options;
  const d = model.defaults;
  const spec = { kind: 'morph', prompts, frames } as const;
  const settings = { seed, smooth: 'off' as const, batchSize: d.batchSize };
  await render(model, spec, settings); // warm-up
  model.prompts.clear(); // time text encoding as a new prompt costs it, like the PyTorch side
  const t0 = performance.now();
  const engine = await render(model, spec, settings);
  const engineMs = performance.now() - t0;

  const dir = mkdtempSync(join(tmpdir(), 'latentwalk-torch-'));
  try {
    const out = join(dir, 'frames.bin');
    const args = [SCRIPT, '--pack', model.dir, '--prompts', prompts[0], prompts[1], '--frames', String(frames), '--seed', String(seed)];
    args.push('--steps', String(d.steps), '--guidance', String(d.guidance), '--batch', String(d.batchSize), '--threads', String(threads), '--out', out);
    const result = await new Promise<string>((resolve, reject) => {
      const child = spawn(TORCH_PYTHON, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      child.on('error', reject);
      child.on('close', (code) => (code === 0 ? resolve(stdout) : reject(new Error(`shapes_morph.py exited ${code}: ${stderr.trim().split('\n').at(-1) ?? ''}`))));
    });
    const info = JSON.parse(result.trim().split('\n').at(-1)!) as { torch: string; threads: number; timings: { totalMs: number } };
    const bytes = readFileSync(out);
    let maxDiff = 0;
    let differing = 0;
    engine.frames.forEach((f, k) => {
      for (let i = 0; i < f.data.length; i++) {
        const diff = Math.abs(f.data[i]! - bytes[k * f.data.length + i]!);
        if (diff > maxDiff) maxDiff = diff;
        if (diff > 0) differing++;
      }
    });
    if (bytes.length !== engine.frames.length * engine.frames[0]!.data.length) throw new Error(`PyTorch wrote ${bytes.length} bytes for ${engine.frames.length} frames`);
    return { torchVersion: info.torch, threads: info.threads, engineMs, torchMs: info.timings.totalMs, maxDiff, differing: differing / bytes.length };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
