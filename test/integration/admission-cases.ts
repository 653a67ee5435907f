/**
 * The admission corpus: manifests the API server must refuse (with the offending field named)
 * and manifests it must accept. Used by admission.test.ts against the real kube-apiserver
 * with the generated CRDs installed, sent the way `kubectl apply` sends them
 * (fieldValidation=Strict, so unknown fields are refused rather than silently dropped).
 */

export type Kind = 'DeltaShareToken' | 'AccessToken' | 'DataToken';
type Json = Record<string, unknown>;

export const PLURALS: Record<Kind, string> = {
  DeltaShareToken: 'deltasharetokens',
  AccessToken: 'accesstokens',
  DataToken: 'datatokens',
};

/** Removes the field at a path (value for `patch`). */
export const DROP = Symbol('drop');
type Patch = Record<string, unknown>;

export interface InvalidCase {
  id: string;
  kind: Kind;
  why: string;
  manifest: Json;
  /** the field path the API server's message must name, e.g. spec.rotation.rotateBefore */
  path: string;
  /** a fragment of the message that says what is wrong */
  hint?: string;
}

export interface ValidCase {
  id: string;
  kind: Kind;
  why: string;
  manifest: Json;
}

// Minimal valid specs; every invalid case is one of these with one thing broken.
const base: Record<Kind, () => Json> = {
  DeltaShareToken: () => ({
    dds: { apiUrl: 'https://api-sandbox.merchants.zalando.com', credentialsSecretRef: { name: 'zdirect-client' } },
    target: { secretName: 'zalando-dds-share' },
  }),
  AccessToken: () => ({
    oidc: {
      issuerUrl: 'https://datachain.example.fr/auth/realms/dc-realm',
      clientId: 'pydc',
      refreshTokenSecretRef: { name: 'datachain-seed', key: 'refresh_token' },
    },
    target: { secretName: 'datachain-token' },
  }),
  DataToken: () => ({
    privicore: { apiUrl: 'https://stage.privicore.com:9009', profileSecretRef: { name: 'privicore-profile' } },
    source: { secretKeyRef: { name: 'report-signing-key', key: 'key.pem' }, context: 'analytics.reports' },
    target: { secretName: 'report-key-token' },
  }),
};

const gnap = () => ({
  walletAddressUrl: 'https://ilp.interledger-test.dev/alice',
  keyId: 'my-key-1',
  privateKeySecretRef: { name: 'ilp-client-key', key: 'private.pem' },
  accessTokenSecretRef: { name: 'ilp-grant', key: 'access_token' },
  manageUrlSecretRef: { name: 'ilp-grant', key: 'manage_url' },
});

function manifest(kind: Kind, spec: Json): Json {
  return { apiVersion: 'token-operator.io/v1alpha1', kind, metadata: {}, spec };
}

/** Applies `patch` (dotted path → value, or DROP) to a copy of the kind's minimal manifest. */
function broken(kind: Kind, patch: Patch, from: Json = base[kind]()): Json {
  const m = manifest(kind, structuredClone(from));
  for (const [path, value] of Object.entries(patch)) {
    const parts = path.split('.');
    let node = m;
    for (const p of parts.slice(0, -1)) {
      if (typeof node[p] !== 'object' || node[p] === null) node[p] = {};
      node = node[p] as Json;
    }
    const last = parts[parts.length - 1]!;
    if (value === DROP) delete node[last];
    else node[last] = value;
  }
  return m;
}

const invalid: InvalidCase[] = [];
let n = 0;
function bad(kind: Kind, why: string, patch: Patch, path: string, hint?: string, from?: Json): void {
  invalid.push({ id: `bad-${String(++n).padStart(3, '0')}`, kind, why, manifest: broken(kind, patch, from), path, ...(hint ? { hint } : {}) });
}

const long = (len: number, ch = 'a') => ch.repeat(len);
const DST: Kind = 'DeltaShareToken';
const AT: Kind = 'AccessToken';
const DT: Kind = 'DataToken';
const gnapSpec = (): Json => ({ gnap: gnap(), target: { secretName: 'ilp-token' } });
const tokenRefSpec = (): Json => ({
  privicore: { apiUrl: 'https://stage.privicore.com:9009', profileSecretRef: { name: 'privicore-profile' } },
  tokenRef: { secretKeyRef: { name: 'shared-token', key: 'token' } },
  target: { secretName: 'shared-data' },
});

