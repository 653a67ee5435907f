import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { WindowLimiter } from '../../../src/schedule/window-limiter.js';
import { maxInAnyWindow } from '../../support/rate.js';

describe('WindowLimiter', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('never grants more than the limit in any window, even after an idle spell (unlike a token bucket with a burst)', async () => {
    const l = new WindowLimiter(10, 1000, () => Date.now());
    const times: number[] = [];
    const start = Date.now();
    const herd = async (n: number) => {
      await Promise.all(Array.from({ length: n }, () => l.take().then(() => times.push(Date.now() - start))));
    };
    const first = herd(25);
    await vi.advanceTimersByTimeAsync(5_000);
    await first;
    await vi.advanceTimersByTimeAsync(60_000); // idle: nothing saved up
    const second = herd(25);
    await vi.advanceTimersByTimeAsync(5_000);
    await second;
    expect(times).toHaveLength(50);
    expect(maxInAnyWindow(times, 1000)).toBe(10);
    // and it does not under-use the limit: 25 calls go out in three windows
    expect(times.slice(0, 25).at(-1)).toBe(2000);
  });

  it('serves callers in order', async () => {
    const l = new WindowLimiter(1, 100, () => Date.now());
    const order: number[] = [];
    const all = Promise.all([0, 1, 2, 3].map((i) => l.take().then(() => order.push(i))));
    await vi.advanceTimersByTimeAsync(400);
    await all;
    expect(order).toEqual([0, 1, 2, 3]);
  });

  it('maps a rate to a window: floor(qps) per second, or one call per 1/qps seconds below one, widened by the margin', () => {
    expect([WindowLimiter.perSecond(400).limit, WindowLimiter.perSecond(400).windowMs]).toEqual([400, 1000]);
    expect([WindowLimiter.perSecond(2.5).limit, WindowLimiter.perSecond(2.5).windowMs]).toEqual([2, 1000]);
    expect([WindowLimiter.perSecond(0.1).limit, WindowLimiter.perSecond(0.1).windowMs]).toEqual([1, 10_000]);
    expect(WindowLimiter.perSecond(20, 50).windowMs).toBe(1050);
    expect(() => WindowLimiter.perSecond(0)).toThrow(/positive/);
  });
});
