import { describe, expect, it } from 'vitest';
import type { DdsProviderSpec } from '../../../../src/api/index.js';
import type { ShareTokenIssue } from '../../../../src/providers/contracts.js';
import type { IssueCall, ProviderCall } from '../../../../src/providers/credential-provider.js';
import { ddsCredentialProvider } from '../../../../src/providers/dds/credential-provider.js';
import { DEMO_CLIENT } from '../../../simulators/dds/server.js';
import type { SimSettings } from '../../../simulators/dds/state.js';
import { startWorld } from './world.js';

/** The DeltaShareToken provider as the skeleton calls it: one issue, what it writes, what it verifies. */
async function world(settings: Partial<SimSettings> = {}) {
  const w = await startWorld({ settings });
  const dds = ddsCredentialProvider({ http: w.http, clock: w.clock, allowInsecureHttp: true }, w.provider);
  const spec: DdsProviderSpec = { apiUrl: w.sim.url, credentialsSecretRef: { name: 'zdirect' }, allowInsecureHttp: true };
  const base: ProviderCall<DdsProviderSpec> = {
    spec,
    inputs: { clientId: DEMO_CLIENT.clientId, clientSecret: DEMO_CLIENT.clientSecret },
    now: w.clock.now(),
    allowInsecureHttp: true,
    step: () => undefined,
  };
  const issue = (params: Partial<ShareTokenIssue> = {}) => {
    const call: IssueCall<DdsProviderSpec, ShareTokenIssue> = {
      ...base,
      save: async () => undefined,
      params: { rotate: false, revokeAllFirst: false, overlapSeconds: 3600, downloaded: [], ...params },
    };
    return dds.issue(call);
  };
  return { ...w, dds, base, issue };
}

describe('DDS credential provider: config.share as the server served it', () => {
  it('keeps every field of a version 2 bearer profile, its type included', async () => {
    const { sim, issue } = await world({ profileForm: 'v2-bearer' });
    const issued = await issue();
    const served = JSON.parse(issued.data['config.share']!) as Record<string, unknown>;
    expect(served).toMatchObject({ shareCredentialsVersion: 2, type: 'bearer_token', sharingPlatform: 'dds-simulator', bearerToken: sim.state.tokens[0]!.bearerToken });
    expect(issued.data.bearerToken).toBe(sim.state.tokens[0]!.bearerToken);
    expect(issued.data.endpoint).toBe(served.endpoint);
  });

  it('passes an OAuth profile (version 2, no bearer token) through, and has nothing to verify', async () => {
    const { dds, base, issue } = await world({ profileForm: 'v2-oauth' });
    const issued = await issue();
    expect(JSON.parse(issued.data['config.share']!)).toMatchObject({ shareCredentialsVersion: 2, type: 'oauth_client_credentials', tokenEndpoint: expect.any(String), clientId: expect.any(String) });
    expect(issued.data).not.toHaveProperty('bearerToken');
    await expect(dds.verify!(base, issued.data)).resolves.toBeUndefined();
  });
});

describe('DDS credential provider: what was downloaded is known by token id', () => {
  it('never downloads a link again that DDS still lists after the download: it rotates for a new one', async () => {
    const { sim, issue } = await world({ linkAfterDownload: 'kept' });
    const first = await issue();
    expect(sim.state.tokens).toHaveLength(1);
    const again = await issue({ rotate: true, downloaded: [first.tokenId!] });
    expect(again.tokenId).not.toBe(first.tokenId);
    expect(sim.state.tokens.map((t) => t.status).sort()).toEqual(['ACTIVE', 'ROTATED']);
    expect(again.data.bearerToken).toBe(sim.state.tokens.find((t) => t.status === 'ACTIVE')!.bearerToken);
  });
});