// ── missing required fields ────────────────────────────────────────────────────────────
bad(DST, 'no spec at all', { spec: DROP }, 'spec', 'Required value');
bad(DST, 'no provider block', { 'spec.dds': DROP }, 'spec.dds', 'Required value');
bad(DST, 'no DDS apiUrl', { 'spec.dds.apiUrl': DROP }, 'spec.dds.apiUrl', 'Required value');
bad(DST, 'no credentials reference', { 'spec.dds.credentialsSecretRef': DROP }, 'spec.dds.credentialsSecretRef', 'Required value');
bad(DST, 'no target', { 'spec.target': DROP }, 'spec.target', 'Required value');
bad(DST, 'target without secretName', { 'spec.target': { labels: { team: 'a' } } }, 'spec.target.secretName', 'Required value');
bad(AT, 'oidc without clientId', { 'spec.oidc.clientId': DROP }, 'spec.oidc.clientId', 'Required value');
bad(AT, 'oidc without refreshTokenSecretRef', { 'spec.oidc.refreshTokenSecretRef': DROP }, 'spec.oidc.refreshTokenSecretRef', 'Required value');
bad(AT, 'secret key reference without key', { 'spec.oidc.refreshTokenSecretRef': { name: 'datachain-seed' } }, 'spec.oidc.refreshTokenSecretRef.key', 'Required value');
bad(AT, 'gnap without keyId', { 'spec.gnap.keyId': DROP }, 'spec.gnap.keyId', 'Required value', gnapSpec());
bad(AT, 'gnap without manageUrlSecretRef', { 'spec.gnap.manageUrlSecretRef': DROP }, 'spec.gnap.manageUrlSecretRef', 'Required value', gnapSpec());
bad(DT, 'no privicore block', { 'spec.privicore': DROP }, 'spec.privicore', 'Required value');
bad(DT, 'source without context', { 'spec.source.context': DROP }, 'spec.source.context', 'Required value');
bad(DT, 'source without secretKeyRef', { 'spec.source.secretKeyRef': DROP }, 'spec.source.secretKeyRef', 'Required value');
bad(DT, 'tokenRef without its Secret', { 'spec.tokenRef': {} }, 'spec.tokenRef.secretKeyRef', 'Required value', tokenRefSpec());

// ── one-of: both or neither ────────────────────────────────────────────────────────────
bad(AT, 'neither oidc nor gnap', { 'spec.oidc': DROP }, 'spec', 'exactly one of oidc and gnap');
bad(AT, 'both oidc and gnap', { 'spec.gnap': gnap() }, 'spec', 'exactly one of oidc and gnap');
bad(AT, 'oidc with neither issuerUrl nor tokenUrl', { 'spec.oidc.issuerUrl': DROP }, 'spec.oidc', 'issuerUrl or tokenUrl');
bad(DT, 'neither source nor tokenRef', { 'spec.source': DROP }, 'spec', 'exactly one of source and tokenRef');
bad(DT, 'both source and tokenRef', { 'spec.tokenRef': { secretKeyRef: { name: 'shared-token', key: 'token' } } }, 'spec', 'exactly one of source and tokenRef');
bad(DST, 'rotateBefore and rotateBeforePercent', { 'spec.rotation': { rotateBefore: '720h', rotateBeforePercent: 33 } }, 'spec.rotation', 'not both');
bad(AT, 'rotateBefore and rotateBeforePercent (AccessToken)', { 'spec.rotation': { rotateBefore: '1m', rotateBeforePercent: 20 } }, 'spec.rotation', 'not both');

// ── wrong types ────────────────────────────────────────────────────────────────────────
bad(DST, 'spec is a string', { spec: 'dds' }, 'spec', 'must be of type object');
bad(DST, 'provider block is a string', { 'spec.dds': 'https://api.example.com' }, 'spec.dds', 'must be of type object');
bad(DST, 'overlap as a number of seconds', { 'spec.overlap': 3600 }, 'spec.overlap', 'must be of type string');
bad(DST, 'verify as a string', { 'spec.verify': 'yes' }, 'spec.verify', 'must be of type boolean');
bad(DST, 'suspend as a string', { 'spec.suspend': 'true' }, 'spec.suspend', 'must be of type boolean');
bad(DST, 'rotateBeforePercent as a string', { 'spec.rotation': { rotateBeforePercent: '33' } }, 'spec.rotation.rotateBeforePercent', 'must be of type integer');
bad(DST, 'rotateBeforePercent as a fraction', { 'spec.rotation': { rotateBeforePercent: 33.5 } }, 'spec.rotation.rotateBeforePercent', 'must be of type integer');
bad(AT, 'allowInsecureHttp as a string', { 'spec.oidc.allowInsecureHttp': 'true' }, 'spec.oidc.allowInsecureHttp', 'must be of type boolean');
bad(DST, 'label value as a number', { 'spec.target.labels': { replicas: 3 } }, 'spec.target.labels.replicas', 'must be of type string');
// strict decoding reads an object where a list belongs as unknown fields of the list
bad(DST, 'rolloutRestart as an object', { 'spec.target.rolloutRestart': { kind: 'Deployment', name: 'ingest' } }, 'spec.target.rolloutRestart.kind', 'unknown field');

