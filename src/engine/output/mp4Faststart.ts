/**
 * "Fast start" for an MP4: the muxer writes the index (moov) after the media data (mdat); a player that
 * streams the file (Discord's, a browser's) then has to fetch the end before the first frame. This moves moov
 * in front of mdat and shifts every chunk offset (stco / co64) by moov's size. Pure function on the bytes.
 */

interface TopBox {
  type: string;
  start: number;
  end: number;
}

const CONTAINERS = new Set(['moov', 'trak', 'mdia', 'minf', 'stbl', 'edts', 'dinf']);

function readBoxes(bytes: Uint8Array, view: DataView, start: number, end: number): TopBox[] {
  const out: TopBox[] = [];
  let p = start;
  while (p + 8 <= end) {
    let size = view.getUint32(p);
    const type = String.fromCharCode(bytes[p + 4]!, bytes[p + 5]!, bytes[p + 6]!, bytes[p + 7]!);
    if (size === 1) size = Number(view.getBigUint64(p + 8));
    else if (size === 0) size = end - p;
    if (size < 8 || p + size > end) throw new Error(`MP4 box '${type}' at ${p} has a bad size ${size}`);
    out.push({ type, start: p, end: p + size });
    p += size;
  }
  return out;
}

/** Returns the file with moov before mdat (the same bytes when it already is, or when either is missing). */
export function faststartMp4(bytes: Uint8Array): Uint8Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const top = readBoxes(bytes, view, 0, bytes.length);
  const moovIndex = top.findIndex((b) => b.type === 'moov');
  const mdatIndex = top.findIndex((b) => b.type === 'mdat');
  if (moovIndex < 0 || mdatIndex < 0 || moovIndex < mdatIndex) return bytes;
  const moov = top[moovIndex]!;
  const moovBytes = bytes.slice(moov.start, moov.end);
  const moovView = new DataView(moovBytes.buffer);
  const shift = moovBytes.length;
  // Everything before mdat stays in front; moov goes right before mdat, so only data at or after mdat moves.
  const mdatStart = top[mdatIndex]!.start;
  const patch = (start: number, end: number): void => {
    for (const box of readBoxes(moovBytes, moovView, start, end)) {
      if (CONTAINERS.has(box.type)) {
        patch(box.start + 8, box.end);
      } else if (box.type === 'stco') {
        const count = moovView.getUint32(box.start + 12);
        for (let i = 0; i < count; i++) {
          const at = box.start + 16 + 4 * i;
          const offset = moovView.getUint32(at);
          if (offset >= mdatStart) {
            if (offset + shift > 0xffffffff) throw new Error('MP4 too large for 32-bit chunk offsets after fast start');
            moovView.setUint32(at, offset + shift);
          }
        }
      } else if (box.type === 'co64') {
        const count = moovView.getUint32(box.start + 12);
        for (let i = 0; i < count; i++) {
          const at = box.start + 16 + 8 * i;
          const offset = moovView.getBigUint64(at);
          if (offset >= BigInt(mdatStart)) moovView.setBigUint64(at, offset + BigInt(shift));
        }
      }
    }
  };
  patch(8, moovBytes.length);
  const out = new Uint8Array(bytes.length);
  let p = 0;
  const put = (part: Uint8Array): void => {
    out.set(part, p);
    p += part.length;
  };
  for (const [i, box] of top.entries()) {
    if (i === mdatIndex) put(moovBytes);
    if (i === moovIndex) continue;
    put(bytes.subarray(box.start, box.end));
  }
  return out;
}
