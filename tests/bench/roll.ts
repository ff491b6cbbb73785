// Powertools writes to stdout: silenced before the sandbox creates its logger (the table goes there).
process.env.POWERTOOLS_LOG_LEVEL ??= 'SILENT';
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';

import { DescribeAutoScalingGroupsCommand, SetDesiredCapacityCommand, TerminateInstanceInAutoScalingGroupCommand } from '@aws-sdk/client-auto-scaling';
import { planRoll, readRollGroup, startRoll } from '../../infra/operate/roll';
import { removeLeftovers } from '../../infra/sandbox/nodes';
import { Sandbox } from '../../infra/sandbox/sandbox';
import { createAwsClients } from '../../shared/aws';
import { figure, goal, type Figure, type Goal, type Section } from './figures';

/**
 * Rolling replacement (#15): `warren roll` (one Instance Refresh) against its floor, the same
 * replacements done one after the other by hand with the runbook's commands (raise the desired
 * capacity by one, wait until converged, terminate an old instance with decrement, wait), on the same
 * sandbox in the same run, alternating which goes first.
 */

const SECTION = 'roll';
const CONVERGE_MS = 600_000;
const ROLL_MS = 1_800_000;
/** the refresh's extra work over the floor: its status polls and the alarm checks between replacements */
const AT_MOST = 1.25;

type Clients = ReturnType<typeof createAwsClients>;

async function rollOnce(sandbox: Sandbox, clients: Clients, round: number): Promise<number> {
  const imageId = sandbox.launchTemplates.registerImage({ rabbitmqConf: `# bench round ${round}\n` });
  // a refresh starts only with its alarms OK; a fresh sandbox's alarms are INSUFFICIENT_DATA until their first minute is evaluated
  while (!sandbox.config.refreshAlarmNames.every((name) => sandbox.group.instanceRefreshes.alarmState(name) === 'OK')) {
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  }
  const started = Date.now();
  const plan = planRoll(await readRollGroup(clients, sandbox.config.autoScalingGroupName), { imageId }, sandbox.config.refreshAlarmNames);
  const { instanceRefreshId } = await startRoll(clients, plan);
  for (;;) {
    const [view] = sandbox.group.instanceRefreshes.describe([instanceRefreshId]);
    if (view?.status === 'Successful') break;
    if (view && !['Pending', 'InProgress', 'Baking'].includes(view.status)) throw new Error(`the refresh ended ${view.status}: ${view.statusReason}`);
    if (Date.now() - started > ROLL_MS) throw new Error(`the refresh did not end within ${ROLL_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  await sandbox.waitConverged(CONVERGE_MS);
  return Date.now() - started;
}

async function byHand(sandbox: Sandbox, clients: Clients): Promise<number> {
  const group = sandbox.config.autoScalingGroupName;
  const described = await clients.autoScaling.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [group] }));
  const originals = (described.AutoScalingGroups?.[0]?.Instances ?? []).map((i) => i.InstanceId!);
  const desired = originals.length;
  const started = Date.now();
  for (const old of originals) {
    await clients.autoScaling.send(new SetDesiredCapacityCommand({ AutoScalingGroupName: group, DesiredCapacity: desired + 1 }));
    await sandbox.waitConverged(CONVERGE_MS);
    await clients.autoScaling.send(new TerminateInstanceInAutoScalingGroupCommand({ InstanceId: old, ShouldDecrementDesiredCapacity: true }));
    await sandbox.waitConverged(CONVERGE_MS);
  }
  return Date.now() - started;
}

export const rollingReplacement: Section = async ({ runs, quick, rabbitmq, log }) => {
  const figures: Figure[] = [];
  const goals: Goal[] = [];
  const pairs = quick ? 1 : Math.min(runs, 2);
  for (const size of quick ? [1] : [3, 5]) {
    await removeLeftovers();
    const sandbox = await Sandbox.start({ nodes: size, rabbitmq, reconcileEveryMs: 0 });
    const rolls: number[] = [];
    const floors: number[] = [];
    try {
      await sandbox.waitConverged(CONVERGE_MS);
      const clients = createAwsClients(sandbox.aws.clientOptions());
      for (let pair = 0; pair < pairs; pair++) {
        const measure = [async () => rolls.push(await rollOnce(sandbox, clients, pair)), async () => floors.push(await byHand(sandbox, clients))];
        for (const step of pair % 2 === 0 ? measure : measure.reverse()) await step();
        log(`${size} nodes, pair ${pair + 1}: roll ${(rolls.at(-1)! / 1000).toFixed(1)} s, by hand ${(floors.at(-1)! / 1000).toFixed(1)} s`);
      }
    } finally {
      await sandbox.stop();
    }
    figures.push(
      figure(
        SECTION,
        `roll ${size} nodes (warren roll: StartInstanceRefresh → Successful, converged)`,
        's',
        rolls.map((ms) => ms / 1000),
      ),
      figure(
        SECTION,
        `floor: ${size} replacements by hand (desired +1, converged, terminate with decrement, converged)`,
        's',
        floors.map((ms) => ms / 1000),
      ),
    );
    goals.push(
      goal(
        SECTION,
        `roll ${size} nodes / by hand`,
        AT_MOST,
        rolls.map((ms, i) => ms / floors[i]!),
        'the refresh checks its alarms and its replacements on its own clock between steps',
      ),
    );
  }
  return { figures, goals };
};
