// onnxruntime-node side of train.py:
//  1. compare the exported graphs' outputs with PyTorch reference outputs (cases.json);
//  2. render images through the exported pack with the engine's algorithm (FlowMatch Euler + CFG with
//     the "" prompt, 154-row context, VAE decode) for given token ids and noise, and time it.
//   node tools/train-shapes/verify_onnx.mjs <job.json>
// Prints a JSON report as the last stdout line; exits 1 when an output differs beyond tolerance.
import fs from 'node:fs';
import path from 'node:path';
import ort from 'onnxruntime-node';

const job = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const dir = path.dirname(process.argv[2]);
const sessionOptions = { intraOpNumThreads: job.threads ?? 2, interOpNumThreads: 1 };

function load(spec) {
  const buf = fs.readFileSync(path.join(dir, spec.file));
  const data =
    spec.dtype === 'int64'
      ? new BigInt64Array(buf.buffer, buf.byteOffset, buf.byteLength / 8)
      : new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
  return new ort.Tensor(spec.dtype, data.slice(), spec.dims);
}

const sessions = new Map();
async function session(model) {
  if (!sessions.has(model)) sessions.set(model, await ort.InferenceSession.create(model, sessionOptions));
  return sessions.get(model);
}

const report = { ok: true };

if (job.cases) {
  report.cases = [];
  for (const c of job.cases) {
    const s = await session(c.model);
    const feeds = {};
    for (const [name, spec] of Object.entries(c.inputs)) feeds[name] = load(spec);
    const out = await s.run(feeds);
    const entry = { name: c.name, inputNames: s.inputNames, outputNames: s.outputNames, outputs: {} };
    for (const [name, spec] of Object.entries(c.outputs)) {
      const exp = load(spec).data;
      const got = out[name];
      if (!got) throw new Error(`${c.name}: missing output ${name} (have ${s.outputNames.join(', ')})`);
      if (got.dims.join(',') !== spec.dims.join(',')) throw new Error(`${c.name}/${name}: dims ${got.dims} != ${spec.dims}`);
      let maxDiff = 0;
      let maxRef = 0;
      for (let i = 0; i < exp.length; i++) {
        maxDiff = Math.max(maxDiff, Math.abs(got.data[i] - exp[i]));
        maxRef = Math.max(maxRef, Math.abs(exp[i]));
      }
      const rel = maxDiff / Math.max(maxRef, 1e-6);
      const ok = rel < 1e-3;
      entry.outputs[name] = { maxAbsDiff: maxDiff, maxAbsRef: maxRef, rel, ok };
      if (!ok) report.ok = false;
    }
    report.cases.push(entry);
  }
}

async function loadPack(p) {
  return {
    te1: await session(path.join(p, 'text_encoder/model.onnx')),
    te2: await session(path.join(p, 'text_encoder_2/model.onnx')),
    tr: await session(path.join(p, 'transformer/model.onnx')),
    vd: await session(path.join(p, 'vae_decoder/model.onnx')),
  };
}

// SD3 conditioning: concat(hidden_states.(N-1) of both encoders) zero-padded to J, 77 zero rows appended.
async function encode(m, r, ids1, ids2) {
  const a = await m.te1.run({ input_ids: new ort.Tensor('int64', BigInt64Array.from(ids1.map(BigInt)), [1, 77]) });
  const b = await m.te2.run({ input_ids: new ort.Tensor('int64', BigInt64Array.from(ids2.map(BigInt)), [1, 77]) });
  const h1 = a[`hidden_states.${r.L1 - 1}`].data;
  const h2 = b[`hidden_states.${r.L2 - 1}`].data;
  const d1 = h1.length / 77;
  const d2 = h2.length / 77;
  const ctx = new Float32Array(154 * r.J);
  for (let row = 0; row < 77; row++) {
    ctx.set(h1.subarray(row * d1, (row + 1) * d1), row * r.J);
    ctx.set(h2.subarray(row * d2, (row + 1) * d2), row * r.J + d1);
  }
  const pooled = new Float32Array(a.text_embeds.data.length + b.text_embeds.data.length);
  pooled.set(a.text_embeds.data, 0);
  pooled.set(b.text_embeds.data, a.text_embeds.data.length);
  return { ctx, pooled };
}