// ── durations: negative, zero, unit-less, foreign syntax, absurd ───────────────────────
bad(DST, 'negative rotateBefore', { 'spec.rotation': { rotateBefore: '-1h' } }, 'spec.rotation.rotateBefore');
bad(DST, 'zero rotateBefore', { 'spec.rotation': { rotateBefore: '0s' } }, 'spec.rotation.rotateBefore', 'positive duration');
bad(DST, 'rotateBefore without a unit', { 'spec.rotation': { rotateBefore: '720' } }, 'spec.rotation.rotateBefore');
bad(DST, 'rotateBefore in days (not a Kubernetes unit)', { 'spec.rotation': { rotateBefore: '30d' } }, 'spec.rotation.rotateBefore');
bad(DST, 'ISO-8601 duration', { 'spec.overlap': 'PT1H' }, 'spec.overlap');
bad(DST, 'overlap that overflows a duration', { 'spec.overlap': '99999999999h' }, 'spec.overlap');
bad(DST, 'overlap of a century', { 'spec.overlap': '876000h' }, 'spec.overlap', 'at most 87600h');
bad(DT, 'zero authorizationTtl', { 'spec.privicore.authorizationTtl': '0m' }, 'spec.privicore.authorizationTtl', 'positive duration');
bad(DT, 'authorizationTtl with spaces', { 'spec.privicore.authorizationTtl': '24 h' }, 'spec.privicore.authorizationTtl');
bad(DT, 'overlong duration string', { 'spec.privicore.authorizationTtl': `${long(40, '1')}h` }, 'spec.privicore.authorizationTtl', 'Too long');
// ── floors: every interval at least what the runtime applies (issue #15) ─────────────────
bad(DT, 'checkInterval of 1ms', { 'spec.source.checkInterval': '1ms' }, 'spec.source.checkInterval', 'checkInterval must be at least 30s');
bad(DT, 'tokenRef checkInterval of 10s', { 'spec.tokenRef.checkInterval': '10s' }, 'spec.tokenRef.checkInterval', 'checkInterval must be at least 30s', tokenRefSpec());
bad(DT, 'refreshInterval of 1ms', { 'spec.refreshInterval': '1ms' }, 'spec.refreshInterval', 'refreshInterval must be at least 1m', tokenRefSpec());
bad(DT, 'authorizationTtl of 1m', { 'spec.privicore.authorizationTtl': '1m' }, 'spec.privicore.authorizationTtl', 'authorizationTtl must be at least 5m');
bad(DST, 'rotateBefore of 1ms', { 'spec.rotation': { rotateBefore: '1ms' } }, 'spec.rotation.rotateBefore', 'rotateBefore must be at least 10s');
bad(AT, 'revokeTimeout of 5s', { 'spec.revokeTimeout': '5s' }, 'spec.revokeTimeout', 'revokeTimeout must be at least 1m');
bad(DST, 'liveness interval of 30s', { 'spec.liveness': { interval: '30s' } }, 'spec.liveness.interval', 'liveness.interval must be "0" (the default) or a duration of at least 1m');
bad(DT, 'liveness interval of a century', { 'spec.liveness': { interval: '876000h' } }, 'spec.liveness.interval', 'at least 1m');
bad(AT, 'liveness interval that is no duration', { 'spec.liveness': { interval: 'hourly' } }, 'spec.liveness.interval');
bad(DST, 'an unknown creationPolicy', { 'spec.target.creationPolicy': 'Adopt' }, 'spec.target.creationPolicy', 'Unsupported value');

// ── percentages out of range ───────────────────────────────────────────────────────────
bad(DST, 'rotateBeforePercent 0', { 'spec.rotation': { rotateBeforePercent: 0 } }, 'spec.rotation.rotateBeforePercent', 'greater than or equal to 1');
bad(DST, 'rotateBeforePercent 100', { 'spec.rotation': { rotateBeforePercent: 100 } }, 'spec.rotation.rotateBeforePercent', 'less than or equal to 99');
bad(AT, 'rotateBeforePercent 150', { 'spec.rotation': { rotateBeforePercent: 150 } }, 'spec.rotation.rotateBeforePercent', 'less than or equal to 99');
bad(DST, 'negative jitterPercent', { 'spec.rotation': { jitterPercent: -1 } }, 'spec.rotation.jitterPercent', 'greater than or equal to 0');
bad(DT, 'jitterPercent 51', { 'spec.rotation': { jitterPercent: 51 } }, 'spec.rotation.jitterPercent', 'less than or equal to 50');

// ── cron ───────────────────────────────────────────────────────────────────────────────
const CRON = 'cron expression';
bad(DST, 'cron that is prose', { 'spec.rotation': { schedule: 'every monday at three' } }, 'spec.rotation.schedule', CRON);
bad(DST, 'cron of five words', { 'spec.rotation': { schedule: 'foo bar baz qux quux' } }, 'spec.rotation.schedule', CRON);
bad(DST, 'cron with three fields', { 'spec.rotation': { schedule: '0 3 *' } }, 'spec.rotation.schedule', CRON);
bad(DST, 'cron with seven fields', { 'spec.rotation': { schedule: '0 0 3 * * 1 2026' } }, 'spec.rotation.schedule', CRON);
bad(DST, 'cron minute 61', { 'spec.rotation': { schedule: '61 3 * * *' } }, 'spec.rotation.schedule', CRON);
bad(AT, 'cron hour 24', { 'spec.rotation': { schedule: '0 24 * * *' } }, 'spec.rotation.schedule', CRON);
bad(DT, 'cron day-of-month 0', { 'spec.rotation': { schedule: '0 3 0 * *' } }, 'spec.rotation.schedule', CRON);
bad(DST, 'cron month 13', { 'spec.rotation': { schedule: '0 3 1 13 *' } }, 'spec.rotation.schedule', CRON);
bad(DST, 'cron weekday 8', { 'spec.rotation': { schedule: '0 3 * * 8' } }, 'spec.rotation.schedule', CRON);
bad(DST, 'cron step of zero', { 'spec.rotation': { schedule: '*/0 * * * *' } }, 'spec.rotation.schedule', CRON);
bad(DST, 'cron L (last day) is not evaluated', { 'spec.rotation': { schedule: '0 3 L * *' } }, 'spec.rotation.schedule', CRON);
bad(DST, 'cron nth weekday (#) is not evaluated', { 'spec.rotation': { schedule: '0 3 * * 1#2' } }, 'spec.rotation.schedule', CRON);
bad(DST, 'cron nickname', { 'spec.rotation': { schedule: '@daily' } }, 'spec.rotation.schedule', CRON);
bad(DST, 'cron with shell injection', { 'spec.rotation': { schedule: '0 3 * * 1; rm -rf /' } }, 'spec.rotation.schedule', CRON);
bad(DST, 'cron with tabs', { 'spec.rotation': { schedule: '0\t3\t*\t*\t1' } }, 'spec.rotation.schedule', CRON);
bad(DST, 'overlong cron', { 'spec.rotation': { schedule: `${Array.from({ length: 60 }, (_, i) => i).join(',')} * * * *` } }, 'spec.rotation.schedule', 'Too long');

