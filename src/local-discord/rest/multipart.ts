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

/** Width and height of GIF, PNG and WebP images (what Discord reports for image attachments). */
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
