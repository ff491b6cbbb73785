import { hostOfNodeName, nodeNameFromPrivateDns, peersParameter } from '../../../shared/rabbitmq/names';

describe('nodeNameFromPrivateDns', () => {
  it.each([
    ['ip-10-0-1-5.ec2.internal', 'rabbit@ip-10-0-1-5'],
    ['ip-172-31-40-2.eu-west-1.compute.internal', 'rabbit@ip-172-31-40-2'],
    ['ip-10-213-7-11', 'rabbit@ip-10-213-7-11'],
  ])('derives the node of %s', (dns, expected) => {
    expect(nodeNameFromPrivateDns(dns)).toBe(expected);
  });

  it.each(['', '.ec2.internal', 'ip-10-0-1-5;reboot.ec2.internal', '-bad.ec2.internal'])('refuses %j', (dns) => {
    expect(() => nodeNameFromPrivateDns(dns)).toThrow(/cannot derive/);
  });
});

describe('hostOfNodeName and peersParameter', () => {
  it('takes the host of a node name and joins peers once each', () => {
    const peers = peersParameter(['rabbit@ip-10-0-1-5', 'rabbit@ip-10-0-1-6', 'rabbit@ip-10-0-1-5']);

    expect(hostOfNodeName('rabbit@ip-10-0-1-5')).toBe('ip-10-0-1-5');
    expect(peers).toBe('rabbit@ip-10-0-1-5,rabbit@ip-10-0-1-6');
  });

  it('refuses a peer list holding something that is not a node name', () => {
    expect(() => peersParameter(['rabbit@ip-10-0-1-5', 'rabbit@x;id'])).toThrow(/not a RabbitMQ node name/);
  });
});
