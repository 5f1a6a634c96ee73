/**
 * Extracts named files from a gzipped tar (an npm package tarball) as it streams, so a 230 MB library is never
 * held in memory and nothing else in the archive is written. Reads ustar headers, pax extended headers (long
 * paths) and GNU long names, which is what npm writes.
 */
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { createGunzip } from 'node:zlib';

const BLOCK = 512;

function field(header: Buffer, at: number, length: number): string {
  const end = header.indexOf(0, at);
  return header.toString('utf8', at, end < 0 || end > at + length ? at + length : end);
}

function octal(header: Buffer, at: number, length: number): number {
  if ((header[at]! & 0x80) !== 0) return Number(header.readBigUInt64BE(at + length - 8)); // base-256 (GNU)
  const text = field(header, at, length).trim();
  return text === '' ? 0 : parseInt(text, 8);
}

function paxPath(records: Buffer): string | undefined {
  let at = 0;
  let path: string | undefined;
  while (at < records.length) {
    const space = records.indexOf(0x20, at);
    if (space < 0) break;
    const length = Number(records.toString('utf8', at, space));
    if (!Number.isFinite(length) || length <= 0) break;
    const record = records.toString('utf8', space + 1, at + length - 1);
    const eq = record.indexOf('=');
    if (record.slice(0, eq) === 'path') path = record.slice(eq + 1);
    at += length;
  }
  return path;
}

/**
 * Writes each archive entry named in `wanted` (archive path -> destination file) and returns the archive paths
 * it found. Entries are matched by exact path ("package/Plugins/Linux/x64/libx.so").
 */
export async function extractFromTarball(tarballPath: string, wanted: ReadonlyMap<string, string>): Promise<Set<string>> {
  const found = new Set<string>();
  let pending: Buffer = Buffer.alloc(0);
  /** Bytes of the current entry's data still to come, and the padding after it. */
  let dataLeft = 0;
  let padLeft = 0;
  let sink: WriteStream | undefined;
  let meta: Buffer[] | undefined; // a pax or GNU long-name entry's data, collected
  let metaKind = '';
  let nextPath: string | undefined;
  let ended = false;

  const startEntry = (header: Buffer) => {
    const size = octal(header, 124, 12);
    const type = String.fromCharCode(header[156] || 0x30);
    const prefix = field(header, 345, 155);
    const name = field(header, 0, 100);
    const path = nextPath ?? (prefix ? `${prefix}/${name}` : name);
    nextPath = undefined;
    dataLeft = size;
    padLeft = (BLOCK - (size % BLOCK)) % BLOCK;
    if (type === 'x' || type === 'L') {
      meta = [];
      metaKind = type;
    } else if ((type === '0' || type === '\0' || type === '7') && wanted.has(path)) {
      found.add(path);
      sink = createWriteStream(wanted.get(path)!, { mode: 0o755 });
    }
  };

  for await (const chunk of createReadStream(tarballPath).pipe(createGunzip()) as AsyncIterable<Buffer>) {
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    while (!ended) {
      if (dataLeft > 0) {
        if (pending.length === 0) break;
        const take = Math.min(dataLeft, pending.length);
        const part = pending.subarray(0, take);
        if (sink && !sink.write(part)) await once(sink, 'drain');
        else if (meta) meta.push(Buffer.from(part));
        pending = pending.subarray(take);
        dataLeft -= take;
        if (dataLeft > 0) break;
      }
      if (dataLeft === 0 && (sink || meta)) {
        if (sink) {
          const done = sink;
          sink = undefined;
          done.end();
          await once(done, 'finish');
        }
        if (meta) {
          const data = Buffer.concat(meta);
          nextPath = metaKind === 'x' ? (paxPath(data) ?? nextPath) : field(data, 0, data.length);
          meta = undefined;
        }
      }
      if (padLeft > 0) {
        const skip = Math.min(padLeft, pending.length);
        pending = pending.subarray(skip);
        padLeft -= skip;
        if (padLeft > 0) break;
      }
      if (pending.length < BLOCK) break;
      const header = pending.subarray(0, BLOCK);
      pending = pending.subarray(BLOCK);
      if (header.every((b) => b === 0)) {
        ended = true;
        break;
      }
      startEntry(header);
    }
    if (ended) break;
  }
  if (sink) {
    sink.destroy();
    throw new Error(`${tarballPath}: the archive ends inside a file`);
  }
  return found;
}
