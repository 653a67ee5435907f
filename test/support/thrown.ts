import { expect } from 'vitest';

/** The error of class `cls` that `fn` throws; fails the test when it throws none, rethrows any other. */
export function thrown<E extends Error>(cls: new (...args: never[]) => E, fn: () => unknown): E {
  try {
    fn();
  } catch (e) {
    if (e instanceof cls) return e;
    throw e;
  }
  return expect.fail(`expected a ${cls.name}`);
}
