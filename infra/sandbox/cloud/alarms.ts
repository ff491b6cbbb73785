import { METRICS_NAMESPACE, type Observability } from '../../../shared/observability';
import type { Metrics } from '../../../shared/ports';
import { deployed } from '../../deploy/settings';
import type { Scheduler } from './scheduler';

/**
 * CloudWatch's metric alarms on warren's own metrics, as serverless.yml defines them, fed by the
 * metrics warren records in the sandbox. The Instance Refresh model reads `state` for its
 * AlarmSpecification; `describe` is for status output.
 */

export type AlarmState = 'OK' | 'ALARM' | 'INSUFFICIENT_DATA';
type Statistic = 'Sum' | 'Maximum' | 'Minimum' | 'Average' | 'SampleCount';
type Comparison = 'GreaterThanThreshold' | 'GreaterThanOrEqualToThreshold' | 'LessThanThreshold' | 'LessThanOrEqualToThreshold';
type MissingData = 'breaching' | 'notBreaching' | 'ignore' | 'missing';

/** One AWS::CloudWatch::Alarm of serverless.yml, its ${param:...} resolved. */
export interface MetricAlarmDefinition {
  /** the template's logical id */
  id: string;
  name: string;
  description: string;
  namespace: string;
  metricName: string;
  dimensions: Record<string, string>;
  statistic: Statistic;
  periodSeconds: number;
  evaluationPeriods: number;
  datapointsToAlarm: number;
  comparison: Comparison;
  threshold: number;
  treatMissingData: MissingData;
}

export interface DataPoint {
  namespace: string;
  metricName: string;
  dimensions: Record<string, string>;
  value: number;
}

export interface AlarmStatus {
  name: string;
  state: AlarmState;
  reason: string;
  /** when the state last changed (scheduler time) */
  since: number;
}

/** CloudWatch evaluates a metric alarm once a minute. */
const EVALUATION_INTERVAL_MS = 60_000;
const STATISTICS: readonly Statistic[] = ['Sum', 'Maximum', 'Minimum', 'Average', 'SampleCount'];
const COMPARISONS: Record<Comparison, (value: number, threshold: number) => boolean> = {
  GreaterThanThreshold: (v, t) => v > t,
  GreaterThanOrEqualToThreshold: (v, t) => v >= t,
  LessThanThreshold: (v, t) => v < t,
  LessThanOrEqualToThreshold: (v, t) => v <= t,
};
const MISSING_DATA: readonly MissingData[] = ['breaching', 'notBreaching', 'ignore', 'missing'];

/**
 * The metric alarms of serverless.yml in `namespace` (default warren's), with ${param:x} resolved as a
 * deploy with `params` would: the template's default params, overridden (clusterName: the sandbox's).
 */
export function deployedAlarms(params: Record<string, string>, namespace = METRICS_NAMESPACE): MetricAlarmDefinition[] {
  const serverless = deployed.serverless as {
    params: { default: Record<string, unknown> };
    resources: { Resources: Record<string, { Type: string; Properties: any }> };
  };
  const values: Record<string, string> = { ...stringsOf(serverless.params.default), ...params };
  const resolve = (value: unknown, what: string): string => {
    if (typeof value !== 'string' && typeof value !== 'number') throw new Error(`serverless.yml: ${what} is not a literal (${JSON.stringify(value)})`);
    return String(value).replace(/\$\{param:([A-Za-z0-9]+)\}/g, (_, name: string) => {
      if (!(name in values)) throw new Error(`serverless.yml: ${what} uses param ${name}, which has no value`);
      return values[name]!;
    });
  };
  const number = (value: unknown, what: string): number => {
    const n = Number(resolve(value, what));
    if (!Number.isFinite(n)) throw new Error(`serverless.yml: ${what} is not a number`);
    return n;
  };
  const oneOf = <T extends string>(allowed: readonly T[], value: unknown, what: string): T => {
    const text = resolve(value, what);
    if (!(allowed as readonly string[]).includes(text)) throw new Error(`serverless.yml: ${what} ${text} is not one of ${allowed.join(', ')}`);
    return text as T;
  };
  return Object.entries(serverless.resources.Resources)
    .filter(([, resource]) => resource.Type === 'AWS::CloudWatch::Alarm' && resource.Properties.Namespace === namespace)
    .map(([id, { Properties: p }]) => {
      const evaluationPeriods = number(p.EvaluationPeriods, `${id} EvaluationPeriods`);
      return {
        id,
        name: resolve(p.AlarmName, `${id} AlarmName`),
        description: p.AlarmDescription === undefined ? '' : resolve(p.AlarmDescription, `${id} AlarmDescription`),
        namespace,
        metricName: resolve(p.MetricName, `${id} MetricName`),
        dimensions: Object.fromEntries(
          (p.Dimensions ?? []).map((d: { Name: unknown; Value: unknown }) => [resolve(d.Name, `${id} dimension`), resolve(d.Value, `${id} dimension`)]),
        ),
        statistic: oneOf(STATISTICS, p.Statistic, `${id} Statistic`),
        periodSeconds: number(p.Period, `${id} Period`),
        evaluationPeriods,
        datapointsToAlarm: p.DatapointsToAlarm === undefined ? evaluationPeriods : number(p.DatapointsToAlarm, `${id} DatapointsToAlarm`),
        comparison: oneOf(Object.keys(COMPARISONS) as Comparison[], p.ComparisonOperator, `${id} ComparisonOperator`),
        threshold: number(p.Threshold, `${id} Threshold`),
        treatMissingData: p.TreatMissingData === undefined ? 'missing' : oneOf(MISSING_DATA, p.TreatMissingData, `${id} TreatMissingData`),
      };
    });
}

