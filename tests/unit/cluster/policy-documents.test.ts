import { policyParamsFor } from '../../../shared/cluster/policy';
import { ADMIN_SECRET_ID_PATTERN, POLICY_PARAMETER_PATTERNS } from '../../../shared/config';
import { loadDocument, parameterEnvironment } from '../../../infra/sandbox/nodes';
import { testConfig } from '../../support/config';

const POLICY_DOCUMENTS = ['NodeJoin', 'NodeApplyPolicy'] as const;

/** What the workflows send must pass the documents' allowedPatterns, or SSM refuses the whole command. */
describe('policy parameters against the SSM documents', () => {
  it.each([['3.10.8'], ['3.13.7'], ['4.0.5'], ['4.1.0'], [undefined]])('fit NodeJoin and NodeApplyPolicy for version %s', (version) => {
    const { params } = policyParamsFor(testConfig(), version);
    const join = { ...params, Peers: 'rabbit@ip-10-0-0-1', GrowQuorum: 'true', TimeoutSeconds: '120' };

    expect(() => parameterEnvironment(loadDocument('NodeJoin'), join)).not.toThrow();
    expect(() => parameterEnvironment(loadDocument('NodeApplyPolicy'), { ...params })).not.toThrow();
  });

  it.each([
    [
      'the widest values the configuration accepts',
      {
        QUORUM_POLICY_NAME: 'q.policy_1-x',
        QUORUM_POLICY_PATTERN: '^(orders|audit)\\.[a-z]+$',
        QUORUM_POLICY_DEFINITION: '{"max-length": 1000, "overflow": "reject-publish", "dead-letter-exchange": "dlx"}',
        QUORUM_POLICY_APPLY_TO: 'all',
        QUORUM_POLICY_PRIORITY: '999',
        DEFAULT_QUEUE_TYPE: 'stream',
      },
    ],
    ['no 4.x policy and no default queue type', { QUORUM_POLICY_NAME: '', DEFAULT_QUEUE_TYPE: '' }],
  ])('fit both documents on 4.x with %s', (_, env) => {
    const { params } = policyParamsFor(testConfig(env), '4.0.5');

    for (const document of POLICY_DOCUMENTS) {
      expect(() =>
        parameterEnvironment(loadDocument(document), { ...params, ...(document === 'NodeJoin' ? { Peers: 'rabbit@ip-10-0-0-1' } : {}) }),
      ).not.toThrow();
    }
  });

  it('checks policy values with the very patterns of the documents', () => {
    for (const document of POLICY_DOCUMENTS) {
      const parameters = loadDocument(document).parameters;
      for (const [name, pattern] of Object.entries(POLICY_PARAMETER_PATTERNS)) expect(pattern.source).toBe(parameters[name]!.allowedPattern);
    }
  });

  it("checks the administrator's secret id with NodeApplyPolicy's own pattern, and sends a deployed ARN through it", () => {
    const parameters = loadDocument('NodeApplyPolicy').parameters;
    expect(ADMIN_SECRET_ID_PATTERN.source).toBe(parameters.AdminSecretId!.allowedPattern);
    const arn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:warren/prod-mq/admin-8f0c2d1e-AbCdEf';
    expect(() =>
      parameterEnvironment(loadDocument('NodeApplyPolicy'), { ...policyParamsFor(testConfig(), undefined).params, AdminSecretId: arn }),
    ).not.toThrow();
  });

  it('knows every default queue type the documents accept, and no other', () => {
    for (const document of POLICY_DOCUMENTS) {
      const allowed = new RegExp(loadDocument(document).parameters.DefaultQueueType!.allowedPattern);
      for (const type of ['', 'classic', 'quorum', 'stream']) {
        expect(() => testConfig({ DEFAULT_QUEUE_TYPE: type })).not.toThrow();
        expect(allowed.test(type)).toBe(true);
      }
      expect(allowed.test('lazy')).toBe(false);
      expect(() => testConfig({ DEFAULT_QUEUE_TYPE: 'lazy' })).toThrow(/DEFAULT_QUEUE_TYPE/);
    }
  });

  it('sends the configured mirroring policy on 3.x and the quorum policy with the default queue type on 4.x', () => {
    expect(policyParamsFor(testConfig(), '3.10.8').params).toMatchObject({
      PolicyName: 'ha-all',
      PolicyDefinition: '{"ha-mode":"all","ha-sync-mode":"automatic"}',
      DefaultQueueType: '',
    });
    expect(policyParamsFor(testConfig(), '4.0.5').params).toMatchObject({
      PolicyName: 'warren-quorum',
      PolicyDefinition: '{"queue-leader-locator":"balanced"}',
      DefaultQueueType: 'quorum',
    });
  });
});
