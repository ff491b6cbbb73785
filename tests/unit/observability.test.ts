import { createObservability, observability, withCorrelation } from '../../shared/observability';

/** Every line written to stdout while `act` runs, parsed as JSON (Powertools writes one document a line). */
function stdoutDocuments(act: () => void): Array<Record<string, any>> {
  const chunks: string[] = [];
  const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    chunks.push(chunk.toString());
    return true;
  });
  try {
    act();
  } finally {
    spy.mockRestore();
  }
  return chunks
    .join('')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line));
}

describe('observability', () => {
  const savedDevMode = process.env.POWERTOOLS_DEV;
  beforeAll(() => {
    // dev mode swaps the Powertools console for the global one, which jest captures instead of stdout
    delete process.env.POWERTOOLS_DEV;
  });
  afterAll(() => {
    if (savedDevMode !== undefined) process.env.POWERTOOLS_DEV = savedDevMode;
  });

  it('puts the event id on every log line as correlation id, next to the cluster', () => {
    const documents = stdoutDocuments(() => {
      const telemetry = createObservability('rabbit-prod', {});
      const log = withCorrelation(telemetry.logger, '12345678-1234-1234-1234-123456789012');
      log.info('joining node', { instanceId: 'i-1234567890abcdef0' });
      log.debug('below the default level');
    });

    expect(documents).toHaveLength(1);
    expect(documents[0]).toMatchObject({
      level: 'INFO',
      message: 'joining node',
      service: 'warren',
      cluster: 'rabbit-prod',
      correlation_id: '12345678-1234-1234-1234-123456789012',
      instanceId: 'i-1234567890abcdef0',
    });
  });

  it('does not lend the previous event id to the next invocation', () => {
    const documents = stdoutDocuments(() => {
      const telemetry = createObservability('rabbit-prod', {});
      withCorrelation(telemetry.logger, 'first-event').info('first');
      withCorrelation(telemetry.logger, 'second-event').info('second');
    });

    expect(documents.map((line) => [line.message, line.correlation_id])).toEqual([
      ['first', 'first-event'],
      ['second', 'second-event'],
    ]);
  });

  it('takes the service name from POWERTOOLS_SERVICE_NAME', () => {
    const documents = stdoutDocuments(() => {
      withCorrelation(createObservability('rabbit-prod', { POWERTOOLS_SERVICE_NAME: 'warren-heal' }).logger, 'evt-1').info('hello');
    });

    expect(documents[0]).toMatchObject({ service: 'warren-heal', cluster: 'rabbit-prod' });
  });

  it('flushes one EMF document with each metric, its unit and the cluster dimension', () => {
    const documents = stdoutDocuments(() => {
      const telemetry = createObservability('rabbit-prod', {});
      telemetry.recorder.count('NodeJoined');
      telemetry.recorder.count('NodeJoined', 2);
      telemetry.recorder.gauge('RunningMembers', 3);
      telemetry.recorder.durationMs('JoinDuration', 8300);
      telemetry.flush();
    });

    expect(documents).toHaveLength(1);
    const emf = documents[0];
    const directive = emf._aws.CloudWatchMetrics[0];
    expect(directive.Namespace).toBe('warren');
    expect(directive.Dimensions).toEqual([expect.arrayContaining(['cluster', 'service'])]);
    expect(directive.Metrics).toEqual(
      expect.arrayContaining([
        { Name: 'NodeJoined', Unit: 'Count' },
        { Name: 'RunningMembers', Unit: 'None' },
        { Name: 'JoinDuration', Unit: 'Milliseconds' },
      ]),
    );
    expect(emf).toMatchObject({ cluster: 'rabbit-prod', service: 'warren', NodeJoined: [1, 2], RunningMembers: 3, JoinDuration: 8300 });
  });

  it('keeps the cluster dimension on the metrics of a warm invocation', () => {
    const documents = stdoutDocuments(() => {
      const telemetry = createObservability('rabbit-prod', {});
      telemetry.recorder.count('EventSkipped');
      telemetry.flush();
      telemetry.recorder.count('EventSkipped');
      telemetry.flush();
    });

    expect(documents.map((emf) => [emf.cluster, emf.EventSkipped])).toEqual([
      ['rabbit-prod', 1],
      ['rabbit-prod', 1],
    ]);
  });

  it('writes nothing when an invocation recorded no metric', () => {
    const documents = stdoutDocuments(() => {
      createObservability('rabbit-prod', {}).flush();
    });

    expect(documents).toEqual([]);
  });

  it('builds the pair once per execution environment', () => {
    const first = observability('rabbit-prod');
    const again = observability('rabbit-prod');

    expect(again).toBe(first);
  });
});
