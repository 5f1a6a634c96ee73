"""Writes test/fixtures/flow-match-schedule.json: sigmas and timesteps of diffusers'
FlowMatchEulerDiscreteScheduler (use_dynamic_shifting=False), recomputed step by step as its source does
(numpy linspace in __init__, torch float32 training sigmas, numpy float64 set_timesteps, cast to float32).
diffusers itself cannot be installed here (no PyPI); this mirrors scheduling_flow_match_euler_discrete.py.
Run: /usr/bin/python3 tools/schedule-fixture.py
"""
import json
import numpy as np
import torch


def diffusers_schedule(steps, shift, n=1000):
    # __init__
    timesteps = np.linspace(1, n, n, dtype=np.float32)[::-1].copy()
    timesteps = torch.from_numpy(timesteps).to(dtype=torch.float32)
    sigmas = timesteps / n
    sigmas = shift * sigmas / (1 + (shift - 1) * sigmas)
    sigma_min = sigmas[-1].item()
    sigma_max = sigmas[0].item()
    # set_timesteps(num_inference_steps)
    ts = np.linspace(sigma_max * n, sigma_min * n, steps)
    s = ts / n
    s = shift * s / (1 + (shift - 1) * s)
    s = torch.from_numpy(s).to(dtype=torch.float32)
    t = s * n
    s = torch.cat([s, torch.zeros(1, device=s.device)])
    return [float(x) for x in s], [float(x) for x in t]


cases = []
for shift in (3.0, 1.0, 2.5):
    for steps in (1, 4, 28, 50):
        sig, ts = diffusers_schedule(steps, shift)
        cases.append({"steps": steps, "shift": shift, "sigmas": sig, "timesteps": ts})
with open("test/fixtures/flow-match-schedule.json", "w") as f:
    json.dump({"source": "diffusers FlowMatchEulerDiscreteScheduler.set_timesteps, mirrored by tools/schedule-fixture.py", "cases": cases}, f, indent=1)
print("wrote", len(cases), "cases")
