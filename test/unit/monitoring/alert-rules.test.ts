import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, alertNames, prometheusMissing, renderRules, runPromtool, toYaml, type RuleFile } from '../../support/prometheus.js';
import { JOB, STEP, Timeline, tokenAlert, type TokenId } from './timeline.js';

/**
 * The chart's alert rules, rendered with the chart's defaults, run by promtool against series
 * played from token lives (timeline.ts): each scenario lists every alert that must fire and
 * from when; at every checked time every other alert of the rule file must be silent. So a
 * healthy token, short-lived or long-lived, must raise nothing at all, whatever the rules are.
 */

const missing = prometheusMissing();
const MIN = 60;
const HOUR = 3600;
const DAY = 86400;

interface Expected {
  alert: string;
  labels: Record<string, string>;
  /** first evaluation at which it fires (pending before) */
  from: number;
  until?: number;
}

interface Scenario {
  name: string;
  horizon: number;
  build(t: Timeline): void;
  fires: Expected[];
}

const token = (kind: string, namespace: string, name: string): TokenId => ({ kind, namespace, name });
const page = 'critical';
const warn = 'warning';

const scenarios: Scenario[] = [
  {
    name: 'healthy short-lived tokens (a 5-minute Keycloak access token, a 10-minute GNAP token) raise nothing',
    horizon: 3 * HOUR,
    build: (t) =>
      t
        .operator()
        .token(token('AccessToken', 'team-a', 'keycloak'), { lifetime: 5 * MIN })
        .token(token('AccessToken', 'team-a', 'gnap'), { lifetime: 10 * MIN }),
    fires: [],
  },
  {
    name: 'healthy long-lived tokens (90-day DeltaShareToken, hourly DataToken refresh, a cron window in the last 5% of the lifetime) raise nothing',
    horizon: 3 * HOUR,
    build: (t) =>
      t
        .operator()
        // rotates one hour into the test
        .token(token('DeltaShareToken', 'analytics', 'zalando'), { lifetime: 90 * DAY, issuedAt: HOUR - 0.64 * 90 * DAY })
        .token(token('DataToken', 'billing', 'resolved'), { lifetime: HOUR, expires: false, rotateAt: 1, issuedAt: -HOUR / 2 })
        .token(token('AccessToken', 'team-a', 'nightly'), { lifetime: HOUR, plan: (_issued, expires) => expires - 3 * MIN }),
    fires: [],
  },
  {
    name: 'an overdue rotation of a wedged operator (Ready stays True) fires RotationOverdue, then TokenExpiring; the healthy token nothing',
    horizon: HOUR,
    build: (t) =>
      t
        .operator()
        .token(token('AccessToken', 'team-b', 'stuck'), { lifetime: 10 * MIN, stuckFrom: 5 * MIN })
        .token(token('AccessToken', 'team-b', 'healthy'), { lifetime: 5 * MIN }),
    // planned at 384 s; overdue once 60 s late (10 % of 600 s, the 60 s minimum) from 450 s, for 2m;
    // expiring once < 60 s are left (10 %) and the rotation is overdue: from 570 s, for 1m
    fires: [
      { alert: 'TokenOperatorRotationOverdue', labels: tokenAlert(token('AccessToken', 'team-b', 'stuck'), warn), from: 570 },
      { alert: 'TokenOperatorTokenExpiring', labels: tokenAlert(token('AccessToken', 'team-b', 'stuck'), page), from: 630 },
    ],
  },
  {
    name: 'a rotation the provider keeps refusing fires RotationOverdue, TokenExpiring, TokenNotReady, and RotationFailing for its kind',
    horizon: HOUR,
    build: (t) => t.operator().token(token('AccessToken', 'team-c', 'failing'), { lifetime: 10 * MIN, failing: { from: 0 } }),
    fires: [
      { alert: 'TokenOperatorRotationOverdue', labels: tokenAlert(token('AccessToken', 'team-c', 'failing'), warn), from: 570 },
      { alert: 'TokenOperatorTokenExpiring', labels: tokenAlert(token('AccessToken', 'team-c', 'failing'), page), from: 630 },
      // Ready False from the first failed attempt (390 s), for 15m
      { alert: 'TokenOperatorTokenNotReady', labels: tokenAlert(token('AccessToken', 'team-c', 'failing'), warn), from: 390 + 15 * MIN },
      // no AccessToken issued or rotated, some failed, in 30m; for 30m
      { alert: 'TokenOperatorRotationFailing', labels: { kind: 'AccessToken', severity: warn }, from: 390 + 30 * MIN },
    ],
  },
  {
    name: 'a Stalled token pages after stalledFor, and only that: its NotReady/overdue/expiry are the same problem; the kind still rotates',
    horizon: HOUR,
    build: (t) =>
      t
        .operator()
        .token(token('AccessToken', 'team-d', 'refused'), { lifetime: 10 * MIN, stalledFrom: 100 })
        .token(token('AccessToken', 'team-d', 'fine'), { lifetime: 5 * MIN }),
    fires: [{ alert: 'TokenOperatorTokenStalled', labels: tokenAlert(token('AccessToken', 'team-d', 'refused'), page), from: 120 + 5 * MIN }],
  },
  {
    name: 'flapping failures stay silent: Ready False for 5, 10 and 14.5 minutes at a time; a kind failing for 25 minutes then recovering',
    horizon: 2 * HOUR,
    build: (t) =>
      t
        .operator()
        .token(token('DeltaShareToken', 'team-e', 'flaky'), {
          lifetime: 90 * DAY,
          issuedAt: -DAY,
          notReadyDuring: [
            [10 * MIN, 15 * MIN],
            [20 * MIN, 30 * MIN],
            [40 * MIN, 54.5 * MIN],
          ],
        })
        .kind('DataToken')
        .countEachStep('DataToken', 'failed', 10 * MIN, 35 * MIN)
        .countEachStep('DataToken', 'rotated', 35 * MIN, 35 * MIN + 1),
    fires: [],
  },
  {
    name: 'a suspended token past its expiry raises nothing (the user asked for no renewals)',
    horizon: HOUR,
    build: (t) => t.operator().token(token('DeltaShareToken', 'team-f', 'paused'), { lifetime: 10 * MIN, suspended: true }),
    fires: [],
  },
  {
    name: 'no replica leads: NoLeader pages after operatorDownFor',
    horizon: HOUR,
    build: (t) => t.operator({ leader: (s) => (s < 10 * MIN ? 1 : 0) }),
    fires: [{ alert: 'TokenOperatorNoLeader', labels: { job: JOB, namespace: 'token-operator', severity: page }, from: 15 * MIN }],
  },
  {
    name: 'the target stops answering scrapes: Down pages after operatorDownFor',
    horizon: HOUR,
    build: (t) => t.operator({ up: (s) => (s < 10 * MIN ? 1 : 0) }),
    fires: [{ alert: 'TokenOperatorDown', labels: { severity: page }, from: 15 * MIN }],
  },
  {
    name: 'the target disappears (no pods, not scraped): Down pages once the last sample is 5 minutes old, plus operatorDownFor',
    horizon: HOUR,
    build: (t) => t.operator({ up: (s) => (s < 10 * MIN ? 1 : undefined), leader: (s) => (s < 10 * MIN ? 1 : undefined) }),
    // last sample at 570 s, still seen for 5 minutes (Prometheus' lookback): absent from 900 s, for 5m
    fires: [{ alert: 'TokenOperatorDown', labels: { severity: page }, from: 900 + 5 * MIN }],
  },
  {
    name: 'a provider failing 20 % of calls and one answering 429 fire ProviderErrors and ProviderRateLimited; one failing 5 % nothing',
    horizon: HOUR,
    build: (t) =>
      t
        .operator()
        .providerCalls('gnap', (s) => (s < 10 * MIN ? { '200': 10 } : { '200': 8, '503': 2 }))
        .providerCalls('dds', (s) => (s < 10 * MIN ? { '200': 5 } : { '200': 4, '429': 1 }))
        .providerCalls('privicore', (s) => (s % (10 * STEP) === 0 ? { '200': 19, timeout: 1 } : { '200': 20 })),
    // The 503/429 series appear at 600 s, so rate and increase see them from the next sample. As the
    // 10-minute window fills, gnap's error share climbs past 10 % at 900 s; then 15m.
    fires: [
      { alert: 'TokenOperatorProviderErrors', labels: { provider: 'gnap', severity: warn }, from: 900 + 15 * MIN },
      { alert: 'TokenOperatorProviderRateLimited', labels: { provider: 'dds', severity: warn }, from: 630 + 15 * MIN },
    ],
  },
];

