import { BudgetExhausted, WarrenError } from '../../shared/errors';
import { redeliveryAfter, retryMarkOf } from '../../shared/workflows/redelivery';
import { deployedConfig } from '../support/deployed';

const { retry } = deployedConfig();
const NOW = Date.UTC(2026, 0, 1);

describe('when a failed event is tried again (deployed retry settings)', () => {
  it('doubles the delay from the first, and dead-letters after the last attempt', () => {
    const delays = Array.from({ length: retry.maxAttempts - 1 }, (_, n) => redeliveryAfter(new WarrenError('x'), n + 1, retry, NOW));
    expect(delays.map((d) => (d.kind === 'retry' ? d.delaySeconds : d.kind))).toEqual(
      Array.from({ length: retry.maxAttempts - 1 }, (_, n) => retry.firstDelaySeconds * 2 ** n),
    );
    expect(delays.map((d) => d.kind === 'retry' && d.mark.attempt)).toEqual(Array.from({ length: retry.maxAttempts - 1 }, (_, n) => n + 2));
    expect(redeliveryAfter(new WarrenError('x'), retry.maxAttempts, retry, NOW)).toEqual({ kind: 'dead-letter', attempt: retry.maxAttempts });
  });

  it('resumes an invocation that ran out of time at once, without counting it as a failure', () => {
    expect(redeliveryAfter(new BudgetExhausted('wait'), retry.maxAttempts, retry, NOW)).toEqual({
      kind: 'retry',
      mark: { attempt: retry.maxAttempts, notBefore: NOW },
      delaySeconds: 0,
    });
  });

  it('reads the mark from the record, a first attempt when unmarked or garbled', () => {
    const marked = {
      messageAttributes: { 'warren.attempt': { stringValue: '3' }, 'warren.notBefore': { stringValue: String(NOW) } },
      attributes: { ApproximateReceiveCount: '2' },
    };
    expect(retryMarkOf(marked)).toEqual({ attempt: 3, notBefore: NOW });
    expect(retryMarkOf({ attributes: { ApproximateReceiveCount: '4' } })).toEqual({ attempt: 1, notBefore: 0 });
    expect(retryMarkOf({ messageAttributes: { 'warren.attempt': { stringValue: 'x; rm -rf /' } } })).toEqual({ attempt: 1, notBefore: 0 });
    expect(retryMarkOf(undefined)).toEqual({ attempt: 1, notBefore: 0 });
  });
});
