import { z } from 'zod';

/** The simulator's routes; a fault is injected per route and consumed by its next requests. */
export const SimRoute = z.enum([
  'auth',
  'dds-tokens.get',
  'dds-tokens.post',
  'dds-tokens.patch',
  'activation',
  'activation-page',
  'shares',
]);
export type SimRoute = z.infer<typeof SimRoute>;

export const SimFault = z.discriminatedUnion('kind', [
  /** answer with this status and a problem+json body (5xx by default) */
  z.object({ kind: z.literal('status'), status: z.number().int().min(400).max(599).default(503) }),
  /** never answer: the client's timeout must fire */
  z.object({ kind: z.literal('hang') }),
  /** 200 with a truncated JSON body */
  z.object({ kind: z.literal('malformed') }),
  /** 200 with a body larger than any client should accept, streamed without Content-Length */
  z.object({ kind: z.literal('oversized'), bytes: z.number().int().positive().default(2 * 1024 * 1024) }),
  /** 302 to a login page (e.g. a workspace asking for sign-in): nothing is downloaded */
  z.object({ kind: z.literal('redirect'), location: z.string().default('https://login.example.com/') }),
  /** 429 with Retry-After */
  z.object({ kind: z.literal('rateLimit'), retryAfterSeconds: z.number().int().nonnegative().default(30) }),
]);
export type SimFault = z.output<typeof SimFault>;
export type SimFaultInput = z.input<typeof SimFault>;

/** Body of `POST /_sim/faults`. */
export const FaultRequest = z.object({
  route: SimRoute,
  times: z.number().int().positive().default(1),
  fault: SimFault,
});

export class DdsFaults {
  private readonly queues = new Map<SimRoute, SimFault[]>();

  /** the next `times` requests on `route` get this fault instead of their normal answer */
  inject(route: SimRoute, fault: SimFaultInput, times = 1): void {
    const parsed = SimFault.parse(fault);
    const queue = this.queues.get(route) ?? [];
    for (let i = 0; i < times; i++) queue.push(parsed);
    this.queues.set(route, queue);
  }

  take(route: SimRoute): SimFault | undefined {
    return this.queues.get(route)?.shift();
  }

  clear(): void {
    this.queues.clear();
  }

  pending(): Partial<Record<SimRoute, SimFault[]>> {
    return Object.fromEntries([...this.queues].filter(([, q]) => q.length > 0));
  }
}