/** every STEP*5 and the step before and at each expected change */
function checkTimes(s: Scenario): number[] {
  const times = new Set<number>();
  for (let t = 0; t <= s.horizon; t += 5 * STEP) times.add(t);
  for (const f of s.fires) for (const t of [f.from - STEP, f.from, ...(f.until !== undefined ? [f.until - STEP, f.until] : [])]) if (t >= 0 && t <= s.horizon) times.add(t);
  return [...times].sort((a, b) => a - b);
}

function promtoolTest(s: Scenario, names: string[], ruleFile: string): unknown {
  const t = new Timeline(s.horizon);
  s.build(t);
  const checks = checkTimes(s).flatMap((at) =>
    names.map((alert) => ({
      eval_time: `${at}s`,
      alertname: alert,
      exp_alerts: s.fires.filter((f) => f.alert === alert && f.from <= at && (f.until === undefined || at < f.until)).map((f) => ({ exp_labels: f.labels })),
    })),
  );
  return { rule_files: [ruleFile], evaluation_interval: `${STEP}s`, tests: [{ interval: `${STEP}s`, input_series: t.series(), alert_rule_test: checks }] };
}

/** the rules without annotations: the scenarios test when alerts fire; the annotations get their own test */
function withoutAnnotations(rules: RuleFile): RuleFile {
  return { groups: rules.groups.map((g) => ({ ...g, rules: g.rules.map(({ annotations: _a, ...r }) => r) })) };
}

