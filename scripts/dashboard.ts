// The Grafana dashboard, as code (Grafana's own @grafana/grafana-foundation-sdk builders).
// `npm run generate` writes it to charts/token-operator/dashboards/token-operator.json, which the
// chart ships as an optional ConfigMap for the Grafana sidecar (grafanaDashboard.enabled).
// test/unit/monitoring/dashboard.test.ts checks that every query parses (promtool) and names
// only metrics the operator exports.
import * as common from '@grafana/grafana-foundation-sdk/common';
import {
  DashboardBuilder,
  DashboardLinkBuilder,
  DashboardLinkType,
  DatasourceVariableBuilder,
  QueryVariableBuilder,
  RowBuilder,
  VariableRefresh,
  VariableSort,
} from '@grafana/grafana-foundation-sdk/dashboard';
import { DataqueryBuilder, PromQueryFormat } from '@grafana/grafana-foundation-sdk/prometheus';
import * as stat from '@grafana/grafana-foundation-sdk/stat';
import * as table from '@grafana/grafana-foundation-sdk/table';
import * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';

const DATASOURCE = { type: 'prometheus', uid: '${datasource}' };
/** one operator installation (its scrape job) */
const OP = 'job=~"$job"';
/** per-token series: the token's own kind and namespace (the ServiceMonitor keeps them: honorLabels) */
const TOKENS = `${OP}, kind=~"$kind", namespace=~"$namespace"`;

const query = (expr: string, legend?: string) => {
  const q = new DataqueryBuilder().expr(expr).datasource(DATASOURCE);
  return legend ? q.legendFormat(legend) : q;
};
const instant = (expr: string, refId: string) => new DataqueryBuilder().expr(expr).datasource(DATASOURCE).instant().format(PromQueryFormat.Table).refId(refId);

function series(title: string, unit: string, description: string) {
  return new timeseries.PanelBuilder().title(title).description(description).unit(unit).datasource(DATASOURCE).min(0).height(8).span(12);
}

/** the four states a token is in, exclusive: Stalled (a human must act), suspended, Ready, not Ready (retrying) */
const STATE_QUERIES: Array<[string, string]> = [
  ['Ready', `count by (kind) (token_operator_token_ready_status{${TOKENS}, condition="True"} == 1)`],
  [
    'Not Ready (retrying)',
    `count by (kind) (token_operator_token_ready_status{${TOKENS}, condition="True"} == 0 unless on (kind, namespace, name) (token_operator_token_stalled == 1 or token_operator_token_suspended == 1))`,
  ],
  ['Stalled', `count by (kind) (token_operator_token_stalled{${TOKENS}} == 1)`],
  ['Suspended', `count by (kind) (token_operator_token_suspended{${TOKENS}} == 1)`],
];

function variables(d: DashboardBuilder): DashboardBuilder {
  const labelValues = (name: string, label: string, q: string) =>
    new QueryVariableBuilder(name)
      .label(label)
      .query(q)
      .definition(q)
      .datasource(DATASOURCE)
      .refresh(VariableRefresh.OnTimeRangeChanged)
      .sort(VariableSort.AlphabeticalAsc)
      .includeAll(true)
      .multi(true)
      .allValue('.*');
  return d
    .withVariable(new DatasourceVariableBuilder('datasource').label('Data source').type('prometheus'))
    .withVariable(labelValues('job', 'Operator (job)', 'label_values(token_operator_build_info, job)'))
    .withVariable(labelValues('kind', 'Kind', `label_values(token_operator_token_ready_status{${OP}}, kind)`))
    .withVariable(labelValues('namespace', 'Token namespace', `label_values(token_operator_token_ready_status{${OP}, kind=~"$kind"}, namespace)`));
}

