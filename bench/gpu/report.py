"""Merges torch.json (sd3_bench.py) and engine.json (engine-bench.ts) into results.json and results.md, and
prints the ratios engine / PyTorch and the issue's criteria.

    python3 bench/gpu/report.py RESULTS_DIR
"""
import json
import os
import sys


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        return {"error": f"{os.path.basename(path)}: {e}"}


def main():
    d = sys.argv[1]
    torch_r, engine = load(os.path.join(d, "torch.json")), load(os.path.join(d, "engine.json"))
    lines = [f"# SD3-Medium-shaped benchmark: engine ({engine.get('provider', '?')}) vs PyTorch eager", ""]
    lines.append(f"- card: {torch_r.get('device', '?')}; torch {torch_r.get('torch', '?')}; {torch_r.get('dtype', '?')}; config {json.dumps(torch_r.get('config', {}))}")
    lines.append(f"- engine: {engine.get('providerLine', engine.get('error', '?'))}; pack load {engine.get('loadMs', 0) / 1000:.1f} s")
    out = {"torch": torch_r, "engine": engine}
    tc, ec = torch_r.get("call", {}).get("ms"), engine.get("call", {}).get("ms")
    if tc and ec:
        out["callRatio"] = ec / tc
        lines.append(f"- one transformer call, batch {engine['call'].get('rows')}: engine {ec:.2f} ms, PyTorch {tc:.2f} ms: **ratio {ec / tc:.2f}** (target <= 3)")
    tm, em = torch_r.get("morph", {}), engine.get("morph", {})
    if tm.get("ms") and em.get("ms"):
        out["morphRatio"] = em["ms"] / tm["ms"]
        proj = " (projected from what fit the time budget)" if tm.get("projected") or em.get("projected") else ""
        lines.append(f"- {em.get('frames')}-frame {em.get('size')} morph, {em.get('steps')} steps: engine {em['ms'] / 1000:.2f} s, PyTorch {tm['ms'] / 1000:.2f} s: **ratio {em['ms'] / tm['ms']:.2f}**{proj}")
        lines.append(f"  - engine stages: {json.dumps(em.get('timings'))}")
    mm = engine.get("matmul", {})
    big = next((v for k, v in mm.items() if "^3" in k), None)
    if big:
        tmm = torch_r.get("matmul", {}).get("tflops")
        lines.append(f"- fp16 MatMul {big['m']}^3: provider {big['tflops']:.1f} TFLOP/s" + (f", PyTorch {tmm:.0f} TFLOP/s" if tmm else ""))
        flops = torch_r.get("flopsPerCall")
        if flops and ec:
            ceiling_ms = flops / (big["tflops"] * 1e9)
            out["ceilingMs"] = ceiling_ms
            out["callOverCeiling"] = ec / ceiling_ms
            lines.append(f"- the provider's ceiling for one call ({flops / 1e12:.1f} TFLOP at its MatMul rate): {ceiling_ms:.1f} ms; engine call / ceiling = **{ec / ceiling_ms:.2f}** (fallback target <= 1.5)")
    for k, v in mm.items():
        if "^3" not in k:
            lines.append(f"- fp16 MatMul {k} (the MMDiT's FF shape): {v['tflops']:.1f} TFLOP/s")
    if "hostCall" in engine and ec:
        lines.append(f"- the host path's call (host I/O, JS fp16 conversion): {engine['hostCall']['ms']:.1f} ms vs the device path's {ec:.2f} ms")
    if torch_r.get("exportNotes"):
        lines.append(f"- export notes: {'; '.join(torch_r['exportNotes'])}")
    if engine.get("check"):
        lines.append(f"- engine output vs PyTorch on the same inputs: {json.dumps(engine['check'])}")
    for name, r in (("torch", torch_r), ("engine", engine)):
        if r.get("error"):
            lines.append(f"- {name} error: {r['error']}")
    text = "\n".join(lines) + "\n"
    with open(os.path.join(d, "results.md"), "w") as f:
        f.write(text)
    with open(os.path.join(d, "results.json"), "w") as f:
        json.dump(out, f, indent=2)
    print(text)


if __name__ == "__main__":
    main()
