import { createHash, createPrivateKey, type KeyObject } from 'node:crypto';
import { createHeaders } from '@interledger/http-signature-utils';
import { ProviderError } from '../errors.js';

/** The client identity a GNAP management request is signed with. */
export interface GnapClientIdentity {
  walletAddressUrl: string;
  keyId: string;
  /** PKCS#8 PEM of the client's Ed25519 private key */
  privateKeyPem: string;
}

export interface SignedRequest {
  url: string;
  headers: Record<string, string>;
}

/**
 * Signs one request without a body (token management, a resource-server probe) the way the official SDK does
 * (open-payments `signRequest` → http-signature-utils `createHeaders`): components
 * `@method`, `@target-uri`, `authorization`; params `keyid`, `created`; label `sig1`.
 */
export type GnapSigner = (req: { method: 'GET' | 'POST' | 'DELETE'; url: string; accessToken: string }) => Promise<SignedRequest>;

export interface SignerCache {
  signerFor(identity: GnapClientIdentity, call: string): GnapSigner;
  readonly size: number;
}

const PROVIDER = 'gnap';

/**
 * Parsed keys are cached per (walletAddressUrl, keyId, key fingerprint): a reconcile every
 * few minutes per resource should not re-parse PEM each time, and a changed key in the
 * Secret changes the fingerprint, so the old entry simply ages out. The fingerprint is a
 * SHA-256 of the PEM and is only a map key; it never reaches a message.
 */
export function createSignerCache(maxEntries = 256): SignerCache {
  const signers = new Map<string, GnapSigner>();
  return {
    get size() {
      return signers.size;
    },
    signerFor(identity, call) {
      const fingerprint = createHash('sha256').update(identity.privateKeyPem).digest('hex');
      const cacheKey = `${identity.walletAddressUrl}\u0000${identity.keyId}\u0000${fingerprint}`;
      const cached = signers.get(cacheKey);
      if (cached) {
        // refresh recency: Map iteration order is insertion order, so re-insert
        signers.delete(cacheKey);
        signers.set(cacheKey, cached);
        return cached;
      }
      const signer = makeSigner(parseEd25519PrivateKey(identity.privateKeyPem, call), identity.keyId);
      signers.set(cacheKey, signer);
      if (signers.size > maxEntries) {
        const oldest = signers.keys().next().value;
        if (oldest !== undefined) signers.delete(oldest);
      }
      return signer;
    },
  };
}

function makeSigner(privateKey: KeyObject, keyId: string): GnapSigner {
  return async ({ method, url, accessToken }) => {
    // Lower-case header names, as the SDK passes them (Headers.entries() lower-cases).
    const authorization = `GNAP ${accessToken}`;
    const signed = await createHeaders({
      request: { method, url, headers: { authorization } },
      privateKey,
      keyId,
    });
    return {
      url,
      headers: {
        authorization,
        signature: signed.Signature,
        'signature-input': signed['Signature-Input'],
      },
    };
  };
}

/** Errors say what is wrong with the key, never anything taken from it. */
export function parseEd25519PrivateKey(pem: string, call: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch {
    throw new ProviderError('Invalid', `${call}: the client private key is not a readable PEM private key`, {
      provider: PROVIDER,
      call,
      code: 'invalid_private_key',
    });
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new ProviderError(
      'Invalid',
      `${call}: the client private key is ${key.asymmetricKeyType ?? 'unknown'}, Open Payments requires Ed25519`,
      { provider: PROVIDER, call, code: 'invalid_private_key' },
    );
  }
  return key;
}
