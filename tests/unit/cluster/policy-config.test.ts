import { ConfigError } from '../../../shared/errors';
import { testConfig } from '../../support/config';

describe('policy configuration', () => {
  it('describes both the 3.x and the 4.x policy by default', () => {
    const config = testConfig();

    expect(config.haPolicy).toEqual({
      name: 'ha-all',
      pattern: '',
      definition: { 'ha-mode': 'all', 'ha-sync-mode': 'automatic' },
      applyTo: 'queues',
      priority: 0,
    });
    expect(config.quorumPolicy).toEqual({
      name: 'warren-quorum',
      pattern: '.*',
      definition: { 'queue-leader-locator': 'balanced' },
      applyTo: 'queues',
      priority: 0,
    });
    expect(config.defaultQueueType).toBe('quorum');
  });

  it('takes an empty QUORUM_POLICY_NAME and DEFAULT_QUEUE_TYPE as "none"', () => {
    const config = testConfig({ QUORUM_POLICY_NAME: '', DEFAULT_QUEUE_TYPE: '' });

    expect(config.quorumPolicy.name).toBe('');
    expect(config.defaultQueueType).toBe('');
  });

  it.each([['ha-mode'], ['ha-params'], ['ha-sync-mode'], ['ha-sync-batch-size'], ['ha-promote-on-shutdown'], ['ha-promote-on-failure'], ['ha-future-key']])(
    'refuses the mirroring key %s in QUORUM_POLICY_DEFINITION, naming the variable and the key',
    (key) => {
      const load = () => testConfig({ QUORUM_POLICY_DEFINITION: JSON.stringify({ 'queue-leader-locator': 'balanced', [key]: 'all' }) });

      expect(load).toThrow(ConfigError);
      expect(load).toThrow(new RegExp(`QUORUM_POLICY_DEFINITION: mirroring keys ${key} are not allowed`));
    },
  );

  it('names every mirroring key of one definition', () => {
    expect(() => testConfig({ QUORUM_POLICY_DEFINITION: '{"ha-mode":"exactly","ha-params":2}' })).toThrow(/mirroring keys ha-mode, ha-params/);
  });

  it.each([['lazy'], ['Quorum'], ['quorum '], ['classic,quorum']])('refuses DEFAULT_QUEUE_TYPE=%j', (type) => {
    expect(() => testConfig({ DEFAULT_QUEUE_TYPE: type })).toThrow(/DEFAULT_QUEUE_TYPE/);
  });

  it.each([
    ['QUORUM_POLICY_NAME', 'has space'],
    ['QUORUM_POLICY_PATTERN', "it's"],
    ['QUORUM_POLICY_DEFINITION', '{"dead-letter-exchange":"a/b"}'],
    ['QUORUM_POLICY_DEFINITION', '["not","an","object"]'],
    ['QUORUM_POLICY_APPLY_TO', 'streams'],
    ['QUORUM_POLICY_PRIORITY', '1000'],
    ['HA_POLICY_PATTERN', 'a b'],
    ['HA_POLICY_DEFINITION', '{"ha-mode":"all;reboot"}'],
  ])('refuses %s=%j, values the SSM documents would refuse, naming the variable', (variable, value) => {
    expect(() => testConfig({ [variable]: value })).toThrow(new RegExp(`${variable}:`));
  });

  it('refuses a 4.x policy named like the 3.x one, which an upgraded cluster would already seem to have', () => {
    expect(() => testConfig({ QUORUM_POLICY_NAME: 'ha-all' })).toThrow(/QUORUM_POLICY_NAME must differ from HA_POLICY_NAME/);
  });

  it('accepts mirroring keys where they belong, in HA_POLICY_DEFINITION', () => {
    expect(testConfig({ HA_POLICY_DEFINITION: '{"ha-mode":"exactly","ha-params":2}' }).haPolicy.definition).toEqual({ 'ha-mode': 'exactly', 'ha-params': 2 });
  });
});
