import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { KubeClient, KubeObject } from './kube-client.js';

export type EventType = 'Normal' | 'Warning';

/** how many distinct events are remembered for aggregation */
export const MAX_SEEN = 4096;

export interface EventRecorder {
  record(obj: KubeObject, type: EventType, reason: string, message: string): void;
}

/**
 * Records core/v1 Events, aggregating repeats of the same (object, reason, message) into one
 * Event with a count, as client-go's recorder does, so a flapping provider cannot flood etcd.
 * Fire-and-forget: an event that cannot be written must never fail a reconcile.
 */
export class KubeEventRecorder implements EventRecorder {
  /**
   * Events written, for aggregating repeats: by a digest of (object uid, type, reason, message),
   * least recently used first, at most MAX_SEEN (client-go's correlator keeps an LRU of 4096).
   * The digest, not the key itself: messages are long and there is one entry per rotation.
   */
  private readonly seen = new Map<string, { name: string; count: number }>();

  constructor(
    private readonly client: KubeClient,
    private readonly component: string,
    private readonly logger: Logger,
    private readonly now: () => Date = () => new Date(),
  ) {}

  record(obj: KubeObject, type: EventType, reason: string, message: string): void {
    void this.write(obj, type, reason, message).catch((e: unknown) =>
      this.logger.debug({ err: e instanceof Error ? e.message : String(e), reason }, 'event not recorded'),
    );
  }

  private async write(obj: KubeObject, type: EventType, reason: string, message: string): Promise<void> {
    const ns = obj.metadata?.namespace ?? 'default';
    const key = createHash('sha256').update(`${obj.metadata?.uid}|${type}|${reason}|${message}`).digest().subarray(0, 16).toString('base64url');
    const ts = this.now().toISOString();
    const prev = this.seen.get(key);
    const path = `/api/v1/namespaces/${encodeURIComponent(ns)}/events`;
    if (prev) {
      prev.count++;
      // most recently used last
      this.seen.delete(key);
      this.seen.set(key, prev);
      await this.client.patch(`${path}/${prev.name}`, { count: prev.count, lastTimestamp: ts }, 'merge');
      return;
    }
    const name = `${obj.metadata?.name}.${this.now().getTime().toString(16)}${Math.floor(Math.random() * 0xffff).toString(16)}`;
    if (this.seen.size >= MAX_SEEN) this.seen.delete(this.seen.keys().next().value!);
    this.seen.set(key, { name, count: 1 });
    await this.client.create(path, {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name, namespace: ns },
      involvedObject: {
        apiVersion: obj.apiVersion,
        kind: obj.kind,
        name: obj.metadata?.name,
        namespace: ns,
        uid: obj.metadata?.uid,
        resourceVersion: obj.metadata?.resourceVersion,
      },
      type,
      reason,
      message: message.slice(0, 1024),
      source: { component: this.component },
      reportingComponent: this.component,
      reportingInstance: process.env.POD_NAME ?? 'local',
      firstTimestamp: ts,
      lastTimestamp: ts,
      count: 1,
    });
  }
}
