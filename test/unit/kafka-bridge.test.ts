import { afterEach, describe, expect, it, vi } from 'vitest';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { bookingRoutes } from '../../src/bridges/booking-routes';
import type { Outcome } from '../../src/bridges/delivery';
import { bridgeTimings } from '../../src/bridges/kafka-bridge';
import { fingerprint } from '../../src/bridges/fingerprint';
import { prescriptionRoutes } from '../../src/bridges/prescription-routes';
import { purchaseRoutes } from '../../src/bridges/purchase-routes';
import { route } from '../../src/bridges/route';
import { captureLogs, fakeClient, startFakeBridge, temporalRefusal, thingRoute } from '../support/fake-bridge';
import { prescriptionIntake } from '../support/prescription-intake';

/** What kafkajs' heartbeat() throws when the group rebalances while a batch is in flight. */
const rebalancing = () =>
  Object.assign(new Error('The group is rebalancing, so a rejoin is needed'), {
    name: 'KafkaJSProtocolError',
    type: 'REBALANCE_IN_PROGRESS',
    retriable: false,
  });


const thing = (id: string, n: number) => ({ key: id, value: { id, n } });

describe('the Kafka bridge, on fake batches', () => {
  afterEach(() => void vi.restoreAllMocks());

  it('delivers each key in offset order, parks what cannot be decoded, then commits the whole batch', async () => {
    const delivered: string[] = [];
    const bridge = await startFakeBridge({
      routes: [thingRoute(async (e) => void delivered.push(`${e.id}:${e.n}`))],
    });
    const { payload, done } = bridge.settle([thing('a', 1), thing('b', 1), { key: 'a', value: '{"id":' }, thing('a', 2)]);
    await done;
    expect(delivered.filter((d) => d.startsWith('a'))).toEqual(['a:1', 'a:2']);
    expect(delivered).toContain('b:1');
    expect(bridge.parked).toMatchObject([{ offset: '2', reason: expect.stringMatching(/^unparseable JSON/) }]);
    expect(payload.resolveOffset).toHaveBeenCalledWith('3');
    expect(payload.commitOffsetsIfNecessary).toHaveBeenCalled();
  });

  it('delivers different keys concurrently, at most maxInFlight at a time, and one key strictly one after another', async () => {
    let inFlight = 0;
    let most = 0;
    const perKey = new Map<string, number[]>();
    const bridge = await startFakeBridge({
      maxInFlight: 3,
      routes: [
        thingRoute(async (e) => {
          most = Math.max(most, ++inFlight);
          await new Promise((r) => setTimeout(r, 20));
          perKey.set(e.id, [...(perKey.get(e.id) ?? []), e.n]);
          inFlight--;
        }),
      ],
    });
    const messages = ['a', 'b', 'c', 'd', 'e'].flatMap((id) => [thing(id, 1), thing(id, 2), thing(id, 3)]);
    await bridge.settle(messages).done;
    expect(most).toBe(3);
    for (const id of ['a', 'b', 'c', 'd', 'e']) expect(perKey.get(id)).toEqual([1, 2, 3]);
  });

  it('holds the batch while PostgreSQL refuses connections for parking, and parks and commits once it is back', async () => {
    let refusals = 3;
    const parked: string[] = [];
    const bridge = await startFakeBridge({ routes: [thingRoute(async () => undefined)] }, {
      park: async (_t, _p, message) => {
        if (refusals-- > 0) throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
        parked.push(message.offset);
      },
    });
    const { payload, done } = bridge.settle([{ key: 'a', value: 'not json' }, thing('b', 1)]);
    await done;
    expect(parked).toEqual(['0']);
    expect(refusals).toBe(-1);
    expect(payload.resolveOffset).toHaveBeenCalledTimes(1);
    expect(payload.resolveOffset).toHaveBeenCalledWith('1');
  });

  it('a heartbeat that finds the group rebalancing during a Temporal outage parks nothing and resolves no offset', async () => {
    let calls = 0;
    const bridge = await startFakeBridge({
      routes: [
        thingRoute(async () => {
          if (calls++ === 0) throw temporalRefusal(14, 'connection refused');
        }),
      ],
    });
    const { payload, done } = bridge.settle([thing('a', 1), thing('a', 2)], {});
    payload.heartbeat.mockRejectedValueOnce(rebalancing());
    await expect(done).rejects.toMatchObject({ type: 'REBALANCE_IN_PROGRESS' });
    expect(bridge.parked).toEqual([]);
    expect(payload.resolveOffset).not.toHaveBeenCalled();
    expect(payload.commitOffsetsIfNecessary).not.toHaveBeenCalled();
  });

  it('when one lane fails, the other lanes of the batch stop before it fails, so kafkajs redelivers it in order', async () => {
    const events: string[] = [];
    let aFailed = false;
    const bridge = await startFakeBridge({
      maxInFlight: 2,
      routes: [
        thingRoute(async (e) => {
          if (e.id === 'a' && !aFailed) {
            aFailed = true;
            throw temporalRefusal(14, 'connection refused');
          }
          if (e.id === 'b' && e.n === 1) await new Promise((r) => setTimeout(r, 300));
          events.push(`${e.id}:${e.n}`);
        }),
      ],
    });
    const { payload, done } = bridge.settle([thing('a', 1), thing('b', 1), thing('b', 2), thing('c', 1)]);
    // Lane a's retry wait ends in a heartbeat that finds the group rebalancing.
    payload.heartbeat.mockRejectedValueOnce(rebalancing());
    await done.catch(() => events.push('batch failed'));
    await new Promise((r) => setTimeout(r, 400));
    // b:1 was already with Temporal when a failed; nothing started after that.
    expect(events).toEqual(['b:1', 'batch failed']);
    expect(payload.resolveOffset).not.toHaveBeenCalled();
  });

  describe('deadlines, so a hanging server cannot get the member evicted mid-batch', () => {
    const hangOnce = () => {
      let calls = 0;
      return () => (calls++ === 0 ? new Promise<void>(() => undefined) : Promise.resolve());
    };

    it('gives each Temporal call a gRPC deadline, and tries again when a call hangs past it', async () => {
      const deadlines: number[] = [];
      const client = fakeClient();
      client.withDeadline = (async (deadline: number, fn: () => Promise<unknown>) => {
        deadlines.push(deadline - Date.now());
        return fn();
      }) as typeof client.withDeadline;
      const delivered: string[] = [];
      const hang = hangOnce();
      const bridge = await startFakeBridge({
        client,
        timings: { temporalCallTimeoutMs: 50 },
        routes: [thingRoute(async (e) => hang().then(() => void delivered.push(e.id)))],
      });
      const { payload, done } = bridge.settle([thing('a', 1)]);
      await done;
      expect(delivered).toEqual(['a']);
      expect(deadlines[0]).toBeGreaterThan(0);
      expect(deadlines[0]).toBeLessThanOrEqual(50);
      expect(payload.resolveOffset).toHaveBeenCalledWith('0');
    }, 3_000);

    it('tries parking again when PostgreSQL hangs past the parking deadline', async () => {
      const hang = hangOnce();
      const parked: string[] = [];
      const bridge = await startFakeBridge(
        { timings: { parkingTimeoutMs: 50 }, routes: [thingRoute(async () => undefined)] },
        { park: async (_t, _p, message) => hang().then(() => void parked.push(message.offset)) },
      );
      await bridge.settle([{ key: 'a', value: 'not json' }]).done;
      expect(parked).toEqual(['0']);
    }, 3_000);

    it('heartbeats on a timer while a record is in flight, however long its call takes', async () => {
      const bridge = await startFakeBridge({
        timings: { heartbeatIntervalMs: 20 },
        routes: [thingRoute(() => new Promise((r) => setTimeout(r, 300)))],
      });
      const { payload, done } = bridge.settle([thing('a', 1)]);
      await done;
      expect(payload.heartbeat.mock.calls.length).toBeGreaterThanOrEqual(8);
    });

    it('asks the group for a session that outlasts the longest wait, and heartbeats well within it', async () => {
      const bridge = await startFakeBridge({ routes: [thingRoute(async () => undefined)] });
      expect(bridge.consumerConfig).toMatchObject({
        sessionTimeout: bridgeTimings.sessionTimeoutMs,
        heartbeatInterval: bridgeTimings.heartbeatIntervalMs,
        rebalanceTimeout: bridgeTimings.rebalanceTimeoutMs,
      });
      const longestWait = Math.max(bridgeTimings.maxBackoffMs, bridgeTimings.temporalCallTimeoutMs, bridgeTimings.parkingTimeoutMs);
      expect(longestWait * 3).toBeLessThanOrEqual(bridgeTimings.sessionTimeoutMs);
      expect(bridgeTimings.heartbeatIntervalMs * 3).toBeLessThanOrEqual(bridgeTimings.sessionTimeoutMs);
      expect(longestWait + bridgeTimings.heartbeatIntervalMs).toBeLessThan(bridgeTimings.rebalanceTimeoutMs);
    });
  });

  describe('permanent and transient refusals', () => {
    /** A route whose Temporal gives `refusal` for the first `times` calls, then accepts. */
    const refusingRoute = (refusal: () => Error, times = Infinity) => {
      const delivered: string[] = [];
      let calls = 0;
      const r = thingRoute(async (e) => {
        if (calls++ < times) throw refusal();
        delivered.push(`${e.id}:${e.n}`);
      });
      return { route: r, delivered };
    };

    for (const [name, refusal] of [
      ['PERMISSION_DENIED', () => temporalRefusal(7, 'Request unauthorized.')],
      ['UNIMPLEMENTED', () => temporalRefusal(12, 'unknown method SignalWithStartWorkflowExecution')],
      ['an unregistered search attribute', () => temporalRefusal(3, 'search attribute CorrelationId is not defined')],
    ] as const) {
      it(`holds the partition on ${name}, says why at error level, and parks nothing`, async () => {
        const logs = captureLogs();
        const { route: r, delivered } = refusingRoute(refusal, 3);
        const bridge = await startFakeBridge({ routes: [r] });
        const { payload, done } = bridge.settle([thing('a', 1), thing('b', 1)], {});
        await done;
        expect(bridge.parked).toEqual([]);
        expect(delivered.sort()).toEqual(['a:1', 'b:1']);
        expect(payload.resolveOffset).toHaveBeenCalledWith('1');
        expect(logs.filter((l) => l.level === 'error').map((l) => l.msg)).toContainEqual(
          expect.stringMatching(/Temporal refuses every record alike .*parking would drain the topic.*holding the partition/),
        );
      });
    }

    for (const [name, refusal] of [
      ['RESOURCE_EXHAUSTED, message too large', () => temporalRefusal(8, 'grpc: received message larger than max (5242880 vs. 4194304)')],
      ['INVALID_ARGUMENT, blob size', () => temporalRefusal(3, 'Blob data size exceeds limit.')],
    ] as const) {
      it(`parks a record Temporal refuses for its size (${name}) instead of retrying it forever`, async () => {
        const { route: r } = refusingRoute(refusal);
        const bridge = await startFakeBridge({ routes: [r] });
        const { payload, done } = bridge.settle([thing('a', 1)]);
        await done;
        expect(bridge.parked).toMatchObject([{ offset: '0' }]);
        expect(payload.resolveOffset).toHaveBeenCalledWith('0');
      }, 3_000);
    }

    it('keeps retrying a rate limit (RESOURCE_EXHAUSTED without a size)', async () => {
      const { route: r, delivered } = refusingRoute(() => temporalRefusal(8, 'namespace rate limit exceeded'), 2);
      const bridge = await startFakeBridge({ routes: [r] });
      await bridge.settle([thing('a', 1)]).done;
      expect(bridge.parked).toEqual([]);
      expect(delivered).toEqual(['a:1']);
    });

    it('after N identical refusals in a row stops parking and holds, saying why, until Temporal accepts again', async () => {
      const logs = captureLogs();
      let refusing = true;
      const delivered: string[] = [];
      let size = 3000;
      const bridge = await startFakeBridge({
        maxInFlight: 1,
        parkingBreakerThreshold: 3,
        routes: [
          thingRoute(async (e) => {
            if (refusing) throw temporalRefusal(3, `search attribute CorrelationId value size ${size++} exceeds size limit 2048`);
            delivered.push(e.id);
          }),
        ],
      });
      const { payload, done } = bridge.settle(['a', 'b', 'c', 'd', 'e', 'f'].map((id) => thing(id, 1)));
      await new Promise((r) => setTimeout(r, 500));
      expect(bridge.parked.map((p) => p.offset)).toEqual(['0', '1', '2']);
      expect(payload.resolveOffset).not.toHaveBeenCalled();
      expect(logs.filter((l) => l.level === 'error').map((l) => l.msg)).toContainEqual(
        expect.stringMatching(/3 identical refusals in a row .*stops parking.*holding the partition/),
      );
      refusing = false;
      await done;
      expect(delivered).toEqual(['d', 'e', 'f']);
      expect(bridge.parked).toHaveLength(3);
    });
  });

  it("parks a refused record with Temporal's reason, not only the client's 'Failed to signalWithStart Workflow'", async () => {
    const bridge = await startFakeBridge({
      routes: [
        thingRoute(async () => {
          throw temporalRefusal(3, 'search attribute CorrelationId value size 3002 exceeds size limit 2048');
        }),
      ],
    });
    await bridge.settle([thing('a', 1)]).done;
    expect(bridge.parked).toEqual([
      {
        offset: '0',
        reason:
          'rejected by Temporal: Failed to signalWithStart Workflow: INVALID_ARGUMENT: search attribute CorrelationId value size 3002 exceeds size limit 2048',
      },
    ]);
  });

  describe('an event whose workflow run has already closed', () => {
    /** Temporal as it answers once `workflowId`'s run closed with `status` and `result`. */
    const closedRunClient = (status: string, result: unknown, memo?: Record<string, unknown>) => {
      const alreadyStarted = (_workflow: unknown, options: { workflowId: string }) =>
        Promise.reject(new WorkflowExecutionAlreadyStartedError('Workflow execution already started', options.workflowId, 'someWorkflow'));
      return fakeClient({
        signalWithStart: alreadyStarted as never,
        start: alreadyStarted as never,
        getHandle: (() => ({
          describe: async () => ({ status: { name: status }, memo }),
          result: async () => result,
        })) as never,
      });
    };
    const booking = { bookingId: 'b1', userId: 'u1', roomId: 'r1', guests: 2, startDate: '2031-01-15T15:00:00Z', endDate: '2031-01-18T11:00:00Z' };
    const purchase = { paymentId: 'pay1', studentId: 's1', courseId: 'c1', confirmedAt: '2031-01-01T00:00:00Z' };

    it('parks a booking event that reached a run closed without it, saying which run and how it ended', async () => {
      const logs = captureLogs();
      const bridge = await startFakeBridge({
        client: closedRunClient('COMPLETED', { bookingId: 'b1', status: 'NeverBooked', refusedCancellations: 0 }),
        routes: bookingRoutes({ topics: { bookingEvents: 'things', cancellations: 'things-cancellations' } }),
      });
      const { payload, done } = bridge.settle([{ key: 'b1', value: booking }]);
      await done;
      expect(bridge.parked).toEqual([
        { offset: '0', reason: 'workflow booking-b1 already closed (Completed: NeverBooked); the event was not delivered' },
      ]);
      expect(payload.resolveOffset).toHaveBeenCalledWith('0');
      expect(logs).toContainEqual(expect.objectContaining({ level: 'warn', msg: expect.stringMatching(/booking-b1 already started and closed/) }));
    });

    it('acknowledges a booking event or cancellation whose run already completed with it, and parks one for a run ended by hand', async () => {
      const cancellationEvent = { bookingId: 'b1', userId: 'u1', timestamp: '2031-01-01T00:00:00Z' };
      const routes = bookingRoutes({ topics: { bookingEvents: 'things', cancellations: 'cancels' } });
      const outcomes: string[] = [];
      const settle = async (status: string, result: object | undefined, topic: 'things' | 'cancels', value: object) => {
        const bridge = await startFakeBridge({
          client: closedRunClient(status, result),
          routes: topic === 'things' ? routes : [routes[1]!],
          onSettled: (_t, _m, outcome) => void outcomes.push(outcome),
        });
        await bridge.settle([{ key: 'b1', value }]).done;
        return bridge.parked.map((p) => p.reason);
      };
      const done = (status: string) => ({ bookingId: 'b1', status, refusedCancellations: 0 });
      expect(await settle('COMPLETED', done('Cancelled'), 'things', booking)).toEqual([]);
      expect(await settle('COMPLETED', done('Rejected'), 'things', booking)).toEqual([]);
      expect(await settle('COMPLETED', done('Ended'), 'cancels', cancellationEvent)).toEqual([]);
      expect(await settle('COMPLETED', done('NeverBooked'), 'cancels', cancellationEvent)).toEqual([]);
      expect(await settle('TERMINATED', undefined, 'cancels', cancellationEvent)).toEqual([
        'workflow booking-b1 already closed (Terminated); the event was not delivered',
      ]);
      expect(outcomes).toEqual(['duplicate', 'duplicate', 'duplicate', 'duplicate', 'parked']);
    });

    it('acknowledges an intake its closed run was started from, and parks a different one naming the fields; a run without a fingerprint takes any', async () => {
      const intake = prescriptionIntake('rx1');
      const corrected = { ...intake, patient: { ...intake.patient, dateOfBirth: '1980-12-11' } };
      const settle = async (memo: Record<string, unknown> | undefined, value: object) => {
        const bridge = await startFakeBridge({
          client: closedRunClient('COMPLETED', { status: 'Delivered', prescriptionId: 'rx1' }, memo),
          routes: [prescriptionRoutes({ topics: { intakeReceived: 'things', paymentCompleted: 'payments' } })[0]!],
        });
        await bridge.settle([{ key: 'rx1', value }]).done;
        return bridge.parked.map((p) => p.reason);
      };
      const fingerprinted = { trace: { correlationId: 'c1' }, intake: fingerprint(intake) };
      expect(await settle(fingerprinted, intake)).toEqual([]);
      const [reason] = await settle(fingerprinted, corrected);
      expect(reason).toBe("intake differs from the one prescription rx1's run fulfilled (fields: patient.dateOfBirth); the run ended Delivered");
      // Started before runs kept a fingerprint: as before, any intake for it is a duplicate.
      expect(await settle({ trace: { correlationId: 'c1' } }, corrected)).toEqual([]);
    });

    it('acknowledges a purchase confirmation whose run closed as a duplicate (the payment already ran), and logs it', async () => {
      const logs = captureLogs();
      const outcomes: Outcome[] = [];
      const bridge = await startFakeBridge({
        client: closedRunClient('COMPLETED', undefined),
        routes: purchaseRoutes({ topic: 'things' }),
        onSettled: (_t, _m, outcome) => void outcomes.push(outcome),
      });
      await bridge.settle([{ key: 's1', value: purchase }]).done;
      expect(outcomes).toEqual(['duplicate']);
      expect(bridge.parked).toEqual([]);
      expect(logs).toContainEqual(expect.objectContaining({ level: 'warn', msg: expect.stringMatching(/purchase-pay1 already started and closed \(Completed\)/) }));
    });
  });

  describe('the Kafka key and the event key', () => {
    it("parks a record whose Kafka key contradicts its event's key, naming both, and delivers the rest", async () => {
      const delivered: string[] = [];
      const bridge = await startFakeBridge({ routes: [thingRoute(async (e) => void delivered.push(e.id))] });
      await bridge.settle([{ key: 'b', value: { id: 'a', n: 1 } }, thing('a', 2)]).done;
      expect(bridge.parked).toEqual([
        { offset: '0', reason: expect.stringMatching(/^Kafka key "b" contradicts the event's key "a"/) },
      ]);
      expect(delivered).toEqual(['a']);
    });

    it('accepts a record without a Kafka key', async () => {
      const delivered: string[] = [];
      const bridge = await startFakeBridge({ routes: [thingRoute(async (e) => void delivered.push(e.id))] });
      await bridge.settle([{ key: null, value: { id: 'a', n: 1 } }]).done;
      expect(bridge.parked).toEqual([]);
      expect(delivered).toEqual(['a']);
    });

    it("compares with the route's Kafka key where it is coarser than the ordering key (purchases: by student)", async () => {
      const started: string[] = [];
      const client = fakeClient({ start: (async (_w: unknown, o: { workflowId: string }) => void started.push(o.workflowId)) as never });
      const bridge = await startFakeBridge({ client, routes: purchaseRoutes({ topic: 'things' }) });
      const purchase = { paymentId: 'pay1', studentId: 's1', courseId: 'c1', confirmedAt: '2031-01-01T00:00:00Z' };
      await bridge.settle([{ key: 's1', value: purchase }, { key: 's2', value: { ...purchase, paymentId: 'pay2' } }]).done;
      expect(started).toEqual(['purchase-pay1']);
      expect(bridge.parked).toMatchObject([{ offset: '1', reason: expect.stringMatching(/^Kafka key "s2" contradicts the event's key "s1"/) }]);
    });
  });

  describe('a record nothing in it may crash the consumer with (issue 16)', () => {
    it('delivers a valid event whose correlation-id header has no value (Java and librdkafka producers send such headers), under its coordinates', async () => {
      const traces: string[] = [];
      const bridge = await startFakeBridge({
        routes: [route({ ...thingRoute(async () => undefined), deliver: async (_c, _e, trace) => void traces.push(trace.correlationId) })],
      });
      const { payload, done } = bridge.settle([
        { ...thing('a', 1), headers: { 'correlation-id': null, baggage: null } },
        { ...thing('b', 1), headers: { 'correlation-id': [null, 'corr-2'], 'x-correlation-id': 'corr-b' } },
      ]);
      await done;
      expect(bridge.parked).toEqual([]);
      expect(traces.sort()).toEqual(['corr-b', 'things-0-0']);
      expect(payload.resolveOffset).toHaveBeenCalledWith('1');
    });

    it('parks, with the error as its reason, a record whose reading throws (here a header value that cannot be read), and delivers the rest', async () => {
      const delivered: string[] = [];
      const bridge = await startFakeBridge({ routes: [thingRoute(async (e) => void delivered.push(e.id))] });
      const unreadable = {
        toString() {
          throw new Error('header value unreadable');
        },
      };
      const { payload, done } = bridge.settle([
        { ...thing('a', 1), headers: { 'correlation-id': unreadable as never } },
        thing('b', 1),
      ]);
      await done;
      expect(bridge.parked).toEqual([{ offset: '0', reason: 'the record could not be read: header value unreadable' }]);
      expect(delivered).toEqual(['b']);
      expect(payload.resolveOffset).toHaveBeenCalledWith('1');
    });

    it("parks a record whose route throws while reading its key, instead of letting the error stop the batch", async () => {
      const bridge = await startFakeBridge({
        routes: [
          route({
            ...thingRoute(async () => undefined),
            orderingKey: (e: { id: string }) => {
              if (e.id === 'bad') throw new TypeError("Cannot read properties of undefined (reading 'id')");
              return e.id;
            },
          }),
        ],
      });
      const { payload, done } = bridge.settle([thing('bad', 1), thing('a', 1)]);
      await done;
      expect(bridge.parked).toEqual([{ offset: '0', reason: expect.stringMatching(/^the record could not be read: Cannot read properties/) }]);
      expect(payload.resolveOffset).toHaveBeenCalledWith('1');
    });
  });

  describe('a consumer that kafkajs gives up on', () => {
    const crash = (restart: boolean) => ({
      id: 1,
      type: 'consumer.crash',
      timestamp: Date.now(),
      payload: { error: new Error('The coordinator is not available'), groupId: 'fake-group', restart },
    });

    it('is handed to onConsumerGaveUp (the entry point exits for its supervisor), with the reason at fatal level', async () => {
      const logs = captureLogs();
      const gaveUp: Error[] = [];
      const bridge = await startFakeBridge({ routes: [thingRoute(async () => undefined)], onConsumerGaveUp: (err) => void gaveUp.push(err) });
      bridge.listeners.get('consumer.crash')!(crash(false));
      expect(gaveUp.map((e) => e.message)).toEqual(['The coordinator is not available']);
      expect(logs).toContainEqual(
        expect.objectContaining({ level: 'fatal', fields: expect.objectContaining({ err: 'The coordinator is not available' }) }),
      );
    });

    it('is left to kafkajs when it restarts the consumer itself', async () => {
      const gaveUp: Error[] = [];
      const bridge = await startFakeBridge({ routes: [thingRoute(async () => undefined)], onConsumerGaveUp: (err) => void gaveUp.push(err) });
      bridge.listeners.get('consumer.crash')!(crash(true));
      expect(gaveUp).toEqual([]);
    });
  });
});
