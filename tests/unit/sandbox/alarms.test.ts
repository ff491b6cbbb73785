import { deployedAlarms, deployedRefreshAlarmNames, LocalAlarms, type MetricAlarmDefinition, tapMetrics } from '../../../infra/sandbox/cloud/alarms';
import { schedulerOn } from '../../../infra/sandbox/cloud/scheduler';
import { loadConfig } from '../../../shared/config';
import { ConfigError } from '../../../shared/errors';
import { createObservability } from '../../../shared/observability';
import { deployed, deployedEnvironment } from '../../support/deployed';
import { FakeClock } from '../../support/fake-clock';

/*
 * The alarms a rolling replacement watches, read from serverless.yml as the sandbox deploys it, fed
 * with what warren's workflows record through the Metrics port, and evaluated on virtual time.
 */

const CLUSTER = 'warren-sandbox';
const definitions = deployedAlarms({ clusterName: CLUSTER });
const MINUTE = 60_000;

/** The heal function's REFRESH_ALARM_NAMES as serverless.yml writes it: a join of the alarms' Refs. */
function refreshAlarms(): MetricAlarmDefinition[] {
  const heal = deployed.functions.heal as { environment?: Record<string, any> };
  const [separator, refs] = heal.environment!.REFRESH_ALARM_NAMES['Fn::Join'] as [string, Array<{ Ref: string }>];
  expect(separator).toBe(',');
  return refs.map(({ Ref }) => {
    const found = definitions.find((d) => d.id === Ref);
    if (!found) throw new Error(`REFRESH_ALARM_NAMES refers to ${Ref}, not a metric alarm in namespace warren`);
    return found;
  });
}

function sandboxCloud() {
  const clock = new FakeClock(Date.UTC(2024, 0, 1, 12, 0, 0));
  const alarms = new LocalAlarms(schedulerOn(clock), definitions);
  const telemetry = tapMetrics(createObservability(CLUSTER, { POWERTOOLS_METRICS_DISABLED: 'true' }), alarms, { cluster: CLUSTER, service: 'warren' });
  return { clock, alarms, telemetry, metrics: telemetry.recorder };
}

const alarmOf = (metric: string) => {
  const found = refreshAlarms().find((d) => d.metricName === metric);
  if (!found) throw new Error(`no refresh alarm on ${metric}`);
  return found;
};

describe('the alarms a rolling replacement watches', () => {
  it('are serverless.yml alarms on warren metrics, named "ops ..." and exported to the heal function', () => {
    const watched = refreshAlarms();
    expect(watched.map((d) => d.metricName).sort()).toEqual(['ClusterMembersRunning', 'LaunchAbandoned', 'LeaveWaitExceeded']);
    for (const alarm of watched) {
      // never the runbook prefix: their state changes must not loop back into warren
      expect(alarm.name.startsWith(`ops ${CLUSTER} `)).toBe(true);
      expect(alarm.dimensions).toEqual({ cluster: CLUSTER, service: 'warren' });
      expect(alarm.description).toMatch(/rolling replacement/);
    }
    const outputs = (deployed.serverless as { resources: { Outputs: Record<string, { Value: unknown }> } }).resources.Outputs;
    expect(outputs.RefreshAlarmNames!.Value).toEqual((deployed.functions.heal as { environment: Record<string, unknown> }).environment.REFRESH_ALARM_NAMES);
  });

  it('reach the roll command through loadConfig, which refuses more than an AlarmSpecification takes or a name CloudWatch refuses', () => {
    const names = refreshAlarms().map((d) => d.name);
    expect(deployedRefreshAlarmNames({ clusterName: CLUSTER })).toEqual(names);
    expect(loadConfig({ ...deployedEnvironment(), REFRESH_ALARM_NAMES: names.join(',') }).refreshAlarmNames).toEqual(names);
    expect(loadConfig(deployedEnvironment()).refreshAlarmNames).toEqual([]);
    const eleven = Array.from({ length: 11 }, (_, i) => `ops warren-demo alarm ${i}`).join(',');
    expect(() => loadConfig({ ...deployedEnvironment(), REFRESH_ALARM_NAMES: eleven })).toThrow(ConfigError);
    expect(() => loadConfig({ ...deployedEnvironment(), REFRESH_ALARM_NAMES: eleven })).toThrow(/REFRESH_ALARM_NAMES: 11 alarms: .* at most 10/);
    expect(() => loadConfig({ ...deployedEnvironment(), REFRESH_ALARM_NAMES: 'ops a,\nops b' })).toThrow(
      /REFRESH_ALARM_NAMES: name 2 .* not a CloudWatch alarm name/,
    );
    expect(() => loadConfig({ ...deployedEnvironment(), REFRESH_ALARM_NAMES: 'ops a,,ops b' })).toThrow(/REFRESH_ALARM_NAMES: name 2/);
    expect(() => loadConfig({ ...deployedEnvironment(), REFRESH_ALARM_NAMES: `ops ${'x'.repeat(252)}` })).toThrow(/REFRESH_ALARM_NAMES/);
  });
});

