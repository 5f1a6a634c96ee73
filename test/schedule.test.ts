import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { createFlowMatchSchedule, linspace } from '../src/engine/sampler/FlowMatchSchedule.ts';

interface Case {
  steps: number;
  shift: number;
  sigmas: number[];
  timesteps: number[];
}
const fixture = JSON.parse(readFileSync(new URL('./fixtures/flow-match-schedule.json', import.meta.url), 'utf8')) as { cases: Case[] };

describe('FlowMatchSchedule', () => {
  for (const c of fixture.cases) {
    it(`equals diffusers for ${c.steps} steps, shift ${c.shift}`, () => {
      const s = createFlowMatchSchedule({ steps: c.steps, shift: c.shift });
      assert.equal(s.sigmas.length, c.steps + 1);
      assert.equal(s.timesteps.length, c.steps);
      s.sigmas.forEach((v, i) => assert.ok(Math.abs(v - c.sigmas[i]!) <= 1e-6, `sigma[${i}] ${v} vs ${c.sigmas[i]}`));
      // timesteps are sigma * 1000 in float32: compare relative to their size
      s.timesteps.forEach((v, i) => assert.ok(Math.abs(v - c.timesteps[i]!) <= 1e-6 * Math.max(1, c.timesteps[i]!), `timestep[${i}] ${v} vs ${c.timesteps[i]}`));
    });
  }

  it("matches the spec's 28-step SD3 sigmas (shift 3.0), last non-zero sigma 0.008929", () => {
    const s = createFlowMatchSchedule({ steps: 28, shift: 3 });
    const spec = [1.0, 0.987381, 0.974108, 0.960129, 0.945387, 0.929818, 0.913349, 0.8959, 0.877382, 0.857692, 0.836717, 0.814325, 0.790368, 0.764677, 0.737056, 0.707278, 0.675082, 0.64016, 0.602151, 0.560625, 0.515072, 0.464876, 0.409289, 0.347393, 0.278049, 0.199827, 0.110906, 0.008929, 0.0];
    s.sigmas.forEach((v, i) => assert.ok(Math.abs(v - spec[i]!) < 5e-7, `sigma[${i}]`));
    assert.equal(s.timesteps[0], 1000);
  });

  it('a shift override changes the schedule; shift 1 is linear from 1 to 0.001', () => {
    const a = createFlowMatchSchedule({ steps: 4, shift: 3 });
    const b = createFlowMatchSchedule({ steps: 4, shift: 1 });
    assert.notDeepEqual(a.sigmas, b.sigmas);
    assert.ok(Math.abs(b.sigmas[3]! - 0.001) < 1e-7);
  });

  it('rejects bad step counts and shifts', () => {
    assert.throws(() => createFlowMatchSchedule({ steps: 0, shift: 3 }), RangeError);
    assert.throws(() => createFlowMatchSchedule({ steps: 2.5, shift: 3 }), RangeError);
    assert.throws(() => createFlowMatchSchedule({ steps: 4, shift: 0 }), RangeError);
  });

  it('linspace includes both ends', () => {
    assert.deepEqual(linspace(0, 1, 5), [0, 0.25, 0.5, 0.75, 1]);
    assert.deepEqual(linspace(3, 7, 1), [3]);
  });
});
