/** One rendered image: tightly packed RGB, 3 bytes a pixel, rows top to bottom. */
export interface RgbFrame {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8Array;
}

export function createRgbFrame(width: number, height: number): RgbFrame {
  return { width, height, data: new Uint8Array(width * height * 3) };
}
