/**
 * Still images: a grid of cells composed into one frame, and PNG / JPEG encoding with sharp.
 */
import sharp from 'sharp';
import { EngineError } from '../errors.ts';
import { createRgbFrame, type RgbFrame } from '../frames.ts';

/**
 * Places `cells` edge to edge, row-major: cell 0 top-left, cell `columns - 1` top-right, the last cell
 * bottom-right. All cells must be the same size and there must be exactly `columns * rows` of them.
 */
export function composeGrid(cells: readonly RgbFrame[], columns: number, rows: number): RgbFrame {
  if (!Number.isInteger(columns) || !Number.isInteger(rows) || columns < 1 || rows < 1) {
    throw new EngineError('BAD_OPTION', `grid needs positive integer columns and rows, got ${columns}x${rows}`);
  }
  if (cells.length !== columns * rows) {
    throw new EngineError('BAD_OPTION', `a ${columns}x${rows} grid needs ${columns * rows} cells, got ${cells.length}`);
  }
  const { width: cw, height: ch } = cells[0]!;
  for (const [i, c] of cells.entries()) {
    if (c.width !== cw || c.height !== ch || c.data.length !== cw * ch * 3) {
      throw new EngineError('BAD_OPTION', `grid cell ${i} is ${c.width}x${c.height}, expected ${cw}x${ch} like cell 0`);
    }
  }
  const out = createRgbFrame(cw * columns, ch * rows);
  const rowBytes = cw * 3;
  const outRowBytes = out.width * 3;
  cells.forEach((cell, i) => {
    const x0 = (i % columns) * rowBytes;
    const y0 = Math.floor(i / columns) * ch;
    for (let y = 0; y < ch; y++) {
      out.data.set(cell.data.subarray(y * rowBytes, (y + 1) * rowBytes), (y0 + y) * outRowBytes + x0);
    }
  });
  return out;
}

export type ImageFormat = 'png' | 'jpeg';

export interface ImageOptions {
  /** JPEG quality 1..100. @defaultValue 90 */
  quality?: number;
  /** PNG: quantize to a palette of `colours` (libimagequant, dithered) instead of truecolour. @defaultValue false */
  palette?: boolean;
  /** PNG palette size 2..256 when `palette` is set. @defaultValue 256 */
  colours?: number;
  /** PNG zlib level 0..9. @defaultValue 9 (a grid is one image, so the slower level is cheap) */
  compressionLevel?: number;
}

/** Encodes one frame as PNG or JPEG. */
export async function encodeImage(frame: RgbFrame, format: ImageFormat, options: ImageOptions = {}): Promise<Uint8Array> {
  const { width, height, data } = frame;
  if (data.length !== width * height * 3) {
    throw new EngineError('BAD_OPTION', `image data is ${data.length} bytes, expected ${width * height * 3} for ${width}x${height} RGB`);
  }
  const image = sharp(data, { raw: { width, height, channels: 3 }, limitInputPixels: false });
  let out: Buffer;
  if (format === 'png') {
    const { palette = false, colours = 256, compressionLevel = 9 } = options;
    out = await image.png(palette ? { palette: true, colours, compressionLevel } : { compressionLevel, adaptiveFiltering: true }).toBuffer();
  } else {
    const { quality = 90 } = options;
    // mozjpeg's trellis quantization and scan optimisation: ~10% smaller at the same quality.
    out = await image.jpeg({ quality, mozjpeg: true }).toBuffer();
  }
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}
