/**
 * Which RabbitMQ release series may share a cluster. RabbitMQ's rolling upgrades never skip a minor
 * series (https://www.rabbitmq.com/docs/rolling-upgrade: "you cannot upgrade directly from 3.12.x to
 * 4.0"), and a node joins only a cluster whose enabled feature flags it knows: a node one series away
 * (either way) is a rolling upgrade or its rollback, anything farther cannot join. 4.0 into 4.3, for
 * example, would meet Khepri and flags 4.0 has never heard of.
 */

/** Release series in RabbitMQ's order, across the 3 → 4 boundary; later series follow by minor. */
const SERIES = ['3.8', '3.9', '3.10', '3.11', '3.12', '3.13', '4.0', '4.1', '4.2', '4.3'] as const;

const SERIES_PATTERN = /^(\d{1,3})\.(\d{1,3})(?:[.+-]|$)/;

/** "4.3.6" → "4.3"; undefined for anything that does not start with major.minor. */
export function seriesOf(version: string): string | undefined {
  const match = SERIES_PATTERN.exec(version);
  return match ? `${Number(match[1])}.${Number(match[2])}` : undefined;
}

/** The series just below and just above: the known sequence where it is in it, else the same major one minor down and up. */
function neighbours(series: string): { below?: string; above?: string } {
  const [major, minor] = series.split('.').map(Number) as [number, number];
  const next = `${major}.${minor + 1}`;
  const index = (SERIES as readonly string[]).indexOf(series);
  if (index >= 0) return { below: SERIES[index - 1], above: SERIES[index + 1] ?? next };
  return { below: minor > 0 ? `${major}.${minor - 1}` : undefined, above: next };
}

/**
 * The series a node may run to join a cluster of `clusterVersion`: its own and the ones next to it, as
 * NodeJoin's JoinableSeries ("4.2,4.3,4.4"). Empty (no check) when the cluster's version is unknown or malformed.
 */
export function joinableSeries(clusterVersion: string | undefined): string {
  const series = clusterVersion === undefined ? undefined : seriesOf(clusterVersion);
  if (series === undefined) return '';
  const { below, above } = neighbours(series);
  return [below, series, above].filter((s) => s !== undefined).join(',');
}