export function dashboard(): unknown {
  let d = new DashboardBuilder('token-operator')
    .uid('token-operator')
    .description('Tokens by state, what expires or rotates next, rotations, provider calls, the reconcile queue and the operator itself.')
    .tags(['token-operator', 'kubernetes'])
    .refresh('1m')
    .time({ from: 'now-6h', to: 'now' })
    .timezone('browser')
    .editable()
    .link(
      new DashboardLinkBuilder('Runbooks')
        .type(DashboardLinkType.Link)
        .url('https://github.com/token-operator/token-operator/blob/main/docs/runbooks.md')
        .icon('doc')
        .tooltip('What each alert means and what to do')
        .targetBlank(true),
    );
  d = variables(d);

  d = d.withRow(new RowBuilder('Tokens'));
  const states = new stat.PanelBuilder()
    .title('Tokens by state')
    .description('Every token is in one of these: Ready; not Ready while the operator retries; Stalled (a human must act: kubectl token explain NAME -k KIND -n NS); suspended (spec.suspend).')
    .datasource(DATASOURCE)
    .height(6)
    .span(8)
    .noValue('0')
    .graphMode(common.BigValueGraphMode.None)
    .colorMode(common.BigValueColorMode.Background)
    .textMode(common.BigValueTextMode.ValueAndName);
  STATE_QUERIES.forEach(([state, expr], i) => states.withTarget(query(`sum(${expr}) or vector(0)`, state).refId(String.fromCharCode(65 + i))));
  d = d.withPanel(states);
  const perKind = series('Tokens by state per kind', 'none', 'The same four states, per kind, over time.').span(16).height(6);
  perKind.stacking(new common.StackingConfigBuilder().mode(common.StackingMode.Normal));
  STATE_QUERIES.forEach(([state, expr], i) => perKind.withTarget(query(expr, `{{kind}} ${state}`).refId(String.fromCharCode(65 + i))));
  d = d.withPanel(perKind);

  const lifetimeLeft = `(token_operator_token_expiration_timestamp_seconds{${TOKENS}} - time()) / (token_operator_token_expiration_timestamp_seconds{${TOKENS}} - token_operator_token_issued_timestamp_seconds{${TOKENS}})`;
  d = d.withPanel(
    new table.PanelBuilder()
      .title('Expiry and next rotation, most urgent first')
      .description(
        'Per token: how much of its credential\'s lifetime is left (what the alerts measure: a 5-minute token and a 90-day one compare on this), time to expiry and to the planned rotation (negative: overdue), and Ready.',
      )
      .datasource(DATASOURCE)
      .height(10)
      .span(24)
      .withTarget(instant(lifetimeLeft, 'A'))
      .withTarget(instant(`token_operator_token_expiration_timestamp_seconds{${TOKENS}} - time()`, 'B'))
      .withTarget(instant(`token_operator_token_next_rotation_timestamp_seconds{${TOKENS}} - time()`, 'C'))
      .withTarget(instant(`token_operator_token_ready_status{${TOKENS}, condition="True"}`, 'D'))
      .withTransformation({ id: 'merge', options: {} })
      .withTransformation({
        id: 'organize',
        options: {
          excludeByName: { Time: true, job: true, instance: true, condition: true, container: true, endpoint: true, pod: true, service: true },
          indexByName: { kind: 0, namespace: 1, name: 2, 'Value #A': 3, 'Value #B': 4, 'Value #C': 5, 'Value #D': 6 },
          renameByName: { 'Value #A': 'lifetime left', 'Value #B': 'expires in', 'Value #C': 'next rotation in', 'Value #D': 'Ready' },
        },
      })
      .sortBy([new common.TableSortByFieldStateBuilder().displayName('lifetime left').desc(false)])
      .overrideByName('lifetime left', [
        { id: 'unit', value: 'percentunit' },
        { id: 'custom.cellOptions', value: { type: 'color-background' } },
        { id: 'thresholds', value: { mode: 'absolute', steps: [{ color: 'red', value: null }, { color: 'orange', value: 0.1 }, { color: 'green', value: 0.33 }] } },
      ])
      .overrideByName('expires in', [{ id: 'unit', value: 's' }])
      .overrideByName('next rotation in', [{ id: 'unit', value: 's' }])
      .overrideByName('Ready', [{ id: 'mappings', value: [{ type: 'value', options: { '0': { text: 'False', color: 'red' }, '1': { text: 'True', color: 'green' } } }] }]),
  );

  d = d.withRow(new RowBuilder('Rotations'));
  d = d.withPanel(
    series('Issues, rotations and failures', 'none', 'Per kind and result, in each interval. Failures are retried with back-off; a kind with only failures raises TokenOperatorRotationFailing.')
      .span(24)
      .withTarget(query(`sum by (kind, result) (increase(token_operator_rotations_total{${OP}, kind=~"$kind"}[$__rate_interval]))`, '{{kind}} {{result}}')),
  );

  d = d.withRow(new RowBuilder('Providers'));
  d = d.withPanel(
    series('Provider call latency (p50, p95)', 's', 'Calls to the external token APIs, by provider.')
      .withTarget(query(`histogram_quantile(0.95, sum by (provider, le) (rate(token_operator_provider_call_duration_seconds_bucket{${OP}}[$__rate_interval])))`, '{{provider}} p95'))
      .withTarget(query(`histogram_quantile(0.5, sum by (provider, le) (rate(token_operator_provider_call_duration_seconds_bucket{${OP}}[$__rate_interval])))`, '{{provider}} p50')),
  );
  d = d.withPanel(
    series('Provider errors and rate limits', 'reqps', 'Calls that did not succeed, by provider and outcome (HTTP status, timeout, network): 5xx and transport errors feed TokenOperatorProviderErrors, 429 TokenOperatorProviderRateLimited.').withTarget(
      query(`sum by (provider, outcome) (rate(token_operator_provider_calls_total{${OP}, outcome!~"2.."}[$__rate_interval]))`, '{{provider}} {{outcome}}'),
    ),
  );

  d = d.withRow(new RowBuilder('Reconciles'));
  d = d.withPanel(
    series('Work queue depth', 'none', 'Keys waiting for a reconcile slot, by kind.').withTarget(query(`sum by (kind) (token_operator_workqueue_depth{${OP}, kind=~"$kind"})`, '{{kind}}')),
  );
  d = d.withPanel(
    series('Reconcile latency (p95) and errors', 's', 'How long one reconcile takes, by kind; reconciles that ended in an error, per second, on the right axis.')
      .withTarget(query(`histogram_quantile(0.95, sum by (kind, le) (rate(token_operator_reconcile_duration_seconds_bucket{${OP}, kind=~"$kind"}[$__rate_interval])))`, '{{kind}} p95'))
      .withTarget(query(`sum by (kind) (rate(token_operator_reconcile_total{${OP}, kind=~"$kind", result="error"}[$__rate_interval]))`, '{{kind}} errors/s'))
      .overrideByRegexp('errors/s$', [
        { id: 'unit', value: 'reqps' },
        { id: 'custom.axisPlacement', value: 'right' },
      ]),
  );

  d = d.withRow(new RowBuilder('Operator'));
  d = d.withPanel(
    series('Operator memory', 'bytes', 'Resident memory and V8 heap of each replica (the chart sets a 256 MiB limit; bench/README.md has the figures by token count).')
      .withTarget(query(`token_operator_process_resident_memory_bytes{${OP}}`, '{{pod}} RSS'))
      .withTarget(query(`token_operator_nodejs_heap_size_used_bytes{${OP}}`, '{{pod}} heap used')),
  );
  d = d.withPanel(
    series('Leader and Kubernetes API latency (p95)', 's', 'Which replica leads (1), and how long Kubernetes API requests take, by verb.')
      .withTarget(query(`token_operator_leader{${OP}}`, '{{pod}} leader'))
      .withTarget(query(`histogram_quantile(0.95, sum by (verb, le) (rate(token_operator_kube_api_request_duration_seconds_bucket{${OP}}[$__rate_interval])))`, '{{verb}} p95'))
      .overrideByRegexp('leader$', [
        { id: 'unit', value: 'none' },
        { id: 'custom.axisPlacement', value: 'right' },
      ]),
  );
  return d.build();
}
