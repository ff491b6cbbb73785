import { loadDocument, parameterEnvironment } from '../../../infra/sandbox/nodes';
import { joinableSeries, seriesOf } from '../../../shared/cluster/versions';

describe('release series that may share a cluster', () => {
  it.each([
    ['3.10.8', '3.9,3.10,3.11'],
    ['3.13.7', '3.12,3.13,4.0'],
    ['4.0.5', '3.13,4.0,4.1'],
    ['4.3.6', '4.2,4.3,4.4'],
    ['4.1.0-rc.1', '4.0,4.1,4.2'],
    ['5.0.0', '5.0,5.1'],
    ['4.7.2', '4.6,4.7,4.8'],
  ])('a cluster of %s takes %s', (version, series) => {
    expect(joinableSeries(version)).toBe(series);
  });

  it('checks nothing when the cluster version is unknown or malformed', () => {
    expect(joinableSeries(undefined)).toBe('');
    expect(joinableSeries('unknown')).toBe('');
    expect(joinableSeries('')).toBe('');
  });

  it('reads the series of a version', () => {
    expect(seriesOf('4.3.6')).toBe('4.3');
    expect(seriesOf('3.10.8-1.1+deb12u1')).toBe('3.10');
    expect(seriesOf('4.1')).toBe('4.1');
    expect(seriesOf('v4.1.0')).toBeUndefined();
  });

  it.each([['3.8.0'], ['3.13.7'], ['4.3.6'], ['5.0.0'], [undefined]])('what a cluster of %s sends fits NodeJoin', (version) => {
    const join = { Peers: 'rabbit@ip-10-0-0-1', GrowQuorum: 'true', TimeoutSeconds: '120', JoinableSeries: joinableSeries(version) };
    expect(() => parameterEnvironment(loadDocument('NodeJoin'), join)).not.toThrow();
  });
});
