import { describe, expect, it } from 'vitest';
import { DRIFT_WINDOW_MS, MAX_DRIFT_REPAIRS, planDrift, type DriftInput } from '../../../src/controllers/shared/drift.js';

const NOW = new Date('2026-11-23T10:00:00Z');
const ago = (ms: number) => new Date(NOW.getTime() - ms);
const base: DriftInput = {
  recordedHmac: 'hmac-sha256:aaa',
  actualHmac: 'hmac-sha256:aaa',
  repairs: 0,
  lastRepair: undefined,
  condition: undefined,
  generation: 3,
  rotateRequested: false,
  now: NOW,
};
const drifted = { ...base, actualHmac: 'hmac-sha256:bbb' };
const suspended = { status: 'True' as const, reason: 'DriftRepairSuspended', observedGeneration: 3 };

describe('planDrift', () => {
  it('None while the Secret holds what was written, or when nothing was recorded yet', () => {
    expect(planDrift(base)).toEqual({ action: 'None' });
    expect(planDrift({ ...drifted, recordedHmac: undefined })).toEqual({ action: 'None' });
    expect(planDrift({ ...base, actualHmac: undefined, recordedHmac: undefined })).toEqual({ action: 'None' });
    // a past repair's condition (False) is left alone
    expect(planDrift({ ...base, condition: { status: 'False', reason: 'DriftRepaired', observedGeneration: 3 } })).toEqual({ action: 'None' });
  });

  it('Repair an edited Secret, and a deleted one (missing), counting the repair', () => {
    expect(planDrift(drifted)).toEqual({ action: 'Repair', missing: false, repairs: 1 });
    expect(planDrift({ ...base, actualHmac: undefined })).toEqual({ action: 'Repair', missing: true, repairs: 1 });
  });

  it('counts within a run; a run ends after 10 minutes without a repair', () => {
    expect(planDrift({ ...drifted, repairs: 3, lastRepair: ago(60_000) })).toEqual({ action: 'Repair', missing: false, repairs: 4 });
    expect(planDrift({ ...drifted, repairs: 4, lastRepair: ago(DRIFT_WINDOW_MS - 1) })).toEqual({ action: 'Repair', missing: false, repairs: 5 });
    expect(planDrift({ ...drifted, repairs: 5, lastRepair: ago(DRIFT_WINDOW_MS) })).toEqual({ action: 'Repair', missing: false, repairs: 1 });
  });

  it(`Suspend on the drift after ${MAX_DRIFT_REPAIRS} repairs in a run (edit or delete alike)`, () => {
    expect(planDrift({ ...drifted, repairs: 5, lastRepair: ago(1000) })).toEqual({ action: 'Suspend', missing: false, repairs: 5 });
    expect(planDrift({ ...base, actualHmac: undefined, repairs: 5, lastRepair: ago(1000) })).toEqual({ action: 'Suspend', missing: true, repairs: 5 });
  });

  it('Hold once suspended, however much time passes, until a person acts', () => {
    expect(planDrift({ ...drifted, repairs: 5, lastRepair: ago(1000), condition: suspended })).toEqual({ action: 'Hold' });
    expect(planDrift({ ...drifted, repairs: 5, lastRepair: ago(24 * 3_600_000), condition: suspended })).toEqual({ action: 'Hold' });
    expect(planDrift({ ...base, actualHmac: undefined, repairs: 5, lastRepair: ago(1000), condition: suspended })).toEqual({ action: 'Hold' });
  });

  it('a spec change or a new rotate request lifts the suspension: a new run starts', () => {
    expect(planDrift({ ...drifted, repairs: 5, lastRepair: ago(1000), condition: suspended, generation: 4 })).toEqual({ action: 'Repair', missing: false, repairs: 1 });
    expect(planDrift({ ...drifted, repairs: 5, lastRepair: ago(1000), condition: suspended, rotateRequested: true })).toEqual({ action: 'Repair', missing: false, repairs: 1 });
  });

  it('Resolved when the Secret holds what was written again while SecretDrift is True', () => {
    expect(planDrift({ ...base, repairs: 5, lastRepair: ago(1000), condition: suspended })).toEqual({ action: 'Resolved' });
  });
});