/**
 * The heal function's REFRESH_ALARM_NAMES as a deploy with `params` sets it: serverless.yml joins the
 * Refs of alarms, which CloudFormation resolves to their names.
 */
export function deployedRefreshAlarmNames(params: Record<string, string>): string[] {
  const heal = deployed.functions.heal as { environment?: Record<string, unknown> };
  const join = (heal.environment?.REFRESH_ALARM_NAMES as { 'Fn::Join'?: [string, Array<{ Ref?: string }>] } | undefined)?.['Fn::Join'];
  if (join?.[0] !== ',') throw new Error('serverless.yml: the heal function has no REFRESH_ALARM_NAMES joined with ","');
  const alarms = deployedAlarms(params);
  return join[1].map(({ Ref }) => {
    const alarm = alarms.find((a) => a.id === Ref);
    if (!alarm) throw new Error(`serverless.yml: REFRESH_ALARM_NAMES refers to ${Ref}, not a metric alarm on warren's metrics`);
    return alarm.name;
  });
}

/**
 * The alarms and the data points they watch. Evaluation is CloudWatch's, once a minute on the
 * scheduler's clock, done when a state is asked for (so no timer outlives the sandbox):
 * - at each evaluation time T the alarm looks at EvaluationPeriods windows of Period ending at T,
 *   applies its Statistic to each window's data points, and goes to ALARM when at least
 *   DatapointsToAlarm windows breach the Threshold;
 * - a window without data points counts per TreatMissingData: notBreaching as good, breaching as bad,
 *   missing and ignore not at all; with no window left, missing goes to INSUFFICIENT_DATA and ignore keeps
 *   the state;
 * - a new alarm is INSUFFICIENT_DATA until its first evaluation.
 * Only points that match the alarm's namespace, metric and whole dimension set count, as in CloudWatch.
 */
export class LocalAlarms {
  private readonly alarms: Map<string, { definition: MetricAlarmDefinition; status: AlarmStatus }>;
  private readonly points: Array<DataPoint & { at: number }> = [];
  private evaluatedUntil: number;
  private readonly retainMs: number;

  constructor(
    private readonly scheduler: Scheduler,
    definitions: readonly MetricAlarmDefinition[],
  ) {
    const created = scheduler.now();
    this.alarms = new Map(
      definitions.map((definition) => [
        definition.name,
        { definition, status: { name: definition.name, state: 'INSUFFICIENT_DATA', reason: 'not evaluated yet', since: created } },
      ]),
    );
    this.evaluatedUntil = minuteOf(created);
    this.retainMs = Math.max(0, ...definitions.map((d) => d.periodSeconds * d.evaluationPeriods * 1000));
  }

  /** Every metric data point warren records; those no alarm watches are kept out. */
  record(point: DataPoint): void {
    this.catchUp();
    if ([...this.alarms.values()].some(({ definition }) => watches(definition, point))) this.points.push({ ...point, at: this.scheduler.now() });
  }

  /** The alarm's state as DescribeAlarms would answer it now; throws for an alarm that does not exist. */
  state(alarmName: string): AlarmState {
    return this.status(alarmName).state;
  }

  names(): string[] {
    return [...this.alarms.keys()];
  }

  describe(): AlarmStatus[] {
    this.catchUp();
    return [...this.alarms.values()].map(({ status }) => ({ ...status }));
  }

  private status(alarmName: string): AlarmStatus {
    this.catchUp();
    const alarm = this.alarms.get(alarmName);
    if (!alarm) throw new Error(`no alarm named ${alarmName} (alarms: ${this.names().join('; ')})`);
    return alarm.status;
  }

