import { clientConfig, CONNECTION_TIMEOUT_MS, MAX_ATTEMPTS, SOCKET_TIMEOUT_MS } from '../../../shared/aws/clients';
import { deployed } from '../../support/deployed';

/*
 * The production client configuration that every fault test here runs with, minus the test's short
 * delays: adaptive retries, and a bound on a silent connection, without which one hung request
 * would hold the heal function for 15 minutes (the SDK's default socket timeout).
 */

const functionTimeouts = (): Record<string, number> => deployed.functionTimeoutSeconds;

it('retries adaptively, five attempts, each bounded in connecting and in silence', () => {
  const config = clientConfig();

  expect(config).toMatchObject({
    maxAttempts: MAX_ATTEMPTS,
    retryMode: 'adaptive',
    requestHandler: { connectionTimeout: CONNECTION_TIMEOUT_MS, socketTimeout: SOCKET_TIMEOUT_MS },
  });
});

it('gives up on a call whose every attempt hangs within the shortest function timeout', () => {
  const worstCallMs = MAX_ATTEMPTS * (CONNECTION_TIMEOUT_MS + SOCKET_TIMEOUT_MS);

  const timeouts = functionTimeouts();

  expect(Object.keys(timeouts)).toEqual(expect.arrayContaining(['heal']));
  expect(worstCallMs).toBeLessThan(Math.min(...Object.values(timeouts)) * 1000);
});
