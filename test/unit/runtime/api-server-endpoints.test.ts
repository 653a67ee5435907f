import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { apiServerEndpoints } from '../../../src/runtime/api-server-endpoints.js';
import { KubeApiError, type KubeClient } from '../../../src/runtime/kube-client.js';

const log = pino({ level: 'silent' });

function client(server: string, objects: Record<string, unknown>): KubeClient {
  return {
    server: new URL(server),
    get: async (path: string) => {
      if (path in objects) return objects[path];
      throw new KubeApiError(403, 'Forbidden', `GET ${path}: 403`);
    },
  } as unknown as KubeClient;
}

const SLICE = '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/kubernetes';
const ENDPOINTS = '/api/v1/namespaces/default/endpoints/kubernetes';

describe("the API server's endpoints, for the egress policy", () => {
  it("adds the kubernetes Service's EndpointSlice to the configured server", async () => {
    const c = client('https://10.96.0.1:443', {
      [SLICE]: { endpoints: [{ addresses: ['172.18.0.2'] }, { addresses: ['172.18.0.3'] }], ports: [{ name: 'https', port: 6443 }] },
    });
    expect(await apiServerEndpoints(c, log)).toEqual([
      { host: '10.96.0.1', port: 443 },
      { host: '172.18.0.2', port: 6443 },
      { host: '172.18.0.3', port: 6443 },
    ]);
  });

  it('falls back to the Endpoints object, and to the configured server alone when neither can be read', async () => {
    const c = client('https://[fd00::1]:6443', { [ENDPOINTS]: { subsets: [{ addresses: [{ ip: 'fd00::10' }], ports: [{ port: 6443 }] }] } });
    expect(await apiServerEndpoints(c, log)).toEqual([
      { host: 'fd00::1', port: 6443 },
      { host: 'fd00::10', port: 6443 },
    ]);
    expect(await apiServerEndpoints(client('https://127.0.0.1:16443', {}), log)).toEqual([{ host: '127.0.0.1', port: 16443 }]);
  });

  it('keeps the name of a server given by name, with the addresses it resolves to', async () => {
    const found = await apiServerEndpoints(client('https://localhost:6443', {}), log);
    expect(found[0]).toEqual({ host: 'localhost', port: 6443 });
    expect(found.slice(1).map((e) => e.host)).toContain('127.0.0.1');
  });
});