// ── names and values: too long, wrong alphabet ─────────────────────────────────────────
bad(DST, 'metadata.name longer than 253', { 'metadata.name': long(254) }, 'metadata.name');
bad(DST, 'uppercase secret name', { 'spec.target.secretName': 'My_Secret' }, 'spec.target.secretName');
bad(DST, 'secretName longer than 253', { 'spec.target.secretName': long(254) }, 'spec.target.secretName', 'Too long');
bad(DST, 'empty secretName', { 'spec.target.secretName': '' }, 'spec.target.secretName');
bad(DST, 'path traversal in a secret name', { 'spec.dds.credentialsSecretRef': { name: '../kube-system/admin' } }, 'spec.dds.credentialsSecretRef.name');
bad(AT, 'path traversal in a secret key', { 'spec.oidc.refreshTokenSecretRef': { name: 'datachain-seed', key: '../../token' } }, 'spec.oidc.refreshTokenSecretRef.key');
bad(AT, 'secret key ".."', { 'spec.oidc.refreshTokenSecretRef': { name: 'datachain-seed', key: '..' } }, 'spec.oidc.refreshTokenSecretRef.key');
bad(DT, 'secret key starting with ".."', { 'spec.source.secretKeyRef': { name: 'data', key: '..data' } }, 'spec.source.secretKeyRef.key');
bad(AT, 'empty clientId', { 'spec.oidc.clientId': '' }, 'spec.oidc.clientId');
bad(AT, 'clientId longer than 256', { 'spec.oidc.clientId': long(257) }, 'spec.oidc.clientId', 'Too long');
bad(AT, 'scope longer than 1024', { 'spec.oidc.scope': long(1025) }, 'spec.oidc.scope', 'Too long');
bad(AT, 'gnap keyId longer than 256', { 'spec.gnap.keyId': long(257) }, 'spec.gnap.keyId', 'Too long', gnapSpec());
bad(DT, 'empty source context', { 'spec.source.context': '' }, 'spec.source.context');
bad(DT, 'source context longer than 512', { 'spec.source.context': long(513) }, 'spec.source.context', 'Too long');
bad(DST, 'label value longer than 63', { 'spec.target.labels': { team: long(64) } }, 'spec.target.labels.team', 'Too long');
bad(DST, 'label value with a space', { 'spec.target.labels': { team: 'data science' } }, 'spec.target.labels.team');
bad(DST, 'label key with odd characters', { 'spec.target.labels': { 'bad key!': 'x' } }, 'spec.target.labels', 'qualified names');
bad(DST, 'label key name longer than 63', { 'spec.target.labels': { [long(64)]: 'x' } }, 'spec.target.labels', 'qualified names');
bad(AT, 'annotation value longer than 4096', { 'spec.target.annotations': { note: long(4097) } }, 'spec.target.annotations.note', 'Too long');
bad(DST, 'more than 32 rollout targets', {
  'spec.target.rolloutRestart': Array.from({ length: 33 }, (_, i) => ({ kind: 'Deployment', name: `app-${i}` })),
}, 'spec.target.rolloutRestart', 'Too many');
bad(DST, 'URL longer than 2048', { 'spec.dds.apiUrl': `https://api.example.com/${long(2048)}` }, 'spec.dds.apiUrl', 'Too long');

// ── reserved keys on the target Secret ─────────────────────────────────────────────────
bad(DST, 'label overriding managed-by', { 'spec.target.labels': { 'app.kubernetes.io/managed-by': 'someone-else' } }, 'spec.target.labels', 'set by the operator');
bad(AT, 'label spoofing the owner', { 'spec.target.labels': { 'token-operator.io/owner-name': 'other' } }, 'spec.target.labels', 'set by the operator');
bad(DT, 'annotation spoofing the expiry', { 'spec.target.annotations': { 'token-operator.io/expires-at': '2999-01-01T00:00:00Z' } }, 'spec.target.annotations', 'set by the operator');

