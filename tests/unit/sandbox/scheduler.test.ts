import { realTimeScheduler, schedulerOn } from '../../../infra/sandbox/cloud/scheduler';
import { FakeClock } from '../../support/fake-clock';

it('runs timers on the fake clock in time order and skips cancelled ones', async () => {
  const clock = new FakeClock();
  const scheduler = schedulerOn(clock);
  const start = clock.now();
  const ran: Array<[string, number]> = [];

  scheduler.after(2_000, () => ran.push(['late', clock.now() - start]));
  const cancel = scheduler.after(1_000, () => ran.push(['cancelled', clock.now() - start]));
  scheduler.after(500, () => ran.push(['early', clock.now() - start]));
  cancel();
  await clock.sleep(3_000);

  expect(ran).toEqual([
    ['early', 500],
    ['late', 2_000],
  ]);
});

it('runs real timers and cancels them', async () => {
  const ran: string[] = [];

  realTimeScheduler.after(5, () => ran.push('kept'));
  realTimeScheduler.after(5, () => ran.push('cancelled'))();
  await new Promise((resolve) => setTimeout(resolve, 30));

  expect(ran).toEqual(['kept']);
});
