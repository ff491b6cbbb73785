import { loadDocument, startCluster } from '../../infra/sandbox/nodes';
import { figure, goal, type Section } from './figures';

/**
 * What one NodeStatus costs the node it runs on, in CPU seconds (user + system of the script and every
 * process it starts), on a member of a 3-node cluster and on its first member, which also judges every
 * quorum queue's and stream's replicas (1 node, the judge, with --quick). Reconcile runs it on every node every tick: in the sandbox the nodes share 2 cores, in AWS
 * it is CPU taken from each broker. The floor is one start of the RabbitMQ CLI (`rabbitmqctl eval
 * 'ok.'`), the least any status that asks the node can cost: each start is an Erlang VM.
 */

const SECTION = 'node-status';
/** one eval that gathers every fact, and the jq around it */
const GOAL_STARTS = 1.5;

export const nodeStatusCost: Section = async ({ runs, quick, rabbitmq, log }) => {
  const cluster = await startCluster({ size: quick ? 1 : 3, prefix: 'bnst', rabbitmq });
  try {
    const nodes = [...cluster.nodes].sort((a, b) => a.name.localeCompare(b.name));
    await cluster.declareQueue(nodes[0]!, 'bench-status', 'quorum');
    const judge = nodes[0]!;
    const member = nodes[nodes.length > 1 ? 1 : 0]!;
    const cpuOf = async (script: string, node = member): Promise<number> => {
      const timed = await cluster.exec(node, 'bash', ['-c', `TIMEFORMAT='%U %S'; { time bash -c "$0" >/dev/null; } 2>&1 | tail -n 1`, script]);
      const [user, system] = timed.stdout.trim().split(' ').map(Number);
      if (timed.exitCode !== 0 || !Number.isFinite(user) || !Number.isFinite(system)) throw new Error(`timing failed: ${timed.stdout} ${timed.stderr}`);
      return user! + system!;
    };
    const status: number[] = [];
    const judged: number[] = [];
    const floor: number[] = [];
    const ratios: number[] = [];
    const judgeRatios: number[] = [];
    for (let run = 0; run < runs; run++) {
      const s = await cpuOf(loadDocument('NodeStatus').script);
      const j = await cpuOf(loadDocument('NodeStatus').script, judge);
      const f = await cpuOf(`rabbitmqctl --node ${member.name} -q eval 'ok.'`);
      status.push(s);
      judged.push(j);
      floor.push(f);
      ratios.push(s / f);
      judgeRatios.push(j / f);
      log(`run ${run + 1}: NodeStatus ${s.toFixed(2)} s CPU on a member, ${j.toFixed(2)} s on the judge, one CLI start ${f.toFixed(2)} s`);
    }
    const note = `RabbitMQ ${rabbitmq}, a member of ${nodes.length}`;
    return {
      figures: [
        figure(SECTION, 'NodeStatus CPU on the node', 's', status, note),
        figure(SECTION, 'NodeStatus CPU on the judge of the replicas', 's', judged, note),
        figure(SECTION, 'one RabbitMQ CLI start (floor)', 's', floor, note),
        figure(SECTION, 'NodeStatus / one CLI start', 'ratio', ratios),
        figure(SECTION, 'NodeStatus on the judge / one CLI start', 'ratio', judgeRatios),
      ],
      goals: quick
        ? []
        : [
            goal(SECTION, `NodeStatus within ${GOAL_STARTS} CLI starts of CPU`, GOAL_STARTS, ratios, 'more CLI starts than the one eval'),
            goal(SECTION, `NodeStatus on the judge within ${GOAL_STARTS} CLI starts of CPU`, GOAL_STARTS, judgeRatios, 'more CLI starts than the one eval'),
          ],
    };
  } finally {
    await cluster.destroy();
  }
};
