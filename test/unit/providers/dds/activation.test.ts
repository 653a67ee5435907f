import { describe, expect, it } from 'vitest';
import {
  ACTIVATION_CONSUMED,
  ACTIVATION_REDIRECTED,
  ACTIVATION_UNREADABLE,
  DeltaSharingProfileSchema,
  activationApiUrl,
  profileExpiry,
} from '../../../../src/providers/dds/index.js';
import { rejection, startWorld } from './world.js';

const TOKEN = 'a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718';

describe('activationApiUrl', () => {
  it('turns the HTML page link into the 2.1 API route', () => {
    expect(activationApiUrl(`https://dbc-1.cloud.databricks.com/delta_sharing/retrieve_config.html?${TOKEN}`)).toBe(
      `https://dbc-1.cloud.databricks.com/api/2.1/unity-catalog/public/data_sharing_activation/${TOKEN}`,
    );
  });

  it('keeps a path prefix in front of the page', () => {
    expect(activationApiUrl(`http://127.0.0.1:9/ws/delta_sharing/retrieve_config.html?${TOKEN}`)).toBe(
      `http://127.0.0.1:9/ws/api/2.1/unity-catalog/public/data_sharing_activation/${TOKEN}`,
    );
  });

  it('accepts the 2.0 and 2.1 API routes as they are', () => {
    for (const v of ['2.0', '2.1']) {
      const link = `https://h.example/api/${v}/unity-catalog/public/data_sharing_activation/${TOKEN}`;
      expect(activationApiUrl(link)).toBe(link);
    }
  });

  it('refuses other links without echoing them', async () => {
    for (const link of [
      `not a url ${TOKEN}`,
      `ftp://h.example/delta_sharing/retrieve_config.html?${TOKEN}`,
      'https://h.example/delta_sharing/retrieve_config.html',
      `https://h.example/somewhere/else?${TOKEN}`,
    ]) {
      const e = await rejection(Promise.resolve().then(() => activationApiUrl(link)));
      expect(e).toMatchObject({ kind: 'Invalid', code: 'InvalidActivationLink' });
      expect(e.message).not.toContain(TOKEN);
    }
  });
});

describe('DeltaSharingProfileSchema', () => {
  it('is lenient where the download cannot be repeated', () => {
    const base = { endpoint: 'https://h.example/api/2.0/delta-sharing/metastores/m', bearerToken: 'b' };
    expect(DeltaSharingProfileSchema.parse(base)).toEqual({ ...base, shareCredentialsVersion: 1, expirationTime: undefined });
    expect(DeltaSharingProfileSchema.parse({ ...base, shareCredentialsVersion: '2', type: 'bearer_token', expirationTime: '1767225600000' }))
      .toEqual({ ...base, shareCredentialsVersion: 2, type: 'bearer_token', expirationTime: '2026-01-01T00:00:00.000Z' });
    expect(DeltaSharingProfileSchema.parse({ ...base, expirationTime: 'next tuesday' }).expirationTime).toBe('next tuesday');
    expect(DeltaSharingProfileSchema.safeParse({ ...base, bearerToken: '' }).success).toBe(false);
  });
});

