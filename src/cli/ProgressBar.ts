/** A one-line progress bar on stderr, drawn only when stderr is a terminal (logs and pipes stay clean). */
import type { RenderProgress } from '../engine/index.ts';

export class ProgressBar {
  private lastDraw = 0;
  private drawn = false;
  constructor(
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly enabled = Boolean(process.stderr.isTTY),
  ) {}

  update(p: RenderProgress): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (now - this.lastDraw < 80 && p.framesDone < p.framesTotal) return;
    this.lastDraw = now;
    const width = 28;
    const stepFraction = p.step && p.steps ? p.step / p.steps : 0;
    const fraction = Math.min(1, (p.framesDone + (p.stage === 'denoise' ? stepFraction * 0.999 : 0)) / Math.max(1, p.framesTotal));
    const filled = Math.round(fraction * width);
    const eta = p.etaSeconds !== undefined ? ` eta ${formatSeconds(p.etaSeconds)}` : '';
    const step = p.stage === 'denoise' && p.step ? ` step ${p.step}/${p.steps}` : '';
    this.stream.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${p.framesDone}/${p.framesTotal} frames ${p.stage}${step}${eta}\x1b[K`);
    this.drawn = true;
  }

  done(): void {
    if (this.enabled && this.drawn) this.stream.write('\r\x1b[K');
    this.drawn = false;
  }
}

export function formatSeconds(s: number): string {
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)}s`;
  return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
}