// conds[k] = {ctx, pooled} for image k; noise Float32Array [n*C*8*8]. Returns Float32Array [n,3,64,64].
async function render(m, r, conds, neg, noise) {
  const { J, C } = r;
  const S = 154 * J;
  const P = neg.pooled.length;
  const lat = C * 64;
  const n = conds.length;
  const images = new Float32Array(n * 3 * 64 * 64);
  const t = { denoiseMs: 0, decodeMs: 0 };
  for (let f0 = 0; f0 < n; f0 += r.batchSize) {
    const b = Math.min(r.batchSize, n - f0);
    const ctx = new Float32Array(2 * b * S);
    const pooled = new Float32Array(2 * b * P);
    for (let k = 0; k < b; k++) {
      ctx.set(neg.ctx, k * S);
      pooled.set(neg.pooled, k * P);
      ctx.set(conds[f0 + k].ctx, (b + k) * S);
      pooled.set(conds[f0 + k].pooled, (b + k) * P);
    }
    const x = noise.slice(f0 * lat, (f0 + b) * lat);
    const td = performance.now();
    const sig = r.sigmas;
    for (let i = 0; i < sig.length - 1; i++) {
      const xx = new Float32Array(2 * b * lat);
      xx.set(x, 0);
      xx.set(x, b * lat);
      const out = await m.tr.run({
        hidden_states: new ort.Tensor('float32', xx, [2 * b, C, 8, 8]),
        encoder_hidden_states: new ort.Tensor('float32', ctx, [2 * b, 154, J]),
        pooled_projections: new ort.Tensor('float32', pooled, [2 * b, P]),
        timestep: new ort.Tensor('float32', new Float32Array(2 * b).fill(sig[i] * 1000), [2 * b]),
      });
      const v = out.out_hidden_states.data;
      const dt = Math.fround(sig[i + 1] - sig[i]);
      for (let j = 0; j < b * lat; j++) {
        const vu = v[j];
        const vc = v[b * lat + j];
        x[j] = x[j] + dt * (vu + r.guidance * (vc - vu));
      }
    }
    t.denoiseMs += performance.now() - td;
    const tv = performance.now();
    const z = x.map((val) => val / r.scale + r.shift);
    const img = await m.vd.run({ latent_sample: new ort.Tensor('float32', z, [b, C, 8, 8]) });
    t.decodeMs += performance.now() - tv;
    images.set(img.sample.data, f0 * 3 * 64 * 64);
  }
  return { images, t };
}

if (job.renders) {
  report.renders = [];
  for (const r of job.renders) {
    const t0 = performance.now();
    const m = await loadPack(r.pack);
    const tLoad = performance.now();
    const neg = await encode(m, r, ...r.negative);
    let conds;
    if (r.morph) {
      // Morph-shaped workload: lerp the conditioning of two prompts over `frames` frames.
      const A = await encode(m, r, ...r.morph.a);
      const B = await encode(m, r, ...r.morph.b);
      conds = [];
      for (let k = 0; k < r.morph.frames; k++) {
        const w = k / (r.morph.frames - 1);
        conds.push({
          ctx: A.ctx.map((v, i) => (1 - w) * v + w * B.ctx[i]),
          pooled: A.pooled.map((v, i) => (1 - w) * v + w * B.pooled[i]),
        });
      }
    } else {
      conds = [];
      for (const [i1, i2] of r.items) conds.push(await encode(m, r, i1, i2));
    }
    const tEnc = performance.now();
    let noise = load(r.noise).data;
    if (r.morph) {
      const one = noise;
      noise = new Float32Array(conds.length * one.length);
      for (let k = 0; k < conds.length; k++) noise.set(one, k * one.length);
    }
    const { images, t } = await render(m, r, conds, neg, noise);
    const tEnd = performance.now();
    if (r.out) fs.writeFileSync(path.join(dir, r.out), Buffer.from(images.buffer));
    report.renders.push({
      name: r.name,
      images: conds.length,
      batchSize: r.batchSize,
      steps: r.sigmas.length - 1,
      loadMs: tLoad - t0,
      encodeMs: tEnc - tLoad,
      denoiseMs: t.denoiseMs,
      decodeMs: t.decodeMs,
      totalMs: tEnd - t0,
    });
  }
}

console.log(JSON.stringify(report));
process.exit(report.ok ? 0 : 1);
