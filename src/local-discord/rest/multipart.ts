/**
 * Request bodies: JSON, or multipart/form-data with `payload_json` and `files[n]` parts (what
 * @discordjs/rest sends when a message carries files). Parsed with the fetch API's own FormData parser.
 */
import { Errors } from '../errors.ts';

export interface UploadedFile {
  /** The form field, e.g. `files[0]`. */
  field: string;
  /** The n of `files[n]`: what an `attachments: [{ id: "n" }]` entry refers to. */
  index: string;
  filename: string;
  contentType: string;
  data: Buffer;
}

export interface ParsedBody {
  /** The JSON body, or `payload_json`; undefined when there was none. */
  json: unknown;
  files: UploadedFile[];
}

export async function parseBody(contentType: string | undefined, raw: Buffer): Promise<ParsedBody> {
  if (raw.length === 0) return { json: undefined, files: [] };
  const type = (contentType ?? '').toLowerCase();
  if (type.startsWith('multipart/form-data')) return parseMultipart(contentType!, raw);
  return { json: parseJson(raw.toString('utf8')), files: [] };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw Errors.invalidJson();
  }
}

async function parseMultipart(contentType: string, raw: Buffer): Promise<ParsedBody> {
  let form: FormData;
  try {
    form = await new Response(raw, { headers: { 'content-type': contentType } }).formData();
  } catch {
    throw Errors.invalidJson();
  }
  let json: unknown;
  const files: UploadedFile[] = [];
  for (const [field, value] of form.entries()) {
    if (typeof value === 'string') {
      if (field === 'payload_json') json = parseJson(value);
      continue;
    }
    const index = /^files\[(\d+)\]$/.exec(field)?.[1] ?? String(files.length);
    files.push({
      field,
      index,
      filename: value.name || `file${index}`,
      contentType: value.type || guessContentType(value.name),
      data: Buffer.from(await value.arrayBuffer()),
    });
  }
  return { json, files };
}

const TYPES: Record<string, string> = {
  gif: 'image/gif',
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  webp: 'image/webp',
  mp4: 'video/mp4',
  webm: 'video/webm',
  json: 'application/json',
  txt: 'text/plain; charset=utf-8',
};

export function guessContentType(filename: string): string {
  const ext = /\.([a-z0-9]+)$/i.exec(filename)?.[1]?.toLowerCase() ?? '';
  return TYPES[ext] ?? 'application/octet-stream';
}

/** Width and height of GIF, PNG, JPEG, WebP images and MP4 videos (what Discord reports for media attachments). */
export function imageSize(data: Buffer): { width: number; height: number } | undefined {
  if (data.length >= 10 && data.toString('latin1', 0, 4) === 'GIF8') {
    return { width: data.readUInt16LE(6), height: data.readUInt16LE(8) };
  }
  if (data.length >= 24 && data.readUInt32BE(0) === 0x89504e47 && data.toString('latin1', 12, 16) === 'IHDR') {
    return { width: data.readUInt32BE(16), height: data.readUInt32BE(20) };
  }
  if (data.length >= 30 && data.toString('latin1', 0, 4) === 'RIFF' && data.toString('latin1', 8, 12) === 'WEBP') {
    return webpSize(data);
  }
  if (data.length >= 12 && data.toString('latin1', 4, 8) === 'ftyp') return mp4Size(data);
  if (data.length >= 4 && data[0] === 0xff && data[1] === 0xd8) return jpegSize(data);
  return undefined;
}

/** The first video track's display size (tkhd), walking moov -> trak -> tkhd. */
function mp4Size(data: Buffer): { width: number; height: number } | undefined {
  const find = (start: number, end: number, type: string): { body: number; end: number } | undefined => {
    for (let p = start; p + 8 <= end; ) {
      const size = data.readUInt32BE(p);
      if (size < 8 || p + size > end) return undefined;
      if (data.toString('latin1', p + 4, p + 8) === type) return { body: p + 8, end: p + size };
      p += size;
    }
    return undefined;
  };
  const moov = find(0, data.length, 'moov');
  if (!moov) return undefined;
  for (let p = moov.body; p + 8 <= moov.end; ) {
    const size = data.readUInt32BE(p);
    if (size < 8 || p + size > moov.end) return undefined;
    if (data.toString('latin1', p + 4, p + 8) === 'trak') {
      const tkhd = find(p + 8, p + size, 'tkhd');
      if (tkhd) {
        const at = tkhd.body + (data[tkhd.body] === 1 ? 88 : 76);
        if (at + 8 <= tkhd.end) {
          const width = data.readUInt32BE(at) >>> 16;
          const height = data.readUInt32BE(at + 4) >>> 16;
          if (width > 0 && height > 0) return { width, height };
        }
      }
    }
    p += size;
  }
  return undefined;
}

/** A baseline or progressive JPEG's size from its SOF marker. */
function jpegSize(data: Buffer): { width: number; height: number } | undefined {
  for (let p = 2; p + 9 < data.length; ) {
    if (data[p] !== 0xff) return undefined;
    const marker = data[p + 1]!;
    const length = data.readUInt16BE(p + 2);
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      return { width: data.readUInt16BE(p + 7), height: data.readUInt16BE(p + 5) };
    }
    p += 2 + length;
  }
  return undefined;
}

/** The three WebP layouts: lossy (`VP8 `), lossless (`VP8L`) and extended (`VP8X`, its canvas size). */
function webpSize(data: Buffer): { width: number; height: number } | undefined {
  switch (data.toString('latin1', 12, 16)) {
    case 'VP8 ':
      // Frame tag (3 bytes), start code 9d 01 2a, then 14-bit width and height (2 bits of scale each).
      if (data[23] !== 0x9d || data[24] !== 0x01 || data[25] !== 0x2a) return undefined;
      return { width: data.readUInt16LE(26) & 0x3fff, height: data.readUInt16LE(28) & 0x3fff };
    case 'VP8L': {
      if (data[20] !== 0x2f) return undefined;
      const bits = data.readUInt32LE(21);
      return { width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1 };
    }
    case 'VP8X':
      return { width: data.readUIntLE(24, 3) + 1, height: data.readUIntLE(27, 3) + 1 };
    default:
      return undefined;
  }
}
