// `npm run dev` ends by proving, not assuming, that every sample's credential works: each token
// resource's target Secret is presented to the simulator that issued it, the way a consumer
// would. Used by quickstart.ts and by the test that runs `npm run dev` twice (test/dev/).

/** One token resource as `kubectl get … -o json` lists it. */
export interface TokenObject {
  kind: string;
  metadata: { name: string; namespace: string };
  spec: { target: { secretName: string }; gnap?: { walletAddressUrl: string }; privicore?: { apiUrl: string } };
  status?: { conditions?: Array<{ type: string; status: string; reason: string }> };
}

export interface CredentialCheck {
  /** Kind/namespace/name */
  resource: string;
  ready: boolean;
  readyReason: string;
  /** the simulator accepts the credential in the target Secret; undefined when no simulator can tell */
  accepted: boolean | undefined;
  /** what was asked, and what came back (no secret) */
  detail: string;
}

/** the target Secret's data, decoded; undefined when it is missing */
export type ReadSecret = (namespace: string, name: string) => Record<string, string> | undefined;

const status = async (url: string, headers: Record<string, string>): Promise<number> => {
  try {
    const res = await fetch(url, { headers, signal: AbortSignal.timeout(5000) });
    await res.body?.cancel();
    return res.status;
  } catch {
    return 0;
  }
};

export async function checkCredential(t: TokenObject, readSecret: ReadSecret): Promise<CredentialCheck> {
  const ready = t.status?.conditions?.find((c) => c.type === 'Ready');
  const base = { resource: `${t.kind}/${t.metadata.namespace}/${t.metadata.name}`, ready: ready?.status === 'True', readyReason: ready?.reason ?? '' };
  const data = readSecret(t.metadata.namespace, t.spec.target.secretName);
  if (!data) return { ...base, accepted: false, detail: `Secret ${t.spec.target.secretName} is missing` };
  switch (t.kind) {
    case 'DeltaShareToken': {
      // config.share, or the key a template put the profile under
      const profile = profileIn(data);
      if (!profile) return { ...base, accepted: false, detail: 'no Delta Sharing profile in the Secret' };
      const code = await status(`${profile.endpoint.replace(/\/+$/, '')}/shares?maxResults=1`, { authorization: `Bearer ${profile.bearerToken}` });
      return { ...base, accepted: code === 200, detail: `GET {endpoint}/shares with the profile's bearer token: ${code || 'no answer'}` };
    }
    case 'AccessToken': {
      if (!t.spec.gnap) return { ...base, accepted: undefined, detail: 'no simulator for this provider' };
      const origin = new URL(t.spec.gnap.walletAddressUrl).origin;
      // access_token, or a templated `Authorization` value that carries it
      const header = data.access_token !== undefined ? `GNAP ${data.access_token}` : Object.values(data).find((v) => v.startsWith('GNAP '));
      if (!header) return { ...base, accepted: false, detail: 'no access token in the Secret' };
      const code = await status(`${origin}/resource`, { authorization: header });
      return { ...base, accepted: code === 200, detail: `GET /resource with the access token: ${code || 'no answer'}` };
    }
    case 'DataToken': {
      if (!t.spec.privicore) return { ...base, accepted: undefined, detail: 'no simulator for this provider' };
      try {
        const res = await fetch(`${t.spec.privicore.apiUrl.replace(/\/+$/, '')}/_sim/state`, { signal: AbortSignal.timeout(5000) });
        const state = (await res.json()) as { dataTokens?: Array<{ token: string }> };
        // data_token, or whichever key a template put it under
        const values = new Set(Object.values(data));
        const known = (state.dataTokens ?? []).some((d) => values.has(d.token));
        return { ...base, accepted: known, detail: `the simulator ${known ? 'holds' : 'does not know'} the data token` };
      } catch {
        return { ...base, accepted: false, detail: 'the simulator did not answer' };
      }
    }
    default:
      return { ...base, accepted: undefined, detail: 'unknown kind' };
  }
}

/** the Delta Sharing profile among the Secret's values: `config.share` first, then any JSON value that is one */
function profileIn(data: Record<string, string>): { endpoint: string; bearerToken: string } | undefined {
  const values = ['config.share', ...Object.keys(data).filter((k) => k !== 'config.share')].map((k) => data[k]).filter((v) => v !== undefined);
  for (const v of values) {
    try {
      const p = JSON.parse(v) as { endpoint?: unknown; bearerToken?: unknown };
      if (typeof p.endpoint === 'string' && typeof p.bearerToken === 'string') return { endpoint: p.endpoint, bearerToken: p.bearerToken };
    } catch {
      /* not JSON: not a profile */
    }
  }
  return undefined;
}

export async function checkAll(tokens: TokenObject[], readSecret: ReadSecret): Promise<CredentialCheck[]> {
  return Promise.all(tokens.map((t) => checkCredential(t, readSecret)));
}

export function formatChecks(checks: CredentialCheck[]): string {
  return checks
    .map((c) => `${c.ready && c.accepted !== false ? 'ok  ' : 'FAIL'} ${c.resource}: Ready=${c.ready ? 'True' : 'False'} (${c.readyReason}); ${c.detail}`)
    .join('\n');
}
