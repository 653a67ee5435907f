import { describe, expect, it } from 'vitest';
import { adviceFor, classify } from '../../../src/controllers/shared/failures.js';
import type { CredentialTraits, InputRef } from '../../../src/providers/credential-provider.js';
import { ProviderError } from '../../../src/providers/errors.js';

/** How a provider's refusal becomes a condition: its reason verbatim, and Kubernetes advice the provider never writes. */
const inputs = (): Record<string, InputRef> => ({
  seed: { field: 'refreshTokenSecretRef', name: 'seed-secret', key: 'refresh_token' },
  clientSecret: { field: 'clientSecretRef', name: 'client', key: 'client_secret' },
});
const chain: CredentialTraits = { oneTime: true, chain: { seed: { seed: 'refresh_token' }, lost: 'Lost', call: 'refresh', anew: 'Generate a new one and put it into' } };

describe('classify with a refusal', () => {
  it('uses the refusal reason verbatim, stalls, and appends the advice', () => {
    const e = new ProviderError('Unauthorized', 'refresh: HTTP 400 (invalid_grant)', { provider: 'x', call: 'refresh', refusal: { reason: 'TokenExpired', inputs: ['seed'] } });
    const f = classify(e, adviceFor({ inputs, traits: chain }, {}, 'x'));
    expect(f).toMatchObject({ reason: 'TokenExpired', transient: false });
    expect(f.message).toBe(
      'x refresh: HTTP 4xx (invalid_grant). Generate a new one and put it into Secret "seed-secret" key "refresh_token": the operator uses it as soon as the value changes.',
    );
  });

  it('names the spec fields and Secrets of a configuration refusal, and how to retry after a Secret-only fix', () => {
    const advise = adviceFor({ inputs, traits: { oneTime: false } }, {}, 'block');
    expect(advise({ reason: 'InvalidClient', config: ['clientId'], inputs: ['clientSecret'] })).toBe(
      'Fix spec.block.clientId, spec.block.clientSecretRef (Secret "client" key "client_secret"): a spec change retries at once; after changing only a Secret, set the token-operator.io/rotate annotation to a new value.',
    );
  });

  it('without a refusal: the reason and back-off tier of the error kind', () => {
    expect(classify(new ProviderError('Retryable', 'x: HTTP 503', { provider: 'p', call: 'x' }))).toMatchObject({ reason: 'ProviderUnavailable', transient: true });
    expect(classify(new ProviderError('Unauthorized', 'x: HTTP 401', { provider: 'p', call: 'x' }))).toMatchObject({ reason: 'ProviderUnauthorized', transient: false });
  });
});
