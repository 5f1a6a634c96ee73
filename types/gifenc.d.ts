// gifenc 1.0.3 ships no type definitions (types.d.ts landed on main after the release and omits
// prequantize / snapColorsToPalette). Written against the 1.0.3 sources.
declare module 'gifenc' {
  export type Palette = number[][];
  export type ColorFormat = 'rgb565' | 'rgb444' | 'rgba4444';
  export interface QuantizeOptions {
    /** Histogram key: 'rgb565' (default; 5 bits a channel in practice), 'rgb444' (faster, coarser) or 'rgba4444'. */
    format?: ColorFormat;
    oneBitAlpha?: boolean | number;
    clearAlpha?: boolean;
    clearAlphaThreshold?: number;
    clearAlphaColor?: number;
    /** Weight bins by sqrt(count) (default true; turned off internally for large bin counts). */
    useSqrt?: boolean;
  }
  export interface WriteFrameOptions {
    /** Required on the first frame (global colour table); on later frames it becomes a local table. */
    palette?: Palette | undefined;
    first?: boolean;
    /** Setting this without `dispose` forces disposal 2 (restore to background). */
    transparent?: boolean;
    transparentIndex?: number;
    /** Milliseconds; stored as Math.round(delay / 10) hundredths of a second. */
    delay?: number;
    /** 0 = forever, -1 = no loop extension, N = N repeats; first frame only. */
    repeat?: number;
    /** GIF disposal method 0..7; -1 = default. */
    dispose?: number;
    colorDepth?: number;
  }
  export interface Stream {
    reset(): void;
    bytes(): Uint8Array;
    bytesView(): Uint8Array;
    writeByte(byte: number): void;
    writeBytes(data: ArrayLike<number>, offset?: number, byteLength?: number): void;
    writeBytesView(data: Uint8Array, offset?: number, byteLength?: number): void;
  }
  export interface Encoder {
    writeFrame(index: Uint8Array, width: number, height: number, options?: WriteFrameOptions): void;
    finish(): void;
    /** A copy of the bytes written so far. */
    bytes(): Uint8Array;
    /** A view of the bytes written so far (no copy; invalid after more writes). */
    bytesView(): Uint8Array;
    reset(): void;
    writeHeader(): void;
    readonly buffer: ArrayBuffer;
    readonly stream: Stream;
  }
  export function GIFEncoder(options?: { auto?: boolean; initialCapacity?: number }): Encoder;
  export function quantize(rgba: Uint8Array | Uint8ClampedArray, maxColors: number, options?: QuantizeOptions): Palette;
  export function applyPalette(rgba: Uint8Array | Uint8ClampedArray, palette: Palette, format?: ColorFormat): Uint8Array;
  export function prequantize(rgba: Uint8Array | Uint8ClampedArray, options?: { roundRGB?: number; roundAlpha?: number; oneBitAlpha?: boolean | number }): void;
  export function nearestColorIndex(palette: Palette, pixel: number[]): number;
  export function nearestColor(palette: Palette, pixel: number[]): number[];
  export function nearestColorIndexWithDistance(palette: Palette, pixel: number[]): [number, number];
  export function snapColorsToPalette(palette: Palette, knownColors: number[][], threshold?: number): void;
  const gifenc: {
    GIFEncoder: typeof GIFEncoder;
    quantize: typeof quantize;
    applyPalette: typeof applyPalette;
    prequantize: typeof prequantize;
    nearestColorIndex: typeof nearestColorIndex;
    nearestColor: typeof nearestColor;
    nearestColorIndexWithDistance: typeof nearestColorIndexWithDistance;
    snapColorsToPalette: typeof snapColorsToPalette;
  };
  export default gifenc;
}