describe('LocalAlarms', () => {
  it.each(['LaunchAbandoned', 'LeaveWaitExceeded'])('goes to ALARM on one %s, stays there through its evaluation periods, then back to OK', (metric) => {
    const { clock, alarms, telemetry, metrics } = sandboxCloud();
    const alarm = alarmOf(metric);
    expect(alarms.state(alarm.name)).toBe('INSUFFICIENT_DATA');

    clock.advance(MINUTE);
    expect(alarms.state(alarm.name)).toBe('OK');

    clock.advance(MINUTE / 3);
    const recordedAt = clock.now();
    metrics.count(metric);
    clock.advance(MINUTE);
    expect(alarms.state(alarm.name)).toBe('ALARM');
    // the functions still publish it as before
    expect(telemetry.metrics.hasStoredMetrics()).toBe(true);

    // the count stays in the alarm's window (its evaluation periods) and leaves it at the next evaluation after
    const windowMs = alarm.periodSeconds * 1000 * alarm.evaluationPeriods;
    clock.advance(recordedAt + windowMs - MINUTE - clock.now());
    expect(alarms.state(alarm.name)).toBe('ALARM');
    clock.advance(2 * MINUTE);
    expect(alarms.state(alarm.name)).toBe('OK');
  });

  it.each(['LaunchAbandoned', 'LeaveWaitExceeded'])('stays OK without a %s, whatever else warren records', (metric) => {
    const { clock, alarms, metrics } = sandboxCloud();
    for (let minute = 0; minute < 10; minute++) {
      metrics.count('LaunchContinued');
      metrics.count('LeaveBlocked');
      metrics.durationMs('launchDuration', 4_000);
      clock.advance(MINUTE);
      expect(alarms.state(alarmOf(metric).name)).toBe('OK');
    }
  });

  it('goes to ALARM when a reconcile tick counts fewer members running than a majority, and back to OK once they are back', () => {
    const { clock, alarms, metrics } = sandboxCloud();
    const alarm = alarmOf('ClusterMembersRunning');
    const tickMs = Number(/^rate\((\d+) minutes?\)$/.exec(deployed.reconcileSchedule)?.[1]) * MINUTE;
    expect(tickMs).toBeGreaterThan(0);
    const majority = alarm.threshold;
    const tick = (members: number) => {
      metrics.gauge('ClusterMembersRunning', members);
      metrics.gauge('InServiceInstances', members);
      clock.advance(tickMs);
    };

    for (let i = 0; i < 4; i++) tick(majority);
    expect(alarms.state(alarm.name)).toBe('OK');

    tick(majority - 1);
    expect(alarms.state(alarm.name)).toBe('ALARM');
    // a tick that leaves a period empty does not clear it
    clock.advance(MINUTE);
    expect(alarms.state(alarm.name)).toBe('ALARM');

    for (let i = 0; i < alarm.evaluationPeriods + 1; i++) tick(majority);
    expect(alarms.state(alarm.name)).toBe('OK');
    expect(alarms.describe().find((s) => s.name === alarm.name)).toMatchObject({ state: 'OK', reason: expect.stringContaining('0 of') });
  });

  it("counts only its own cluster's data points", () => {
    const { clock, alarms } = sandboxCloud();
    const alarm = alarmOf('ClusterMembersRunning');
    alarms.record({ namespace: 'warren', metricName: 'ClusterMembersRunning', dimensions: { cluster: 'another', service: 'warren' }, value: 0 });
    alarms.record({ namespace: 'warren', metricName: 'ClusterMembersRunning', dimensions: { cluster: CLUSTER }, value: 0 });
    clock.advance(MINUTE);
    expect(alarms.state(alarm.name)).toBe('OK');
  });

  it('names every warren alarm of serverless.yml, and refuses to answer for one it does not have', () => {
    const { alarms } = sandboxCloud();
    expect(alarms.names()).toEqual(expect.arrayContaining(refreshAlarms().map((d) => d.name)));
    expect(alarms.names()).toHaveLength(definitions.length);
    expect(() => alarms.state('ops warren-sandbox nothing')).toThrow(/no alarm named/);
  });
});