describe('activate against the simulator', () => {
  it('downloads the profile behind an HTML activation link, once', async () => {
    const { sim, provider, account } = await startWorld();
    const [token] = await provider.listTokens(account);
    expect(token?.activationLink).toMatch(/\/delta_sharing\/retrieve_config\.html\?/);

    const profile = await provider.activate(token!.activationLink!);
    expect(profile).toMatchObject({ shareCredentialsVersion: 1, endpoint: `${sim.url}/delta-sharing/` });
    expect(profile.bearerToken).toBe(sim.state.tokens[0]!.bearerToken);
    expect(profile.expirationTime).toBe(token!.expirationTime!.toISOString());
    expect(profileExpiry(profile)).toEqual(token!.expirationTime);

    // The list no longer hands out the link once it was used (§1.3).
    const [after] = await provider.listTokens(account);
    expect(after?.activationLink).toBeNull();

    const second = await rejection(provider.activate(token!.activationLink!));
    expect(second).toMatchObject({ kind: 'NotFound', code: ACTIVATION_CONSUMED, status: 400 });
  });

  it('normalises an epoch-ms expirationTime to ISO, and accepts a 2.0 API link', async () => {
    const { provider, account } = await startWorld({
      settings: { expirationTimeFormat: 'epoch-ms', activationLinkForm: 'api-2.0' },
    });
    const [token] = await provider.listTokens(account);
    expect(token?.activationLink).toContain('/api/2.0/unity-catalog/public/data_sharing_activation/');
    const profile = await provider.activate(token!.activationLink!);
    expect(profile.expirationTime).toBe(token!.expirationTime!.toISOString());
  });

  it('keeps unknown profile fields so config.share is what Databricks served', async () => {
    const { sim, provider, account } = await startWorld();
    const [token] = await provider.listTokens(account);
    const profile = await provider.activate(token!.activationLink!);
    expect(Object.keys(profile).sort()).toEqual(['bearerToken', 'endpoint', 'expirationTime', 'shareCredentialsVersion']);
    expect(sim.state.tokens[0]?.downloaded).toBe(true);
  });

  it('treats an unknown or consumed link the same way', async () => {
    const { sim, provider } = await startWorld();
    const e = await rejection(provider.activate(`${sim.url}/delta_sharing/retrieve_config.html?${TOKEN}`));
    expect(e).toMatchObject({ kind: 'NotFound', code: ACTIVATION_CONSUMED, status: 404 });
  });

  it('maps a 5xx to Retryable and leaves the link usable', async () => {
    const { sim, provider, account } = await startWorld();
    const [token] = await provider.listTokens(account);
    sim.faults.inject('activation', { kind: 'status', status: 502 });
    expect(await rejection(provider.activate(token!.activationLink!))).toMatchObject({ kind: 'Retryable', status: 502 });
    await expect(provider.activate(token!.activationLink!)).resolves.toHaveProperty('bearerToken');
  });

  it('a redirect is not "already consumed": nothing was downloaded, the link still works', async () => {
    const { sim, provider, account } = await startWorld();
    const [token] = await provider.listTokens(account);
    sim.faults.inject('activation', { kind: 'redirect', location: 'https://login.example.com/?next=x' });
    const e = await rejection(provider.activate(token!.activationLink!));
    expect(e).toMatchObject({ kind: 'Retryable', code: ACTIVATION_REDIRECTED, status: 302 });
    expect(e.message).not.toContain('login.example.com');
    expect(sim.state.tokens[0]?.downloaded).toBe(false);
    await expect(provider.activate(token!.activationLink!)).resolves.toHaveProperty('bearerToken');
  });

  it('flags an unreadable 200 (the one download may be spent)', async () => {
    const { sim, provider, account } = await startWorld();
    const [token] = await provider.listTokens(account);
    sim.faults.inject('activation', { kind: 'malformed' });
    expect(await rejection(provider.activate(token!.activationLink!))).toMatchObject({
      kind: 'BadResponse',
      code: ACTIVATION_UNREADABLE,
    });
    sim.faults.inject('activation', { kind: 'oversized' });
    expect(await rejection(provider.activate(token!.activationLink!))).toMatchObject({
      kind: 'BadResponse',
      code: ACTIVATION_UNREADABLE,
    });
  });
});

describe('verify', () => {
  it('lists shares with the downloaded bearer token and refuses others', async () => {
    const { sim, provider, account } = await startWorld();
    const [token] = await provider.listTokens(account);
    const profile = await provider.activate(token!.activationLink!);
    await expect(provider.verify(profile)).resolves.toEqual({ sharesVisible: 1 });
    expect(sim.state.log.at(-1)).toMatchObject({ path: '/delta-sharing/shares', status: 200 });

    const e = await rejection(provider.verify({ ...profile, bearerToken: 'not-a-token' }));
    expect(e).toMatchObject({ kind: 'Unauthorized', status: 401, code: 'UNAUTHENTICATED' });
  });

  it('maps faults by status', async () => {
    const { sim, provider, account } = await startWorld();
    const [token] = await provider.listTokens(account);
    const profile = await provider.activate(token!.activationLink!);
    sim.faults.inject('shares', { kind: 'status', status: 403 });
    expect(await rejection(provider.verify(profile))).toMatchObject({ kind: 'Unauthorized', status: 403 });
    sim.faults.inject('shares', { kind: 'status', status: 500 });
    expect(await rejection(provider.verify(profile))).toMatchObject({ kind: 'Retryable' });
    sim.faults.inject('shares', { kind: 'malformed' });
    expect(await rejection(provider.verify(profile))).toMatchObject({ kind: 'BadResponse' });
  });
});
