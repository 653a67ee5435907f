import { describe, expect, it } from 'vitest';
import { decideRestart, referencesSecret, reloaderWants, type RestartInput } from '../../../src/controllers/shared/rollout.js';

const NOW = new Date('2026-11-23T10:00:00Z');
const SEC = 1000;
const ago = (ms: number) => new Date(NOW.getTime() - ms).toISOString();

const input = (over: Partial<RestartInput> = {}): RestartInput => ({
  hasTargets: true,
  revisionBefore: 3,
  revision: 3,
  lastRestartedRevision: 3,
  lastRotationTime: ago(60 * SEC),
  now: NOW,
  debounceMs: 10 * SEC,
  immediate: false,
  ...over,
});

describe('decideRestart', () => {
  it('does nothing while the workloads already run the current revision (operator restart, leader change)', () => {
    expect(decideRestart(input())).toEqual({ action: 'None' });
    // even long after the rotation, and in immediate mode
    expect(decideRestart(input({ immediate: true }))).toEqual({ action: 'None' });
  });

  it('restarts once the debounce after the last rotation has passed', () => {
    expect(decideRestart(input({ revisionBefore: 3, revision: 4, lastRotationTime: ago(10 * SEC) }))).toEqual({ action: 'Restart', revision: 4 });
    expect(decideRestart(input({ revisionBefore: 4, revision: 4, lastRotationTime: ago(11 * SEC) }))).toEqual({ action: 'Restart', revision: 4 });
  });

  it('waits, with the time left, when the rotation is more recent than the debounce', () => {
    expect(decideRestart(input({ revisionBefore: 3, revision: 4, lastRotationTime: NOW.toISOString() }))).toEqual({ action: 'Wait', revision: 4, waitMs: 10 * SEC });
    expect(decideRestart(input({ revision: 4, lastRotationTime: ago(4 * SEC) }))).toEqual({ action: 'Wait', revision: 4, waitMs: 6 * SEC });
  });

  it('a burst of rotations restarts once, with the latest revision: every new rotation pushes the due time', () => {
    // rotations 4..13 one second apart; the restart is never due during the burst
    for (let rev = 4; rev <= 13; rev++) {
      const d = decideRestart(input({ revisionBefore: rev - 1, revision: rev, lastRestartedRevision: 3, lastRotationTime: NOW.toISOString() }));
      expect(d.action).toBe('Wait');
    }
    const after = decideRestart(input({ revisionBefore: 13, revision: 13, lastRestartedRevision: 3, lastRotationTime: ago(10 * SEC) }));
    expect(after).toEqual({ action: 'Restart', revision: 13 });
  });

  it('immediate mode (GNAP: the old token died at once) skips the debounce', () => {
    expect(decideRestart(input({ revision: 4, lastRotationTime: NOW.toISOString(), immediate: true }))).toEqual({ action: 'Restart', revision: 4 });
  });

  it('a zero debounce restarts right after the write', () => {
    expect(decideRestart(input({ revision: 4, lastRotationTime: NOW.toISOString(), debounceMs: 0 }))).toEqual({ action: 'Restart', revision: 4 });
  });

  it('without a rotation time, a pending restart is due now', () => {
    expect(decideRestart(input({ revision: 4, lastRotationTime: undefined }))).toEqual({ action: 'Restart', revision: 4 });
  });

  describe('baseline (no lastRestartedRevision yet)', () => {
    it('first credential: records it, restarts nothing', () => {
      expect(decideRestart(input({ revisionBefore: undefined, revision: 1, lastRestartedRevision: undefined, lastRotationTime: NOW.toISOString() }))).toEqual({
        action: 'None',
        record: 1,
      });
    });

    it('targets just added, or an operator upgrade: assumes the running pods have the current revision', () => {
      expect(decideRestart(input({ revisionBefore: 7, revision: 7, lastRestartedRevision: undefined }))).toEqual({ action: 'None', record: 7 });
    });

    it('a rotation in this very reconcile: the previous revision is the baseline, the restart is due', () => {
      expect(decideRestart(input({ revisionBefore: 7, revision: 8, lastRestartedRevision: undefined, lastRotationTime: NOW.toISOString() }))).toEqual({
        action: 'Wait',
        revision: 8,
        waitMs: 10 * SEC,
        record: 7,
      });
      expect(decideRestart(input({ revisionBefore: 7, revision: 8, lastRestartedRevision: undefined, immediate: true }))).toEqual({ action: 'Restart', revision: 8 });
    });

    it('a revision behind the record (status reset): re-baselines without restarting', () => {
      expect(decideRestart(input({ revisionBefore: 2, revision: 2, lastRestartedRevision: 9 }))).toEqual({ action: 'None', record: 2 });
    });
  });

  it('no targets: nothing to do, and stale bookkeeping is dropped so adding targets later restarts nothing old', () => {
    expect(decideRestart(input({ hasTargets: false, revision: 9, lastRestartedRevision: undefined }))).toEqual({ action: 'None' });
    expect(decideRestart(input({ hasTargets: false, revision: 9, lastRestartedRevision: 3 }))).toEqual({ action: 'Forget' });
  });
});

