import { describe, expect, it } from 'vitest';
import { ResourceIndex, inputSecretNames } from '../../../src/controllers/shared/resource-index.js';
import type { InformerHandler, ObjectCache } from '../../../src/runtime/informer.js';
import type { KubeObject } from '../../../src/runtime/kube-client.js';

/** A kind's cache as the index sees it: objects by name and the events that change them. */
function fakeCache(): ObjectCache<KubeObject> & { put(o: KubeObject): void; remove(o: KubeObject): void } {
  const objects = new Map<string, KubeObject>();
  const handlers: InformerHandler<KubeObject>[] = [];
  return {
    get: (_ns, name) => objects.get(name),
    list: () => [...objects.values()],
    upsert: () => undefined,
    on: (h) => void handlers.push(h),
    onUpsert: () => undefined,
    start: () => undefined,
    stop: () => undefined,
    synced: Promise.resolve(),
    put(o) {
      const old = objects.get(o.metadata!.name!);
      objects.set(o.metadata!.name!, o);
      for (const h of handlers) h(old ? 'update' : 'add', o, old);
    },
    remove(o) {
      objects.delete(o.metadata!.name!);
      for (const h of handlers) h('delete', o);
    },
  };
}

const dataToken = (name: string, source: string | undefined) => ({
  apiVersion: 'token-operator.io/v1alpha1',
  kind: 'DataToken',
  metadata: { name, namespace: 'team-a', uid: `uid-${name}` },
  spec: { privicore: { profileSecretRef: { name: 'profile' } }, ...(source ? { source: { secretKeyRef: { name: source, key: 'k' } } } : {}), target: { secretName: `${name}-out` } },
});

describe('ResourceIndex: who reads a Secret', () => {
  it('follows one reader, several, and each leaving, through adds, spec changes and deletes', () => {
    const index = new ResourceIndex();
    const cache = fakeCache();
    index.track('DataToken', cache);
    const names = (secret: string) => index.readers('team-a', secret).map((c) => c.name).sort();

    cache.put(dataToken('a', 'input-1'));
    expect(names('profile')).toEqual(['a']);
    expect(index.readers('team-a', 'profile')).toEqual([{ kind: 'DataToken', name: 'a', uid: 'uid-a' }]);
    cache.put(dataToken('b', 'input-1'));
    cache.put(dataToken('c', 'input-2'));
    expect(names('profile')).toEqual(['a', 'b', 'c']);
    expect(names('input-1')).toEqual(['a', 'b']);
    expect(names('a-out')).toEqual([]); // a target is not an input
    expect(index.readers('team-b', 'profile')).toEqual([]);

    cache.put(dataToken('b', 'input-2')); // b's spec now reads another Secret
    expect(names('input-1')).toEqual(['a']);
    expect(names('input-2')).toEqual(['b', 'c']);
    cache.remove(dataToken('a', 'input-1'));
    expect(names('input-1')).toEqual([]);
    expect(names('profile')).toEqual(['b', 'c']);
    cache.remove(dataToken('c', 'input-2'));
    cache.put(dataToken('b', undefined));
    expect(names('input-2')).toEqual([]);
    expect(names('profile')).toEqual(['b']);
    cache.remove(dataToken('b', undefined));
    expect(names('profile')).toEqual([]);
  });

  it('finds every …SecretRef and secretKeyRef, at any depth, but not the target', () => {
    expect(inputSecretNames(dataToken('a', 'in').spec).sort()).toEqual(['in', 'profile']);
  });
});
