import type { InputRef, InputValues } from '../../providers/credential-provider.js';
import type { AnyCredentialProvider } from '../../providers/registry.js';
import { dataHmac } from './secret-state.js';
import { readPrivate } from './state-secret.js';
import { InputError, readInputs, type SecretReader } from './inputs.js';
import type { KindContext } from './kind.js';

/**
 * A credential chain (providers with traits.chain: a rotating refresh token, an access token and its
 * management URL): a person gives a seed once; every renewal presents the credential the last
 * one returned, and may spend it. These status fields carry the chain across crashes: a kind
 * whose providers have chains declares them in its status schema.
 */
export interface ChainStatus {
  /** set before a renewal is sent, cleared when its answer is written: a crash in between is a recovery */
  pendingRefreshSince?: string;
  /** keyed HMAC of the seed the live credential descends from: a different seed is a person's new one */
  seedHMAC?: string;
  /** the provider refused the credential for good: no call until a new seed, a spec change or a rotate request */
  credentialRefused?: string;
}

export type CredentialSource = 'seed' | 'stored' | 'memory';

/**
 * Which credential to present, given what is at hand. The seed is only a starting point: once
 * the operator has renewed it, the live credential is the one it keeps (with rotation on, the
 * seed is spent).
 *
 * - The seed's HMAC differs from the recorded one → a person pasted a new seed: use it.
 * - Otherwise the kept credential (state Secret); failing that the one this process last
 *   wrote; failing that the seed (nothing else left to try).
 * - Nothing recorded yet but a kept credential exists (status lost) → trust it: presenting a
 *   spent seed would, at some providers, end the live session too.
 */
export function chooseCredential(input: { seedHmac: string | undefined; recordedSeedHmac: string | undefined; hasStored: boolean; hasMemory: boolean }): CredentialSource | undefined {
  const { seedHmac, recordedSeedHmac } = input;
  if (seedHmac !== undefined && recordedSeedHmac !== undefined && seedHmac !== recordedSeedHmac) return 'seed';
  if (input.hasStored) return 'stored';
  if (input.hasMemory) return 'memory';
  if (seedHmac !== undefined) return 'seed';
  return undefined;
}

/**
 * Whether a failed provider call certainly changed nothing at the provider, so the credential
 * presented is still the live one. Only a definite 4xx answer (or a request refused before it
 * was sent) says so: a 5xx may come from a proxy after the server committed, and a timeout or
 * a crash tells nothing.
 */
export function failedWithoutEffect(e: { status?: number; kind?: string } | undefined): boolean {
  if (!e) return false;
  if (e.status !== undefined) return e.status >= 400 && e.status < 500;
  return e.kind === 'Invalid';
}

export interface Seed {
  /** the seed as a private credential (the chain's keys) */
  credential?: Record<string, string>;
  hmac?: string;
  error?: InputError;
}

/** The seed inputs of a chain provider, and the rest. */
export function splitInputs(provider: AnyCredentialProvider, block: unknown): { seed: Record<string, InputRef>; other: Record<string, InputRef> } {
  const names = provider.traits.chain?.seed ?? {};
  const seed: Record<string, InputRef> = {};
  const other: Record<string, InputRef> = {};
  for (const [n, ref] of Object.entries(provider.inputs(block))) (n in names ? seed : other)[n] = ref;
  return { seed, other };
}

/** The private credential the chain keys make of these values, when all are there. */
export function asCredential(provider: AnyCredentialProvider, values: InputValues | Record<string, string>, byPrivateKey = false): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  for (const [input, key] of Object.entries(provider.traits.chain?.seed ?? {})) {
    const v = values[byPrivateKey ? key : input];
    if (typeof v !== 'string' || v === '') return undefined;
    out[key] = v;
  }
  return out;
}

/** Reads the seed from the spec's Secrets; a missing one is reported, not thrown (the chain may not need it). */
export async function readSeed(provider: AnyCredentialProvider, block: unknown, prefix: string, reader: SecretReader, hmacKey: Buffer): Promise<Seed> {
  try {
    const values = await readInputs(reader, splitInputs(provider, block).seed, prefix);
    const credential = asCredential(provider, values);
    return credential ? { credential, hmac: dataHmac(hmacKey, credential) } : {};
  } catch (e) {
    if (e instanceof InputError) return { error: e };
    throw e;
  }
}

/**
 * The live credential the operator keeps: the state Secret's private part (one GET, at renewal
 * and revoke only); from older versions, or when the target exposes it, the target's copy (not a
 * templated one: its keys are the template's).
 */
export async function keptCredential(provider: AnyCredentialProvider, ctx: KindContext, namespace: string, uid: string): Promise<Record<string, string> | undefined> {
  const priv = await readPrivate(ctx.env.client, namespace, uid);
  const fromState = priv ? asCredential(provider, priv, true) : undefined;
  return fromState ?? (ctx.secret.exists && ctx.secret.owned && !ctx.secret.templated ? asCredential(provider, ctx.secret.data, true) : undefined);
}