// ── references that leave the namespace, or take over an input Secret ──────────────────
const XNS = 'cross-namespace references are not allowed';
bad(DST, 'credentials from another namespace', { 'spec.dds.credentialsSecretRef': { name: 'zdirect-client', namespace: 'kube-system' } }, 'spec.dds.credentialsSecretRef.namespace', XNS);
bad(AT, 'refresh token from another namespace', { 'spec.oidc.refreshTokenSecretRef': { name: 's', key: 'k', namespace: 'other' } }, 'spec.oidc.refreshTokenSecretRef.namespace', XNS);
bad(AT, 'client secret from another namespace', { 'spec.oidc.clientSecretRef': { name: 's', key: 'k', namespace: 'other' } }, 'spec.oidc.clientSecretRef.namespace', XNS);
bad(AT, 'GNAP private key from another namespace', { 'spec.gnap.privateKeySecretRef': { name: 'k', key: 'private.pem', namespace: 'other' } }, 'spec.gnap.privateKeySecretRef.namespace', XNS, gnapSpec());
bad(DT, 'Privicore profile from another namespace', { 'spec.privicore.profileSecretRef': { name: 'p', namespace: 'other' } }, 'spec.privicore.profileSecretRef.namespace', XNS);
bad(DT, 'source data from another namespace', { 'spec.source.secretKeyRef': { name: 'd', key: 'k', namespace: 'other' } }, 'spec.source.secretKeyRef.namespace', XNS);
bad(DT, 'token from another namespace', { 'spec.tokenRef.secretKeyRef': { name: 't', key: 'k', namespace: 'other' } }, 'spec.tokenRef.secretKeyRef.namespace', XNS, tokenRefSpec());
const TAKEOVER = 'target.secretName must differ';
bad(AT, 'target is the refresh-token seed', { 'spec.target.secretName': 'datachain-seed' }, 'spec.target.secretName', TAKEOVER);
bad(AT, 'target is the client secret', { 'spec.oidc.clientSecretRef': { name: 'datachain-token', key: 'client_secret' } }, 'spec.target.secretName', TAKEOVER);
bad(AT, 'target is the GNAP private key', { 'spec.target.secretName': 'ilp-client-key' }, 'spec.target.secretName', TAKEOVER, gnapSpec());
bad(DST, 'target is the zDirect credentials', { 'spec.target.secretName': 'zdirect-client' }, 'spec.target.secretName', TAKEOVER);
bad(DT, 'target is the source data', { 'spec.target.secretName': 'report-signing-key' }, 'spec.target.secretName', TAKEOVER);
bad(DT, 'target is the Privicore profile', { 'spec.target.secretName': 'privicore-profile' }, 'spec.target.secretName', TAKEOVER);

// ── URLs: credentials, plain http, not a URL ───────────────────────────────────────────
const CREDS = 'must not contain credentials';
const HTTPS = 'must use https://';
const ABS = 'absolute http(s) URL';
bad(DST, 'user:password in the API URL', { 'spec.dds.apiUrl': 'https://client:s3cret@api.example.com' }, 'spec.dds.apiUrl', CREDS);
bad(DST, 'userinfo in the token URL', { 'spec.dds.tokenUrl': 'https://evil.example@api.example.com/auth/token' }, 'spec.dds.tokenUrl', CREDS);
bad(AT, 'credentials in the issuer URL', { 'spec.oidc.issuerUrl': 'https://pydc:secret@datachain.example.fr/realms/x' }, 'spec.oidc.issuerUrl', CREDS);
bad(AT, 'credentials in the GNAP wallet URL', { 'spec.gnap.walletAddressUrl': 'https://alice:pw@ilp.example/alice' }, 'spec.gnap.walletAddressUrl', CREDS, gnapSpec());
bad(DT, 'credentials in the Privicore URL', { 'spec.privicore.apiUrl': 'https://user:pw@stage.privicore.com:9009' }, 'spec.privicore.apiUrl', CREDS);
bad(DST, 'plain http API URL', { 'spec.dds.apiUrl': 'http://api.example.com' }, 'spec.dds.apiUrl', HTTPS);
bad(DST, 'plain http token URL', { 'spec.dds.tokenUrl': 'http://api.example.com/auth/token' }, 'spec.dds.tokenUrl', HTTPS);
bad(AT, 'plain http token endpoint', { 'spec.oidc.tokenUrl': 'http://idp.example/token' }, 'spec.oidc.tokenUrl', HTTPS);
bad(AT, 'plain http revocation endpoint', { 'spec.oidc.revocationUrl': 'http://idp.example/revoke' }, 'spec.oidc.revocationUrl', HTTPS);
bad(AT, 'plain http with allowInsecureHttp: false', { 'spec.oidc.issuerUrl': 'http://idp.example/realms/x', 'spec.oidc.allowInsecureHttp': false }, 'spec.oidc.issuerUrl', HTTPS);
bad(AT, 'plain http wallet address', { 'spec.gnap.walletAddressUrl': 'http://ilp.example/alice' }, 'spec.gnap.walletAddressUrl', HTTPS, gnapSpec());
bad(DT, 'plain http Privicore URL', { 'spec.privicore.apiUrl': 'http://stage.privicore.com:9009' }, 'spec.privicore.apiUrl', HTTPS);
bad(DST, 'host without a scheme', { 'spec.dds.apiUrl': 'api.example.com' }, 'spec.dds.apiUrl', ABS);
bad(DST, 'ftp URL', { 'spec.dds.apiUrl': 'ftp://api.example.com' }, 'spec.dds.apiUrl', ABS);
bad(AT, 'javascript: URL', { 'spec.oidc.tokenUrl': 'javascript:alert(1)' }, 'spec.oidc.tokenUrl', ABS);
bad(AT, 'file: URL', { 'spec.oidc.issuerUrl': 'file:///etc/passwd' }, 'spec.oidc.issuerUrl', ABS);
bad(AT, 'URL without a host', { 'spec.gnap.walletAddressUrl': 'https:///alice' }, 'spec.gnap.walletAddressUrl', ABS, gnapSpec());
bad(DST, 'URL with a header-injection newline', { 'spec.dds.apiUrl': 'https://api.example.com/\r\nX-Evil: 1' }, 'spec.dds.apiUrl', ABS);
bad(DST, 'empty URL', { 'spec.dds.apiUrl': '' }, 'spec.dds.apiUrl');

