import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics as PowertoolsMetrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Log, Metrics } from './ports';

/**
 * The one logger and the one metrics emitter, built once per cold start and handed to the
 * workflows through the `Log` and `Metrics` ports. Log lines are Powertools JSON on stdout;
 * metrics are CloudWatch EMF documents in namespace "warren" with a `cluster` dimension.
 *
 * In a handler:
 *   const telemetry = observability(config.clusterName);          // module scope: once per cold start
 *   const log = withCorrelation(telemetry.logger, event.id);      // every invocation
 *   try { ... } finally { telemetry.flush(); }                     // metrics leave at the end
 */
export interface Observability {
  logger: Logger;
  metrics: PowertoolsMetrics;
  /** the Metrics port over `metrics` */
  recorder: Metrics;
  /** Writes the EMF document of this invocation's metrics, if there are any. */
  flush(): void;
}

export const METRICS_NAMESPACE = 'warren';

export function createObservability(cluster: string, env: Record<string, string | undefined> = process.env): Observability {
  const serviceName = env.POWERTOOLS_SERVICE_NAME || 'warren';
  const logger = new Logger({ serviceName, persistentKeys: { cluster } });
  const metrics = new PowertoolsMetrics({ namespace: METRICS_NAMESPACE, serviceName, defaultDimensions: { cluster } });
  return {
    logger,
    metrics,
    recorder: metricsPort(metrics),
    flush: () => {
      // an invocation that recorded nothing would otherwise print Powertools' "no metrics" warning
      if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
    },
  };
}

let coldStart: { cluster: string; telemetry: Observability } | undefined;

/** The instance of this execution environment; a Lambda environment serves one cluster. */
export function observability(cluster: string): Observability {
  if (!coldStart || coldStart.cluster !== cluster) {
    coldStart = { cluster, telemetry: createObservability(cluster) };
  }
  return coldStart.telemetry;
}

/**
 * Marks every following log line with the event id as correlation_id. Keys of the previous
 * invocation are dropped first: a warm environment must not lend one event's id to the next.
 */
export function withCorrelation(logger: Logger, eventId: string): Log {
  logger.resetKeys();
  logger.setCorrelationId(eventId);
  return logPort(logger);
}

function logPort(logger: Logger): Log {
  const write = (level: 'debug' | 'info' | 'warn' | 'error') => (message: string, extra?: Record<string, unknown>) =>
    extra === undefined ? logger[level](message) : logger[level](message, extra);
  return { debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error') };
}

function metricsPort(metrics: PowertoolsMetrics): Metrics {
  return {
    count: (name, value = 1) => {
      metrics.addMetric(name, MetricUnit.Count, value);
    },
    gauge: (name, value) => {
      metrics.addMetric(name, MetricUnit.NoUnit, value);
    },
    durationMs: (name, ms) => {
      metrics.addMetric(name, MetricUnit.Milliseconds, ms);
    },
  };
}
