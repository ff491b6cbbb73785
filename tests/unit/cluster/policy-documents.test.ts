import { policyParamsFor } from '../../../shared/cluster/policy';
import { loadDocument, parameterEnvironment } from '../../../infra/sandbox/nodes';
import { testConfig } from './test-config';

/** What the workflows send must pass the documents' allowedPatterns, or SSM refuses the whole command. */
describe('policy parameters against the SSM documents', () => {
  it.each([['3.10.8'], ['3.13.7'], ['4.0.5'], [undefined]])('fit NodeJoin and NodeApplyPolicy for version %s', (version) => {
    const { params } = policyParamsFor(testConfig(), version);
    const join = { ...params, Peers: 'rabbit@ip-10-0-0-1', GrowQuorum: 'true', TimeoutSeconds: '120' };

    expect(() => parameterEnvironment(loadDocument('NodeJoin'), join)).not.toThrow();
    expect(() => parameterEnvironment(loadDocument('NodeApplyPolicy'), { ...params })).not.toThrow();
  });

  it('sends the configured mirroring policy on 3.x and none on 4.x', () => {
    expect(policyParamsFor(testConfig(), '3.10.8').params).toMatchObject({ PolicyName: 'ha-all', PolicyDefinition: '{"ha-mode":"all","ha-sync-mode":"automatic"}' });
    expect(policyParamsFor(testConfig(), '4.0.5').params.PolicyName).toBe('');
  });
});
