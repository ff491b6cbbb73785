import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { majorVersion, parseNodeOutput } from '../../../shared/rabbitmq/operations';

// Each fixture is the stdout of a document run against a real RabbitMQ 3.10.8 node of the harness.
const captured = (name: string) => readFileSync(join(__dirname, 'fixtures', name), 'utf8');

describe('parseNodeOutput on captured document outputs', () => {
  it('parses the status of a running member', () => {
    const status = parseNodeOutput('status', captured('NodeStatus.running.stdout'));

    expect(status.running).toBe(true);
    expect(status.members.all).toEqual(['rabbit@ip-10-213-228-11', 'rabbit@ip-10-213-228-12']);
    expect(majorVersion(status.version)).toBe(3);
  });

  it('tells a refused leave from a completed one', () => {
    const refused = parseNodeOutput('leave', captured('NodeLeave.refused.stdout'));
    const left = parseNodeOutput('leave', captured('NodeLeave.left.stdout'));

    expect(refused.left === false && refused.reason).toBe('quorum-critical');
    expect(left.left === true && left.quorumShrunk).toBe(1);
  });

  it('takes the last line when agent noise precedes the JSON', () => {
    const stdout = `Setting policy...\n${captured('NodeApplyPolicy.unchanged.stdout')}`;

    expect(parseNodeOutput('applyPolicy', stdout).policy).toBe('unchanged');
  });

  it('parses forget and drain outputs', () => {
    expect(parseNodeOutput('forget', captured('NodeForget.forgotten.stdout')).result).toBe('forgotten');
    expect(parseNodeOutput('drain', captured('NodeDrain.stdout')).drained).toBe(true);
  });

  it('rejects output cut off by the SSM limit', () => {
    const truncated = captured('NodeStatus.running.stdout').slice(0, 80);

    expect(() => parseNodeOutput('status', truncated)).toThrow();
  });
});