describe('Reloader compatibility', () => {
  const podSpec = {
    containers: [
      { env: [{ valueFrom: { secretKeyRef: { name: 'env-secret' } } }], envFrom: [{ secretRef: { name: 'envfrom-secret' } }] },
    ],
    initContainers: [{ envFrom: [{ secretRef: { name: 'init-secret' } }] }],
    volumes: [{ secret: { secretName: 'volume-secret' } }, { projected: { sources: [{ secret: { name: 'projected-secret' } }] } }],
  };

  it('finds every way a pod template reads a Secret', () => {
    for (const name of ['env-secret', 'envfrom-secret', 'init-secret', 'volume-secret', 'projected-secret']) expect(referencesSecret(podSpec, name)).toBe(true);
    expect(referencesSecret(podSpec, 'other')).toBe(false);
    expect(referencesSecret(undefined, 'other')).toBe(false);
  });

  const workload = (annotations: Record<string, string>, templateAnnotations: Record<string, string> = {}) => ({
    metadata: { name: 'w', annotations },
    spec: { template: { metadata: { annotations: templateAnnotations }, spec: podSpec } },
  });

  it('secret.reloader.stakater.com/reload lists Secret names, comma separated', () => {
    expect(reloaderWants(workload({ 'secret.reloader.stakater.com/reload': 'a, my-share ,b' }), 'my-share')).toBe(true);
    expect(reloaderWants(workload({ 'secret.reloader.stakater.com/reload': 'a,b' }), 'my-share')).toBe(false);
    expect(reloaderWants(workload({ 'secret.reloader.stakater.com/reload': 'my-share-2' }), 'my-share')).toBe(false);
  });

  it('auto (reloader.stakater.com/auto or secret.reloader.stakater.com/auto) needs the template to reference the Secret', () => {
    expect(reloaderWants(workload({ 'reloader.stakater.com/auto': 'true' }), 'volume-secret')).toBe(true);
    expect(reloaderWants(workload({ 'secret.reloader.stakater.com/auto': 'true' }), 'env-secret')).toBe(true);
    expect(reloaderWants(workload({ 'reloader.stakater.com/auto': 'true' }), 'unreferenced')).toBe(false);
    expect(reloaderWants(workload({ 'reloader.stakater.com/auto': 'false' }), 'volume-secret')).toBe(false);
  });

  it('reads the annotations on the pod template too', () => {
    expect(reloaderWants(workload({}, { 'secret.reloader.stakater.com/reload': 'my-share' }), 'my-share')).toBe(true);
    expect(reloaderWants(workload({}), 'volume-secret')).toBe(false);
  });
});