  /** Runs every once-a-minute evaluation due since the last one, in order. */
  private catchUp(): void {
    const due = minuteOf(this.scheduler.now());
    for (let at = this.evaluatedUntil + EVALUATION_INTERVAL_MS; at <= due; at += EVALUATION_INTERVAL_MS) {
      for (const alarm of this.alarms.values()) {
        const next = evaluate(alarm.definition, this.points, at);
        if (next && next.state !== alarm.status.state) alarm.status = { name: alarm.definition.name, ...next, since: at };
        else if (next) alarm.status.reason = next.reason;
      }
    }
    this.evaluatedUntil = Math.max(this.evaluatedUntil, due);
    const keepFrom = this.evaluatedUntil - this.retainMs;
    while (this.points.length > 0 && this.points[0]!.at < keepFrom) this.points.shift();
  }
}

/**
 * The Metrics port over the sandbox's telemetry, with every data point also delivered to `alarms` under
 * the dimensions its EMF document carries (`cluster` and Powertools' `service`). What the functions
 * publish is unchanged: the original port still receives everything.
 */
export function tapMetrics(telemetry: Observability, alarms: Pick<LocalAlarms, 'record'>, dimensions: Record<string, string>): Observability {
  const port = telemetry.recorder;
  const record = (metricName: string, value: number) => alarms.record({ namespace: METRICS_NAMESPACE, metricName, dimensions, value });
  const recorder: Metrics = {
    count: (name, value = 1) => {
      port.count(name, value);
      record(name, value);
    },
    gauge: (name, value) => {
      port.gauge(name, value);
      record(name, value);
    },
    durationMs: (name, ms) => {
      port.durationMs(name, ms);
      record(name, ms);
    },
  };
  return { ...telemetry, recorder };
}

function evaluate(
  alarm: MetricAlarmDefinition,
  points: ReadonlyArray<DataPoint & { at: number }>,
  at: number,
): Omit<AlarmStatus, 'name' | 'since'> | undefined {
  const periodMs = alarm.periodSeconds * 1000;
  const windows = Array.from({ length: alarm.evaluationPeriods }, (_, k) => {
    const [from, to] = [at - (k + 1) * periodMs, at - k * periodMs];
    const values = points.filter((p) => p.at >= from && p.at < to && watches(alarm, p)).map((p) => p.value);
    return values.length === 0 ? undefined : statistic(alarm.statistic, values);
  });
  const breaches = COMPARISONS[alarm.comparison];
  let counted = 0;
  let breaching = 0;
  for (const value of windows) {
    if (value === undefined) {
      if (alarm.treatMissingData === 'breaching') [counted, breaching] = [counted + 1, breaching + 1];
      else if (alarm.treatMissingData === 'notBreaching') counted += 1;
    } else {
      counted += 1;
      if (breaches(value, alarm.threshold)) breaching += 1;
    }
  }
  const shown = windows.map((v) => (v === undefined ? '-' : String(v))).join(', ');
  if (counted === 0) {
    return alarm.treatMissingData === 'ignore' ? undefined : { state: 'INSUFFICIENT_DATA', reason: `no data points in ${alarm.evaluationPeriods} periods` };
  }
  const reason = `${breaching} of ${alarm.evaluationPeriods} periods breaching ${alarm.comparison} ${alarm.threshold} (${alarm.statistic}, newest first: ${shown}); ${alarm.datapointsToAlarm} to alarm`;
  return { state: breaching >= alarm.datapointsToAlarm ? 'ALARM' : 'OK', reason };
}

function statistic(kind: Statistic, values: number[]): number {
  switch (kind) {
    case 'Sum':
      return values.reduce((a, b) => a + b, 0);
    case 'Maximum':
      return Math.max(...values);
    case 'Minimum':
      return Math.min(...values);
    case 'Average':
      return values.reduce((a, b) => a + b, 0) / values.length;
    case 'SampleCount':
      return values.length;
  }
}

function watches(alarm: MetricAlarmDefinition, point: DataPoint): boolean {
  const keys = Object.keys(alarm.dimensions);
  return (
    point.namespace === alarm.namespace &&
    point.metricName === alarm.metricName &&
    keys.length === Object.keys(point.dimensions).length &&
    keys.every((key) => point.dimensions[key] === alarm.dimensions[key])
  );
}

function minuteOf(ms: number): number {
  return Math.floor(ms / EVALUATION_INTERVAL_MS) * EVALUATION_INTERVAL_MS;
}

function stringsOf(record: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(Object.entries(record).map(([key, value]) => [key, String(value)]));
}
