import { splitKey, type ObjectCache } from '../../runtime/informer.js';
import type { KubeObject } from '../../runtime/kube-client.js';
import type { Claimant } from './ownership.js';

/**
 * The token resources of every kind, as the target-Secret rules need to see them
 * (ownership.ts): is a claimant still there, and which resources read a given Secret as an
 * input. Built on the kinds' own caches and kept current by their events: a lookup is a map
 * read, so the check runs on every reconcile without a request.
 */
export class ResourceIndex {
  private readonly caches = new Map<string, ObjectCache<KubeObject>>();
  /**
   * "<namespace>/<secret name>" → keys "<kind>/<name>" of the resources reading it: the key
   * itself for the usual one reader (a Set each cost about 200 bytes more at 10k resources)
   */
  private readonly readersBySecret = new Map<string, string | Set<string>>();

  /** Follows one kind's cache (call before the cache starts: its initial list arrives as events). */
  track(kind: string, cache: ObjectCache<KubeObject>): void {
    this.caches.set(kind, cache);
    cache.on((event, obj, old) => {
      if (event === 'resync') return;
      if (old) this.unindex(kind, old);
      if (event !== 'delete') this.index(kind, obj);
      else this.unindex(kind, obj);
    });
  }

  /** Is this token resource (same uid) still there? Unknown kinds count as gone. */
  alive(namespace: string, c: Claimant): boolean {
    return this.caches.get(c.kind)?.get(namespace, c.name)?.metadata?.uid === c.uid;
  }

  /** The token resources in the namespace that read Secret `secretName` as an input. */
  readers(namespace: string, secretName: string): Claimant[] {
    const found = this.readersBySecret.get(`${namespace}/${secretName}`);
    if (found === undefined) return [];
    const out: Claimant[] = [];
    for (const key of typeof found === 'string' ? [found] : found) {
      // "<kind>/<name>": the same shape as a queue key
      const { namespace: kind, name } = splitKey(key);
      const uid = this.caches.get(kind)?.get(namespace, name)?.metadata?.uid;
      if (uid) out.push({ kind, name, uid });
    }
    return out;
  }

  private index(kind: string, obj: KubeObject): void {
    const ns = obj.metadata?.namespace;
    const name = obj.metadata?.name;
    if (!ns || !name) return;
    const reader = `${kind}/${name}`;
    for (const secret of inputSecretNames(obj.spec)) {
      const k = `${ns}/${secret}`;
      const found = this.readersBySecret.get(k);
      if (found === undefined || found === reader) this.readersBySecret.set(k, reader);
      else if (typeof found === 'string') this.readersBySecret.set(k, new Set([found, reader]));
      else found.add(reader);
    }
  }

  private unindex(kind: string, obj: KubeObject): void {
    const ns = obj.metadata?.namespace;
    const name = obj.metadata?.name;
    if (!ns || !name) return;
    const reader = `${kind}/${name}`;
    for (const secret of inputSecretNames(obj.spec)) {
      const k = `${ns}/${secret}`;
      const found = this.readersBySecret.get(k);
      if (found === undefined) continue;
      if (typeof found === 'string') {
        if (found === reader) this.readersBySecret.delete(k);
        continue;
      }
      found.delete(reader);
      if (found.size === 1) this.readersBySecret.set(k, found.values().next().value!);
    }
  }
}

/**
 * The Secrets a spec reads: every `…SecretRef` / `secretKeyRef` object with a name, at any depth
 * (the API's naming rule for references, so a new provider block is covered without a list
 * here). `target` is what the resource writes, not an input.
 */
export function inputSecretNames(spec: unknown): string[] {
  const out = new Set<string>();
  const walk = (node: unknown, depth: number): void => {
    if (node === null || typeof node !== 'object' || depth > 8) return;
    for (const [k, v] of Object.entries(node as Record<string, unknown>)) {
      if (depth === 0 && k === 'target') continue;
      if ((k.endsWith('SecretRef') || k === 'secretKeyRef') && v && typeof v === 'object') {
        const name = (v as { name?: unknown }).name;
        if (typeof name === 'string') out.add(name);
      } else {
        walk(v, depth + 1);
      }
    }
  };
  walk(spec, 0);
  return [...out];
}
