import { EventSkipped } from '../errors';
import type { EventOf } from '../events/types';
import type { Deps, Outcome } from './deps';
import { describeOurInstance, runningPeers, takeOutOfTraffic } from './instances';
import { whilePaused } from './pause';

/** A spot warning leaves two minutes: the deregistration wait must leave time for the drain. */
const INTERRUPTION_DEREGISTRATION_SECONDS = 30;

/**
 * Spot interruption warning or rebalance recommendation: move clients off the node early. No leave and
 * no forget here: the terminate hook or the gone path does that once the instance really goes.
 */
export async function interruption(event: EventOf<'interruption'>, deps: Deps): Promise<Outcome> {
  const { config, log, metrics } = deps;
  const instanceId = event.instanceId;
  const instance = await describeOurInstance(deps, instanceId);
  if (instance.state !== 'running') throw new EventSkipped(`EC2 reports the instance ${instance.state}`, { instanceId });
  const paused = await whilePaused('interruption', deps);
  if (paused) return paused;

  if ((await runningPeers(deps, instanceId)).peers.length === 0) {
    // Invariant 2: draining the last running member would only move the outage earlier.
    log.warn('interrupted node is the last running member: kept in traffic and not drained', { instanceId, reason: event.reason });
    metrics.count('UnsafeActionRefused');
    return { result: 'refused', reason: 'last running member' };
  }

  await takeOutOfTraffic(deps, instanceId, Math.min(config.bounds.deregistrationSeconds, INTERRUPTION_DEREGISTRATION_SECONDS));
  const drained = await deps.nodes.run(instanceId, 'drain', {});
  log.info('interrupted node taken out of traffic and drained', { instanceId, reason: event.reason, drained: drained.drained });
  metrics.count('NodeDrained');
  return { result: 'acted', details: { drained: drained.drained } };
}