// ── enums ──────────────────────────────────────────────────────────────────────────────
bad(DST, 'deletionPolicy Delete', { 'spec.deletionPolicy': 'Delete' }, 'spec.deletionPolicy', 'Unsupported value');
bad(AT, 'deletionPolicy in lower case', { 'spec.deletionPolicy': 'revoke' }, 'spec.deletionPolicy', 'Unsupported value');
bad(DT, 'deletionPolicy Orphan', { 'spec.deletionPolicy': 'Orphan' }, 'spec.deletionPolicy', 'Unsupported value');
bad(DST, 'onTokenCeiling Panic', { 'spec.onTokenCeiling': 'Panic' }, 'spec.onTokenCeiling', 'Unsupported value');
bad(DST, 'rolloutRestart of a Pod', { 'spec.target.rolloutRestart': [{ kind: 'Pod', name: 'ingest' }] }, 'spec.target.rolloutRestart[0].kind', 'Unsupported value');
bad(AT, 'rolloutRestart of a CronJob', { 'spec.target.rolloutRestart': [{ kind: 'Deployment', name: 'a' }, { kind: 'CronJob', name: 'b' }] }, 'spec.target.rolloutRestart[1].kind', 'Unsupported value');
bad(DT, 'rolloutRestart without a name', { 'spec.target.rolloutRestart': [{ kind: 'Deployment' }] }, 'spec.target.rolloutRestart[0].name', 'Required value');

// ── unknown fields (strict field validation, as kubectl sends) ─────────────────────────
const UNKNOWN = 'unknown field';
bad(DST, 'client secret inline instead of a reference', { 'spec.dds.clientSecret': 'hunter2' }, 'spec.dds.clientSecret', UNKNOWN);
bad(DST, 'namespace on the target', { 'spec.target.namespace': 'kube-system' }, 'spec.target.namespace', UNKNOWN);
bad(DST, 'misspelled rotateBefore', { 'spec.rotation': { rotateBfore: '720h' } }, 'spec.rotation.rotateBfore', UNKNOWN);
bad(AT, 'refresh token inline', { 'spec.oidc.refreshToken': 'eyJhbGciOiJIUzI1NiJ9.e30.x' }, 'spec.oidc.refreshToken', UNKNOWN);
bad(AT, 'private key inline', { 'spec.gnap.privateKey': '-----BEGIN PRIVATE KEY-----' }, 'spec.gnap.privateKey', UNKNOWN, gnapSpec());
bad(DT, 'source data inline', { 'spec.source.data': 'c2VjcmV0' }, 'spec.source.data', UNKNOWN);
bad(DT, 'unknown top-level spec field', { 'spec.privileged': true }, 'spec.privileged', UNKNOWN);

// ── target templates (spec.target.template) ──────────────────────────────────────────
const TAG = 'unsupported tag or unknown field';
const tpl = (data: Json, more: Json = {}) => ({ 'spec.target.template': { data, ...more } });
bad(DST, 'template names a field the kind does not have', tpl({ DATABRICKS_TOKEN: '{{token}}' }), 'spec.target.template.data[DATABRICKS_TOKEN]', `${TAG} at "{{token}}"`);
bad(AT, 'template field path (dotted lookup)', tpl({ t: 'x {{access_token.length}}' }), 'spec.target.template.data[t]', `${TAG} at "{{access_token.length}}"`);
bad(AT, 'template tag not closed', tpl({ 'header.txt': 'Bearer {{access_token' }), 'spec.target.template.data[header.txt]', TAG);
bad(AT, 'template unbalanced triple mustache', tpl({ t: '{{{access_token}}' }), 'spec.target.template.data[t]', TAG);
bad(AT, 'template partial (could read other templates)', tpl({ t: '{{> /etc/passwd}}' }), 'spec.target.template.data[t]', 'partials');
bad(AT, 'template delimiter change', tpl({ t: '{{=<% %>=}}<% access_token %>' }), 'spec.target.template.data[t]', 'delimiter changes');
bad(AT, 'template helper used as a value', tpl({ t: '{{base64}}' }), 'spec.target.template.data[t]', `${TAG} at "{{base64}}"`);
bad(AT, 'template inverted helper', tpl({ t: '{{^json}}x{{/json}}' }), 'spec.target.template.data[t]', TAG);
bad(AT, 'template section never closed', tpl({ t: '{{#base64}}{{access_token}}' }), 'spec.target.template.data[t]', 'must be closed by');
bad(AT, 'template: gnap has no token_type', tpl({ t: '{{token_type}} {{access_token}}' }), 'spec.target.template', 'token_type, which AccessToken offers only with an OAuth2 grant (not spec.gnap)', gnapSpec());
bad(AT, 'template: refresh token without exposeRefreshToken (least exposure)', tpl({ REFRESH: '{{refresh_token}}' }), 'spec.target.template', 'refresh_token, which AccessToken offers only with spec.oidc.exposeRefreshToken: true');
bad(AT, 'template: refresh token in a section with exposeRefreshToken false', { ...tpl({ r: '{{#refresh_token}}yes{{/refresh_token}}' }), 'spec.oidc.exposeRefreshToken': false }, 'spec.target.template', 'exposeRefreshToken: true');
bad(DT, 'template: source mode has no data', tpl({ d: '{{data}}' }), 'spec.target.template', 'data, which DataToken offers only with spec.tokenRef');
bad(DT, 'template: tokenRef mode has no data_token', tpl({ d: '{{data_token}}' }), 'spec.target.template', 'data_token, which DataToken offers only with spec.source', tokenRefSpec());
bad(AT, 'template: a credential in an annotation', tpl({ t: '{{access_token}}' }, { annotations: { 'example.com/token': '{{access_token}}' } }), 'spec.target.template.annotations[example.com/token]', 'no credential in metadata');
bad(DST, 'template: a credential in a label', tpl({ t: '{{endpoint}}' }, { labels: { token: '{{bearerToken}}' } }), 'spec.target.template.labels[token]', 'no credential in metadata');
bad(DST, 'template data key with a slash', tpl({ 'a/b': '{{bearerToken}}' }), 'spec.target.template.data', 'template data key "a/b" is not a valid Secret key');
bad(DST, 'template data key ".."', tpl({ '..': '{{bearerToken}}' }), 'spec.target.template.data', 'not "." or ".."');
bad(DST, 'template with no data', tpl({}), 'spec.target.template.data');
bad(DST, 'template without data', { 'spec.target.template': { mergePolicy: 'Merge' } }, 'spec.target.template.data', 'Required value');
bad(DST, 'template mergePolicy Overwrite', tpl({ t: '{{bearerToken}}' }, { mergePolicy: 'Overwrite' }), 'spec.target.template.mergePolicy', 'Unsupported value');
bad(AT, 'template type dockerconfigjson without its key', tpl({ config: '{{access_token}}' }, { type: 'kubernetes.io/dockerconfigjson' }), 'spec.target.template', 'needs the data key .dockerconfigjson');
bad(AT, 'template type basic-auth without username or password', tpl({ token: '{{access_token}}' }, { type: 'kubernetes.io/basic-auth' }), 'spec.target.template', 'username or password');
bad(AT, 'template type service-account-token', tpl({ token: '{{access_token}}' }, { type: 'kubernetes.io/service-account-token' }), 'spec.target.template.type', 'service account');
bad(DST, 'template type with creationPolicy Merge', { ...tpl({ t: '{{bearerToken}}' }, { type: 'example.com/token' }), 'spec.target.creationPolicy': 'Merge' }, 'spec.target.template.type', 'creationPolicy Merge');
bad(DST, 'template label key under token-operator.io/', tpl({ t: '{{bearerToken}}' }, { labels: { 'token-operator.io/owner-uid': 'x' } }), 'spec.target.template.labels', 'set by the operator');
bad(DST, 'template too long', tpl({ t: `{{bearerToken}}${long(8200)}` }), 'spec.target.template.data.t', 'Too long');

