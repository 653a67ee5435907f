import { describe, expect, it } from 'vitest';
import { Fifo, RoundRobin, tenantOf } from '../../../src/schedule/round-robin.js';
import { WorkerPool } from '../../../src/runtime/worker-pool.js';

describe('Fifo', () => {
  it('keeps order across compactions', () => {
    const f = new Fifo<number>();
    const out: number[] = [];
    for (let i = 0; i < 5000; i++) {
      f.push(i);
      if (i % 3 === 0) out.push(f.shift()!);
    }
    while (f.length) out.push(f.shift()!);
    expect(out).toEqual(Array.from({ length: 5000 }, (_, i) => i));
    expect(f.shift()).toBeUndefined();
  });
});

describe('RoundRobin', () => {
  it('takes one item per tenant in turn, FIFO within a tenant, and forgets empty tenants', () => {
    const r = new RoundRobin<string>();
    for (const [t, v] of [['a', 'a1'], ['a', 'a2'], ['a', 'a3'], ['b', 'b1'], ['c', 'c1'], ['c', 'c2']] as const) r.push(t, v);
    expect(r.size).toBe(6);
    expect(r.tenants).toBe(3);
    const out: string[] = [];
    for (let v = r.shift(); v !== undefined; v = r.shift()) out.push(v);
    expect(out).toEqual(['a1', 'b1', 'c1', 'a2', 'c2', 'a3']);
    expect(r.size).toBe(0);
    expect(r.tenants).toBe(0);
  });

  it('a tenant arriving late is served after at most one item of each tenant ahead of it', () => {
    const r = new RoundRobin<string>();
    for (let i = 0; i < 1000; i++) r.push('herd', `h${i}`);
    r.shift();
    r.push('late', 'x');
    expect([r.shift(), r.shift()]).toEqual(['h1', 'x']);
  });
});

describe('tenantOf', () => {
  it('is the namespace of a namespace/name key', () => {
    expect(tenantOf('team-a/token')).toBe('team-a');
    expect(tenantOf('cluster-scoped')).toBe('');
  });
});

describe('WorkerPool', () => {
  it('hands a freed slot to waiters round-robin by tenant', async () => {
    const pool = new WorkerPool(1);
    await pool.acquire('herd');
    const order: string[] = [];
    const wait = (tenant: string, name: string) => void pool.acquire(tenant).then(() => order.push(name));
    for (let i = 0; i < 5; i++) wait('herd', `h${i}`);
    wait('victim', 'v');
    for (let i = 0; i < 6; i++) {
      pool.release();
      await Promise.resolve();
    }
    await new Promise((r) => setTimeout(r, 0));
    expect(order).toEqual(['h0', 'v', 'h1', 'h2', 'h3', 'h4']);
    expect(pool.busy).toBe(1);
  });
});