describe.skipIf(missing)('alert rules rendered from the chart, run by promtool', () => {
  let dir: string;
  let rules: RuleFile;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'alert-rules-'));
    rules = renderRules();
    writeFileSync(join(dir, 'rules.yaml'), toYaml(rules));
    writeFileSync(join(dir, 'rules-bare.yaml'), toYaml(withoutAnnotations(rules)));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('pass promtool check rules, and every alert links to its runbook section', () => {
    const r = runPromtool(['check', 'rules', join(dir, 'rules.yaml')]);
    expect(r.status, r.output).toBe(0);
    const alerts = rules.groups.flatMap((g) => g.rules).filter((x) => x.alert);
    expect(alerts.map((a) => a.alert).sort()).toEqual([
      'TokenOperatorDown',
      'TokenOperatorNoLeader',
      'TokenOperatorProviderErrors',
      'TokenOperatorProviderRateLimited',
      'TokenOperatorRotationFailing',
      'TokenOperatorRotationOverdue',
      'TokenOperatorTokenExpiring',
      'TokenOperatorTokenNotReady',
      'TokenOperatorTokenStalled',
    ]);
    for (const a of alerts) {
      expect(a.annotations?.runbook_url).toBe(`https://github.com/token-operator/token-operator/blob/main/docs/runbooks.md#${a.alert!.toLowerCase()}`);
      expect(a.labels?.severity).toMatch(/^(warning|critical)$/);
    }
  });

  it('each alert has its runbook section in docs/runbooks.md: what it means, the commands to run, the usual fixes', () => {
    const doc = readFileSync(join(ROOT, 'docs', 'runbooks.md'), 'utf8');
    const sections = new Map(doc.split(/^## /m).slice(1).map((sec) => [sec.split('\n', 1)[0]!.trim(), sec]));
    for (const alert of alertNames(rules)) {
      const sec = sections.get(alert);
      expect(sec, `docs/runbooks.md has no "## ${alert}"`).toBeDefined();
      for (const part of ['**What it means.**', '**Run.**', '**Usual fixes']) expect(sec, `${alert}: ${part}`).toContain(part);
      expect(sec, `${alert}: a command block`).toMatch(/```sh\n(kubectl|npm) /);
      // every alert about tokens says which kubectl token explain to run (the operator-wide ones look at pods and the Lease)
      if (!/^TokenOperator(Down|NoLeader)$/.test(alert)) expect(sec, alert).toContain('kubectl token explain NAME -k KIND -n NAMESPACE');
    }
    // GitHub's anchor for "## TokenOperatorX" is #tokenoperatorx; links inside the page point at sections that exist
    for (const [, anchor] of doc.matchAll(/\]\(#([a-z]+)\)/g)) expect([...sections.keys()].map((k) => k.toLowerCase())).toContain(anchor);
  });

  for (const s of scenarios) {
    it(s.name, () => {
      const file = join(dir, `${s.name.slice(0, 40).replace(/[^a-z0-9]+/gi, '-')}.test.yaml`);
      writeFileSync(file, toYaml(promtoolTest(s, alertNames(rules), 'rules-bare.yaml')));
      const r = runPromtool(['test', 'rules', file]);
      expect(r.status, r.output).toBe(0);
    });
  }

  it('annotations render: what is wrong, by how much, the kubectl token explain to run, the runbook', () => {
    const t = new Timeline(HOUR).operator().token(token('AccessToken', 'team-b', 'stuck'), { lifetime: 10 * MIN, stuckFrom: 5 * MIN });
    const stuck = tokenAlert(token('AccessToken', 'team-b', 'stuck'), warn);
    const explain = 'kubectl token explain stuck -k AccessToken -n team-b';
    const test = {
      rule_files: ['rules.yaml'],
      evaluation_interval: `${STEP}s`,
      tests: [
        {
          interval: `${STEP}s`,
          input_series: t.series(),
          alert_rule_test: [
            {
              eval_time: '570s',
              alertname: 'TokenOperatorRotationOverdue',
              exp_alerts: [
                {
                  exp_labels: stuck,
                  exp_annotations: {
                    // planned at 384 s, now 570 s
                    summary: 'AccessToken team-b/stuck: rotation overdue by 3m 6s',
                    description: `The credential should have been renewed at its planned rotation time and was not (more than 10% of its lifetime late). Run: ${explain}`,
                    runbook_url: 'https://github.com/token-operator/token-operator/blob/main/docs/runbooks.md#tokenoperatorrotationoverdue',
                  },
                },
              ],
            },
            {
              eval_time: '630s',
              alertname: 'TokenOperatorTokenExpiring',
              exp_alerts: [
                {
                  exp_labels: { ...stuck, severity: page },
                  exp_annotations: {
                    summary: 'AccessToken team-b/stuck: credential expired and nothing renews it',
                    description: `Less than 10% of the credential's lifetime is left and no rotation is in flight; workloads using the Secret fail when it expires. Run: ${explain}`,
                    runbook_url: 'https://github.com/token-operator/token-operator/blob/main/docs/runbooks.md#tokenoperatortokenexpiring',
                  },
                },
              ],
            },
          ],
        },
      ],
    };
    writeFileSync(join(dir, 'annotations.test.yaml'), toYaml(test));
    const r = runPromtool(['test', 'rules', join(dir, 'annotations.test.yaml')]);
    expect(r.status, r.output).toBe(0);
  });
});