export const INVALID: readonly InvalidCase[] = invalid;

// ── manifests that must be accepted ────────────────────────────────────────────────────
const valid: ValidCase[] = [];
function good(kind: Kind, why: string, spec: Json): void {
  valid.push({ id: `good-${String(valid.length + 1).padStart(2, '0')}`, kind, why, manifest: manifest(kind, spec) });
}

good(DST, 'minimal', base.DeltaShareToken());
good(DST, 'every field', {
  dds: {
    apiUrl: 'https://api-sandbox.merchants.zalando.com',
    tokenUrl: 'https://api-sandbox.merchants.zalando.com/auth/token',
    credentialsSecretRef: { name: 'zdirect-client' },
    allowInsecureHttp: false,
  },
  suspend: false,
  rotation: { rotateBefore: '720h', schedule: '0 3 * * 1', jitterPercent: 5 },
  overlap: '1h30m',
  verify: true,
  onTokenCeiling: 'RevokeAllAndReissue',
  deletionPolicy: 'Retain',
  revokeTimeout: '1m',
  target: {
    secretName: 'zalando-dds-share',
    creationPolicy: 'Merge',
    labels: { team: 'analytics', 'app.kubernetes.io/part-of': 'lakehouse' },
    annotations: { 'example.com/owner': 'data platform <data@example.com>' },
    rolloutRestart: [
      { kind: 'Deployment', name: 'ingest' },
      { kind: 'StatefulSet', name: 'spark' },
      { kind: 'DaemonSet', name: 'agent' },
    ],
  },
});
good(DST, 'plain http with allowInsecureHttp (local simulator)', {
  dds: { apiUrl: 'http://127.0.0.1:8080', tokenUrl: 'http://127.0.0.1:8080/auth/token', credentialsSecretRef: { name: 'z' }, allowInsecureHttp: true },
  target: { secretName: 'share' },
});
good(DST, 'rotateBeforePercent with a 6-field cron in names', {
  ...base.DeltaShareToken(),
  rotation: { rotateBeforePercent: 50, schedule: '30 0 3 ? JAN-jun mon-FRI', jitterPercent: 0 },
});
good(AT, 'oidc minimal (issuer, public client)', base.AccessToken());
good(AT, 'oidc every field', {
  oidc: {
    issuerUrl: 'https://datachain.example.fr/auth/realms/dc-realm',
    tokenUrl: 'https://datachain.example.fr/auth/realms/dc-realm/protocol/openid-connect/token',
    revocationUrl: 'https://datachain.example.fr/auth/realms/dc-realm/protocol/openid-connect/revoke',
    clientId: 'pydc',
    clientSecretRef: { name: 'datachain-client', key: 'client_secret' },
    refreshTokenSecretRef: { name: 'datachain-seed', key: 'refresh_token' },
    scope: 'openid offline_access',
    exposeRefreshToken: false,
  },
  rotation: { rotateBeforePercent: 33, schedule: '*/5 * * * *' },
  deletionPolicy: 'Revoke',
  target: { secretName: 'datachain-token', labels: { app: 'datachain' }, rolloutRestart: [{ kind: 'Deployment', name: 'etl' }] },
});
good(AT, 'oidc tokenUrl only, over http with allowInsecureHttp', {
  oidc: {
    tokenUrl: 'http://localhost:8080/realms/dev/protocol/openid-connect/token',
    clientId: 'dev',
    refreshTokenSecretRef: { name: 'seed', key: 'refresh_token' },
    allowInsecureHttp: true,
  },
  target: { secretName: 'dev-token' },
});
good(AT, 'gnap', { ...gnapSpec(), rotation: { rotateBefore: '2m' }, deletionPolicy: 'Revoke' });
good(AT, 'the floors themselves', {
  ...gnapSpec(),
  rotation: { rotateBefore: '10s' },
  revokeTimeout: '1m',
  liveness: { interval: '1m' },
  target: { secretName: 'ilp-token', creationPolicy: 'Orphan' },
});
good(DST, 'liveness interval "0" (the default)', { ...base.DeltaShareToken(), liveness: { interval: '0' } });
good(DT, 'liveness off', { ...base.DataToken(), liveness: { enabled: false, interval: '0s' } });
good(DT, 'interval floors themselves', {
  ...tokenRefSpec(),
  privicore: { apiUrl: 'https://stage.privicore.com:9009', profileSecretRef: { name: 'privicore-profile' }, authorizationTtl: '5m' },
  tokenRef: { secretKeyRef: { name: 'shared-token', key: 'token' }, checkInterval: '30s' },
  refreshInterval: '1m',
});
good(DT, 'source minimal', base.DataToken());
good(DT, 'tokenRef with every common field', {
  ...tokenRefSpec(),
  privicore: { apiUrl: 'https://stage.privicore.com:9009', profileSecretRef: { name: 'privicore-profile' }, authorizationTtl: '24h' },
  suspend: true,
  rotation: { schedule: '0 0 2 1,15 * *', jitterPercent: 10 },
  deletionPolicy: 'Retain',
  target: { secretName: 'shared-data', annotations: { 'example.com/note': 'x' } },
});
good(DT, 'plain http with allowInsecureHttp', {
  ...base.DataToken(),
  privicore: { apiUrl: 'http://127.0.0.1:9009', profileSecretRef: { name: 'p' }, allowInsecureHttp: true },
});

