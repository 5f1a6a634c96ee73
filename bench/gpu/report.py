"""Merges torch.json (sd3_bench.py), engine-<provider>.json (engine-bench.ts, one per provider) and worker.json
(worker-provider.ts) into results.json and results.md, and prints the ratios engine / PyTorch against issue 14's
targets: the transformer call <= 1.2 and the 16-frame morph <= 1.5 on the CUDA provider, same card, same run, the
same timing protocol on both sides; and the worker's provider with LATENTWALK_PROVIDER unset: cuda.

    python3 bench/gpu/report.py RESULTS_DIR
"""
import glob
import json
import os
import sys

CALL_TARGET = 1.2
MORPH_TARGET = 1.5


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        return {"error": f"{os.path.basename(path)}: {e}"}


def protocol(r):
    t = r.get("timing") or {}
    return {k: t.get(k) for k in ("clock", "syncEachCall", "statistic", "warmup", "iters")}


def engine_lines(name, engine, torch_r, primary, out):
    lines = []
    ok = True
    if engine.get("error") and not engine.get("call"):
        lines.append(f"- engine on {name}: did not run: {engine['error']}")
        out[name] = {"error": engine["error"]}
        return lines, False
    lines.append(f"- engine on {name}: {engine.get('providerLine', '?')}; pack load {engine.get('loadMs', 0) / 1000:.1f} s; first call {engine.get('firstCallMs', 0) / 1000:.2f} s")
    result = {}
    tc, ec = torch_r.get("call", {}).get("ms"), engine.get("call", {}).get("ms")
    if tc and ec:
        ratio = ec / tc
        result["callRatio"] = ratio
        iters = engine["call"].get("iters")
        fewer = f" (only {iters} timed calls fit its budget)" if iters and iters != protocol(torch_r).get("iters") else ""
        verdict = ("meets" if ratio <= CALL_TARGET else "MISSES") + f" <= {CALL_TARGET}" if primary else "for the record"
        lines.append(f"  - one transformer call, batch {engine['call'].get('rows')}: engine {ec:.2f} ms, PyTorch {tc:.2f} ms: **ratio {ratio:.2f}** ({verdict}){fewer}")
        ok = ok and ratio <= CALL_TARGET
    tm, em = torch_r.get("morph", {}), engine.get("morph", {})
    if tm.get("ms") and em.get("ms"):
        ratio = em["ms"] / tm["ms"]
        result["morphRatio"] = ratio
        proj = " (projected from what fit the time budget)" if tm.get("projected") or em.get("projected") else ""
        verdict = ("meets" if ratio <= MORPH_TARGET else "MISSES") + f" <= {MORPH_TARGET}" if primary else "for the record"
        lines.append(f"  - {em.get('frames')}-frame {em.get('size')} morph, {em.get('steps')} steps: engine {em['ms'] / 1000:.2f} s, PyTorch {tm['ms'] / 1000:.2f} s: **ratio {ratio:.2f}** ({verdict}){proj}")
        lines.append(f"  - engine stages: {json.dumps(em.get('timings'))}")
        ok = ok and ratio <= MORPH_TARGET and not proj
    elif primary:
        ok = False
    if engine.get("check"):
        lines.append(f"  - output vs PyTorch on the same inputs: {json.dumps(engine['check'])}")
    mm = engine.get("matmul", {})
    for k, v in mm.items():
        lines.append(f"  - {name} fp16 MatMul {k}: {v['tflops']:.1f} TFLOP/s")
    if "hostCall" in engine and ec:
        lines.append(f"  - the host path's call (host I/O, JS fp16 conversion): {engine['hostCall']['ms']:.1f} ms vs the device path's {ec:.2f} ms")
    if engine.get("error"):
        lines.append(f"  - error: {engine['error']}")
    out[name] = result
    return lines, ok


def main():
    d = sys.argv[1]
    torch_r = load(os.path.join(d, "torch.json"))
    engines = {}
    # cuda first (the provider the targets are for), then the others for the record
    for path in sorted(glob.glob(os.path.join(d, "engine-*.json")), key=lambda p: (not p.endswith("engine-cuda.json"), p)):
        engines[os.path.basename(path)[len("engine-"):-len(".json")]] = load(path)
    if not engines and os.path.exists(os.path.join(d, "engine.json")):
        e = load(os.path.join(d, "engine.json"))
        engines[e.get("provider", "engine")] = e
    worker = load(os.path.join(d, "worker.json")) if os.path.exists(os.path.join(d, "worker.json")) else None

    out = {"torch": torch_r, "engines": engines, "worker": worker}
    title = ", ".join(engines) or "no engine run"
    lines = [f"# SD3-Medium-shaped benchmark: the engine ({title}) vs PyTorch eager, same card, same run", ""]
    lines.append(f"- card: {torch_r.get('device', '?')}; torch {torch_r.get('torch', '?')}; {torch_r.get('dtype', '?')}; config {json.dumps(torch_r.get('config', {}))}")
    if torch_r.get("sameWeightsAsPack"):
        lines.append(f"- PyTorch's models vs the exported pack (rebuilt from the same seed): relative L2 {torch_r['sameWeightsAsPack']['relL2']:.2e}")
    tp = protocol(torch_r)
    lines.append(f"- timing protocol: {json.dumps(tp)} (PyTorch); the engine's is " + ("the same" if all(protocol(e) == tp for e in engines.values() if e.get("timing")) else "DIFFERENT: " + json.dumps({k: protocol(e) for k, e in engines.items()})))
    if torch_r.get("call"):
        lines.append(f"- PyTorch eager call: {torch_r['call']['ms']:.2f} ms ({torch_r['call'].get('tflops', 0):.0f} TFLOP/s)" + (f"; fp16 MatMul 8192^3 {torch_r['matmul']['tflops']:.0f} TFLOP/s" if torch_r.get("matmul") else ""))
    met = {}
    for name, engine in engines.items():
        primary = name == "cuda"
        more, ok = engine_lines(name, engine, torch_r, primary, out)
        lines += more
        if primary:
            met["cuda call and morph"] = ok
    if worker is not None:
        picked = worker.get("provider")
        met["worker picks cuda with LATENTWALK_PROVIDER unset"] = picked == "cuda"
        lines.append(f"- worker with LATENTWALK_PROVIDER unset: **{picked or worker.get('error')}** ({worker.get('line', '')})")
    if torch_r.get("exportNotes"):
        lines.append(f"- export notes: {'; '.join(torch_r['exportNotes'])}")
    if torch_r.get("error"):
        lines.append(f"- torch error: {torch_r['error']}")
    out["targets"] = met
    lines.append("")
    lines.append("targets: " + ("; ".join(f"{k}: {'met' if v else 'NOT met'}" for k, v in met.items()) or "none evaluated"))
    text = "\n".join(lines) + "\n"
    with open(os.path.join(d, "results.md"), "w") as f:
        f.write(text)
    with open(os.path.join(d, "results.json"), "w") as f:
        json.dump(out, f, indent=2)
    print(text)


if __name__ == "__main__":
    main()
