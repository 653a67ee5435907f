import type { KubeClient, KubeObject } from '../../runtime/kube-client.js';

/**
 * A problem with what the user referenced (missing Secret, missing key, garbage value).
 * Like a provider refusal it needs a human, so it stalls with a message naming the field.
 */
export class InputError extends Error {
  constructor(
    readonly reason: 'SecretNotFound' | 'SecretKeyMissing' | 'InvalidSecretValue' | 'InvalidSpec' | 'InsecureEndpoint' | 'SecretTooLarge',
    message: string,
  ) {
    super(message);
    this.name = 'InputError';
  }
}

export interface SecretRefLike {
  name: string;
  key?: string;
}

/** The default of the operator's maxInputSecretBytes (config.ts). */
export const DEFAULT_MAX_INPUT_SECRET_BYTES = 256 * 1024;

/**
 * Reads referenced Secrets in the resource's own namespace, on demand (never cached wholesale;
 * one reader lives for one reconcile). A Secret holding more than `maxBytes` of data is refused
 * whole, before any of it is used: what a namespace user puts into a Secret must not become
 * what the operator keeps in memory or sends on.
 */
export class SecretReader {
  private readonly cache = new Map<string, KubeObject | undefined>();

  constructor(
    private readonly client: KubeClient,
    private readonly namespace: string,
    private readonly maxBytes = DEFAULT_MAX_INPUT_SECRET_BYTES,
  ) {}

  private async secret(name: string, field: string): Promise<KubeObject | undefined> {
    if (!this.cache.has(name)) {
      const s = await this.client.find(`/api/v1/namespaces/${encodeURIComponent(this.namespace)}/secrets/${encodeURIComponent(name)}`);
      const size = s ? decodedSize(s) : 0;
      if (size > this.maxBytes) {
        throw new InputError(
          'SecretTooLarge',
          `${field}: Secret "${name}" holds ${size} bytes of data, more than the ${this.maxBytes} the operator reads from an input Secret (its maxInputSecretBytes setting); keep only the keys this resource needs in it`,
        );
      }
      // only the data is kept, for the rest of this reconcile
      this.cache.set(name, s && { data: s.data });
    }
    return this.cache.get(name);
  }

  /** The decoded value of `key` in Secret `name`; `field` names the spec field for messages. */
  async value(name: string, key: string, field: string): Promise<string> {
    const s = await this.secret(name, field);
    if (!s) throw new InputError('SecretNotFound', `${field}: Secret "${name}" not found in namespace "${this.namespace}"`);
    const raw = (s.data as Record<string, string> | undefined)?.[key];
    if (raw === undefined) throw new InputError('SecretKeyMissing', `${field}: Secret "${name}" has no key "${key}"`);
    const value = Buffer.from(raw, 'base64').toString('utf8').trim();
    if (!value) throw new InputError('InvalidSecretValue', `${field}: key "${key}" of Secret "${name}" is empty`);
    return value;
  }

  /** Like value(), but raw bytes (binary data such as keys or files). */
  async bytes(name: string, key: string, field: string): Promise<Buffer> {
    const s = await this.secret(name, field);
    if (!s) throw new InputError('SecretNotFound', `${field}: Secret "${name}" not found in namespace "${this.namespace}"`);
    const raw = (s.data as Record<string, string> | undefined)?.[key];
    if (raw === undefined) throw new InputError('SecretKeyMissing', `${field}: Secret "${name}" has no key "${key}"`);
    return Buffer.from(raw, 'base64');
  }
}

/** Bytes of decoded data in a Secret (from the base64 lengths: nothing is decoded to count). */
function decodedSize(s: KubeObject): number {
  let n = 0;
  for (const v of Object.values((s.data ?? {}) as Record<string, string>)) n += Math.floor((v.length * 3) / 4) - (v.endsWith('==') ? 2 : v.endsWith('=') ? 1 : 0);
  return n;
}

/** Refuses http:// unless both the resource and the operator allow it. */
export function checkEndpoint(url: string | undefined, field: string, resourceAllows: boolean | undefined, operatorAllows: boolean): void {
  if (!url || url.startsWith('https://')) return;
  if (resourceAllows && operatorAllows) return;
  throw new InputError(
    'InsecureEndpoint',
    `${field}: plain http is refused; use https, or set allowInsecureHttp and run the operator with --allow-insecure-http (local testing only)`,
  );
}
