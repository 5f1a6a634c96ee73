/**
 * What an image file's first bytes say, without decoding it (the bot never loads sharp or the engine): its
 * format, size, and whether it is animated (a GIF with more than one image, an APNG, an animated WebP). The
 * worker decodes it for real (engine/image/InitImage.ts) and refuses anything this lets through by mistake.
 */
export type HeaderFormat = 'png' | 'jpeg' | 'webp' | 'gif';

export interface ImageHeader {
  format: HeaderFormat;
  width: number;
  height: number;
  animated: boolean;
}

const ascii = (b: Uint8Array, at: number, n: number): string => String.fromCharCode(...b.subarray(at, at + n));
const u16be = (b: Uint8Array, at: number): number => (b[at]! << 8) | b[at + 1]!;
const u16le = (b: Uint8Array, at: number): number => b[at]! | (b[at + 1]! << 8);
const u24le = (b: Uint8Array, at: number): number => b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16);
const u32be = (b: Uint8Array, at: number): number => ((b[at]! << 24) >>> 0) + ((b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!);

/** The header of a PNG, JPEG, WebP or GIF; undefined for anything else (or a file cut short). */
export function readImageHeader(b: Uint8Array): ImageHeader | undefined {
  if (b.length >= 24 && u32be(b, 0) === 0x89504e47 && ascii(b, 12, 4) === 'IHDR') return png(b);
  if (b.length >= 4 && b[0] === 0xff && b[1] === 0xd8) return jpeg(b);
  if (b.length >= 30 && ascii(b, 0, 4) === 'RIFF' && ascii(b, 8, 4) === 'WEBP') return webp(b);
  if (b.length >= 13 && (ascii(b, 0, 6) === 'GIF87a' || ascii(b, 0, 6) === 'GIF89a')) return gif(b);
  return undefined;
}

function png(b: Uint8Array): ImageHeader {
  let animated = false;
  // An APNG has an acTL chunk before its first IDAT.
  for (let p = 8; p + 8 <= b.length; ) {
    const length = u32be(b, p);
    const type = ascii(b, p + 4, 4);
    if (type === 'acTL') animated = true;
    if (type === 'IDAT' || type === 'IEND') break;
    p += 12 + length;
  }
  return { format: 'png', width: u32be(b, 16), height: u32be(b, 20), animated };
}

function jpeg(b: Uint8Array): ImageHeader | undefined {
  for (let p = 2; p + 9 < b.length; ) {
    if (b[p] !== 0xff) return undefined;
    const marker = b[p + 1]!;
    if (marker === 0xd8 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) {
      p += 2;
      continue;
    }
    const length = u16be(b, p + 2);
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      return { format: 'jpeg', width: u16be(b, p + 7), height: u16be(b, p + 5), animated: false };
    }
    p += 2 + length;
  }
  return undefined;
}

function webp(b: Uint8Array): ImageHeader | undefined {
  const chunk = ascii(b, 12, 4);
  if (chunk === 'VP8X') return { format: 'webp', width: u24le(b, 24) + 1, height: u24le(b, 27) + 1, animated: (b[20]! & 0x02) !== 0 };
  if (chunk === 'VP8 ') return { format: 'webp', width: u16le(b, 26) & 0x3fff, height: u16le(b, 28) & 0x3fff, animated: false };
  if (chunk === 'VP8L') {
    const bits = (b[21]! | (b[22]! << 8) | (b[23]! << 16) | (b[24]! << 24)) >>> 0;
    return { format: 'webp', width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1, animated: false };
  }
  return undefined;
}

function gif(b: Uint8Array): ImageHeader {
  const width = u16le(b, 6);
  const height = u16le(b, 8);
  let p = 13;
  if (b[10]! & 0x80) p += 3 * 2 ** ((b[10]! & 7) + 1);
  let images = 0;
  const skipSubBlocks = (): void => {
    while (p < b.length && b[p] !== 0) p += b[p]! + 1;
    p += 1;
  };
  while (p < b.length && images < 2) {
    const block = b[p]!;
    if (block === 0x21) {
      p += 2;
      skipSubBlocks();
    } else if (block === 0x2c) {
      images++;
      const flags = b[p + 9] ?? 0;
      p += 10;
      if (flags & 0x80) p += 3 * 2 ** ((flags & 7) + 1);
      p += 1; // LZW minimum code size
      skipSubBlocks();
    } else {
      break; // trailer or damage
    }
  }
  return { format: 'gif', width, height, animated: images > 1 };
}
