import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { clientConfig, CONNECTION_TIMEOUT_MS, MAX_ATTEMPTS, SOCKET_TIMEOUT_MS } from '../../../shared/aws/clients';

/*
 * The production client configuration that every fault test here runs with, minus the test's short
 * delays: adaptive retries, and a bound on a silent connection, without which one hung request
 * would hold the heal function for 15 minutes (the SDK's default socket timeout).
 */

const functionTimeouts = (): Record<string, number> => {
  const text = readFileSync(join(__dirname, '../../../serverless.yml'), 'utf8');
  // CloudFormation's !Sub / !GetAtt / !Ref are unknown tags to a YAML parser: their values are not needed here
  const functions = (parse(text, { logLevel: 'error' }) as { functions: Record<string, { timeout: number }> }).functions;
  return Object.fromEntries(Object.entries(functions).map(([name, fn]) => [name, fn.timeout]));
};

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

  expect(Object.keys(timeouts).sort()).toEqual(['alarm', 'heal']);
  expect(worstCallMs).toBeLessThan(Math.min(...Object.values(timeouts)) * 1000);
});