good(DST, 'template: env vars, a profile file under its own name, an Authorization header, labels and annotations', {
  ...base.DeltaShareToken(),
  target: {
    secretName: 'share-env',
    labels: { team: 'analytics' },
    template: {
      mergePolicy: 'Merge',
      data: {
        DELTA_SHARING_ENDPOINT: '{{endpoint}}',
        DELTA_SHARING_TOKEN: '{{ bearerToken }}',
        'profile.share': '{{{config.share}}}',
        authorization: 'Bearer {{&bearerToken}}',
        'settings.json': '{"endpoint": {{#json}}{{endpoint}}{{/json}}, "token": {{#json}}{{bearerToken}}{{/json}}}\n{{! a comment }}',
      },
      labels: { 'example.com/kind': 'delta-sharing' },
      annotations: { 'example.com/expires': '{{expirationTime}}', 'example.com/server': 'Delta Sharing at {{endpoint}}' },
    },
  },
});
good(AT, 'template: docker registry config with a base64 auth', {
  ...base.AccessToken(),
  target: {
    secretName: 'registry',
    template: {
      type: 'kubernetes.io/dockerconfigjson',
      data: { '.dockerconfigjson': '{"auths":{"registry.example.com":{"auth":"{{#base64}}oauth2:{{access_token}}{{/base64}}"}}}' },
      annotations: { 'example.com/type': '{{#lower}}{{token_type}}{{/lower}}' },
    },
  },
});
good(AT, 'template: refresh token with exposeRefreshToken', {
  oidc: { ...(base.AccessToken().oidc as Json), exposeRefreshToken: true },
  target: { secretName: 'tool', template: { data: { 'tool.ini': '[auth]\n{{#refresh_token}}refresh = {{refresh_token}}\n{{/refresh_token}}access = {{access_token}}' } } },
});
good(AT, 'template: gnap access rights in an annotation, basic-auth type', {
  ...gnapSpec(),
  target: {
    secretName: 'ilp-token',
    template: { type: 'kubernetes.io/basic-auth', data: { username: 'gnap', password: '{{access_token}}' }, annotations: { 'example.com/access': '{{access}}' } },
  },
});
good(DT, 'template: tokenRef data as a file, upper-cased copy', {
  ...tokenRefSpec(),
  target: { secretName: 'shared-data', template: { data: { 'key.pem': '{{data}}', DATA: '{{#upper}}{{data}}{{/upper}}', 'decoded.txt': '{{#base64Decode}}{{data}}{{/base64Decode}}' } } },
});
good(DT, 'template: source data token as an env var, context in a label', {
  ...base.DataToken(),
  target: { secretName: 'report-key-token', template: { data: { REPORT_TOKEN: '{{data_token}}' }, labels: { 'example.com/context': '{{context}}' } } },
});

export const VALID: readonly ValidCase[] = valid;
