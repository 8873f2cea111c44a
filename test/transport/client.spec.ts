/**
 * The transport over loopback against the in-process Athena server (src/testing): every RPC,
 * half-close and cancellation of the Classify stream, channel failures as typed errors, tokens,
 * and write back-pressure. Each case names the contract rule (athena-api.md) it covers.
 */
import { lastValueFrom, of, Subject, toArray } from 'rxjs';
import type { ClassifyRequest, ClassifyResponse } from '../../src/contract/messages';
import { startAthenaServer, type AthenaTestServer } from '../../src/testing';
import {
  AthenaAuthError,
  AthenaTransportError,
  createAthenaClient,
  insecure,
  type AccessTokenProvider,
  type AthenaGrpcClient,
  type ClassifyWriteState,
} from '../../src/transport';
import { answeredIds, errorOf, rawImage, waitFor } from './helpers';

describe('transport over loopback', () => {
  let server: AthenaTestServer;
  let client: AthenaGrpcClient;
  beforeAll(async () => {
    server = await startAthenaServer();
  });
  afterAll(() => server.stop());
  beforeEach(() => {
    client = createAthenaClient({ address: server.address, credentials: insecure(), deploymentId: 'transport-dep', affiliate: 'aff-t' });
  });
  afterEach(() => {
    client.close();
    server.faults.clear();
  });

  describe('RPCs (section 1)', () => {
    it('ClassifySingle classifies one image and fills in the client affiliate', async () => {
      const output = await client.classifySingle(rawImage('single-1'), { deadline: 10_000 });
      expect(output.correlationId).toBe('single-1');
      expect(output.error).toBeNull();
      expect(output.classifications.map((c) => c.label)).toContain('UnknownCSAM-PCSAM');
      const record = server.audit.find((a) => a.correlationId === 'single-1');
      expect(record).toMatchObject({ deploymentId: null, affiliate: 'aff-t', outcome: 'ok' });
    });

    it('Classify streams requests and responses; completing the requests half-closes and the Observable completes', async () => {
      const requests: Array<Partial<ClassifyRequest>> = [
        { inputs: [rawImage('s-1', 1), rawImage('s-2', 2)] } as ClassifyRequest,
        { inputs: [rawImage('s-3', 3)] } as ClassifyRequest,
      ];
      const responses = await lastValueFrom(client.classify(of(...(requests as ClassifyRequest[]))).pipe(toArray()));
      expect(answeredIds(responses)).toEqual(['s-1', 's-2', 's-3']);
      // Filled in from the client options: deploymentId on requests, affiliate on inputs.
      expect(server.audit.filter((a) => a.correlationId.startsWith('s-')).map((a) => [a.deploymentId, a.affiliate])).toEqual([
        ['transport-dep', 'aff-t'],
        ['transport-dep', 'aff-t'],
        ['transport-dep', 'aff-t'],
      ]);
    });

    it('an empty request joins a deployment (section 2) and ListDeployments reports it', async () => {
      const requests = new Subject<ClassifyRequest>();
      const sub = client.classify(requests).subscribe();
      requests.next({ deploymentId: 'joined-dep', inputs: [] });
      await waitFor(() => server.deployments().some((d) => d.deploymentId === 'joined-dep' && d.streams === 1));
      const { deployments } = await client.listDeployments({ deadline: 5_000 });
      expect(deployments).toContainEqual({ deploymentId: 'joined-dep', backlog: 0 });
      sub.unsubscribe();
    });
  });

  describe('Classify stream lifecycle', () => {
    it('unsubscribing cancels the call: the server sees the stream leave its deployment', async () => {
      const requests = new Subject<ClassifyRequest>();
      const seen: ClassifyResponse[] = [];
      const sub = client.classify(requests).subscribe((r) => seen.push(r));
      requests.next({ deploymentId: 'cancel-dep', inputs: [rawImage('c-1')] } as ClassifyRequest);
      await waitFor(() => seen.length === 1, 10_000, 'first response');
      expect(server.deployments().find((d) => d.deploymentId === 'cancel-dep')?.streams).toBe(1);
      sub.unsubscribe();
      await waitFor(() => server.deployments().find((d) => d.deploymentId === 'cancel-dep')?.streams === 0, 5_000, 'stream gone');
      expect(requests.observed).toBe(false);
    });

    it('an error of the requests ends the Observable with that error and cancels the call', async () => {
      const boom = new Error('upstream failed');
      const requests = new Subject<ClassifyRequest>();
      const result = errorOf(client.classify(requests));
      requests.next({ deploymentId: 'err-dep', inputs: [] });
      await waitFor(() => server.deployments().find((d) => d.deploymentId === 'err-dep')?.streams === 1);
      requests.error(boom);
      await expect(result).resolves.toBe(boom);
      await waitFor(() => server.deployments().find((d) => d.deploymentId === 'err-dep')?.streams === 0);
    });

    it('a stream reset ends the Observable with a retryable AthenaTransportError (section 2: channel failures end the stream)', async () => {
      server.faults.resetAfter(2);
      const requests = new Subject<ClassifyRequest>();
      const result = errorOf(client.classify(requests));
      requests.next({ inputs: [rawImage('r-1')] } as unknown as ClassifyRequest);
      requests.next({ inputs: [rawImage('r-2')] } as unknown as ClassifyRequest);
      const error = (await result) as AthenaTransportError;
      expect(error).toBeInstanceOf(AthenaTransportError);
      expect(error.code).toBe('UNAVAILABLE');
      expect(error.retryable).toBe(true);
    });

    it('close() cancels calls in progress and refuses new ones', async () => {
      const requests = new Subject<ClassifyRequest>();
      const result = errorOf(client.classify(requests));
      requests.next({ deploymentId: 'close-dep', inputs: [] });
      await waitFor(() => server.deployments().find((d) => d.deploymentId === 'close-dep')?.streams === 1);
      client.close();
      await expect(result).resolves.toMatchObject({ name: 'AthenaTransportError', code: 'CANCELLED', retryable: false });
      await expect(client.listDeployments()).rejects.toMatchObject({ code: 'CANCELLED', retryable: false });
      await expect(errorOf(client.classify(of()))).resolves.toMatchObject({ code: 'CANCELLED' });
    });
  });

  describe('unary options', () => {
    it('a deadline that passes is DEADLINE_EXCEEDED, retryable', async () => {
      server.faults.latency(1_000);
      await expect(client.classifySingle(rawImage('late-1'), { deadline: 100 })).rejects.toMatchObject({
        name: 'AthenaTransportError',
        code: 'DEADLINE_EXCEEDED',
        retryable: true,
      });
    });

    it('an AbortSignal cancels the call and rejects with its reason', async () => {
      server.faults.latency(1_000);
      const controller = new AbortController();
      const pending = client.classifySingle(rawImage('abort-1'), { signal: controller.signal });
      setTimeout(() => controller.abort(), 50);
      await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
      const aborted = AbortSignal.abort(new Error('already'));
      await expect(client.listDeployments({ signal: aborted })).rejects.toThrow('already');
    });
  });

  describe('channel failures (section 2)', () => {
    // unavailableNext() fails the next calls that reach the server, whoever makes them. On the
    // shared server, a call of an earlier case that arrives late under load (the aborted or
    // timed-out ClassifySingle) could take the fault, and the call under test would succeed. So
    // these cases get a server of their own, which no other client knows the address of.
    let own: AthenaTestServer;
    let ownClient: AthenaGrpcClient;
    beforeEach(async () => {
      own = await startAthenaServer();
      ownClient = createAthenaClient({ address: own.address, credentials: insecure() });
    });
    afterEach(async () => {
      ownClient.close();
      await own.stop();
    });

    it('UNAVAILABLE is a retryable AthenaTransportError; the next call succeeds', async () => {
      own.faults.unavailableNext(1);
      const error = await ownClient.listDeployments().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(AthenaTransportError);
      expect(error).toMatchObject({ code: 'UNAVAILABLE', status: 14, retryable: true });
      await expect(ownClient.listDeployments()).resolves.toHaveProperty('deployments');
    });

    it('UNAVAILABLE on a Classify stream ends it with a retryable error', async () => {
      own.faults.unavailableNext(1);
      await expect(errorOf(ownClient.classify(of({ deploymentId: 'x', inputs: [] })))).resolves.toMatchObject({
        code: 'UNAVAILABLE',
        retryable: true,
      });
    });
  });

  describe('write back-pressure', () => {
    // Section 5: raw images are 602,112 bytes; a server that stops reading must stop the client
    // from handing more to grpc-js, instead of buffering every request in memory.
    it('against a server that stops reading, write() returns false, the adapter stops writing, and all arrive after resume', async () => {
      const total = 160;
      server.faults.pauseReading();
      const states: ClassifyWriteState[] = [];
      const requests = new Subject<ClassifyRequest>();
      const responses: ClassifyResponse[] = [];
      let completed = false;
      client.classify(requests, { onWriteState: (s) => states.push(s) }).subscribe({
        next: (r) => responses.push(r),
        complete: () => (completed = true),
      });
      for (let i = 0; i < total; i++) requests.next({ deploymentId: 'bp-dep', inputs: [rawImage(`bp-${i}`, i + 1)] } as ClassifyRequest);
      requests.complete();

      await waitFor(() => states.at(-1)?.waitingForDrain === true, 10_000, 'write() to return false');
      // No sleep to let HTTP/2 settle: grpc-js may still flush (and emit 'drain') within its flow
      // control window, however long the wait. What must hold at every moment is checked on every
      // state reported while the server did not read (and, below, on every state of the run).
      const paused = states.slice();
      const stalled = paused.at(-1) as ClassifyWriteState;
      expect(stalled.waitingForDrain).toBe(true);
      expect(stalled.flushed).toBeLessThan(stalled.written);
      expect(stalled.queued).toBe(total - stalled.written);
      // What was handed to grpc-js is bounded by its writable high-water mark (16 messages) plus what
      // HTTP/2 flow control (the server grants 16 MiB, 27 raw images) and the server's read-ahead
      // let through before pausing (48 seen); the rest wait in the adapter, unwritten.
      for (const s of paused) {
        expect(s.written).toBeLessThan(total / 2);
        expect(s.halfClosed).toBe(false);
      }

      server.faults.resumeReading();
      await waitFor(() => completed, 30_000, 'the stream to complete');
      expect(answeredIds(responses)).toHaveLength(total);
      expect(states.at(-1)).toMatchObject({ written: total, flushed: total, queued: 0, waitingForDrain: false, halfClosed: true });
      // Nothing is written while waiting for 'drain': a state that waits is followed by one with
      // no more written (the 'drain' report, or a flush), never by more writes.
      const writtenWhileWaiting = states.slice(1).filter((s, i) => states[i]!.waitingForDrain && s.written > states[i]!.written);
      expect(writtenWhileWaiting).toEqual([]);
    });

    it('a producer that paces itself on onWriteState never queues more than one request', async () => {
      const total = 60;
      server.faults.pauseReading();
      // Reading resumes once the producer has been held back (or, if it never is, once it has sent
      // everything, so that the assertions below fail instead of the stream hanging): no timer
      // races the client's writes on a loaded machine.
      let resumed = false;
      const resume = () => {
        if (resumed) return;
        resumed = true;
        setImmediate(() => server.faults.resumeReading());
      };
      const requests = new Subject<ClassifyRequest>();
      let sent = 0;
      let maxQueued = 0;
      let pausedOnce = false;
      const send = () => {
        if (sent < total) {
          requests.next({ deploymentId: 'pace-dep', inputs: [rawImage(`pace-${sent++}`)] } as ClassifyRequest);
        } else if (sent === total) {
          sent++;
          resume();
          requests.complete();
        }
      };
      const done = lastValueFrom(
        client
          .classify(requests, {
            onWriteState: (s) => {
              maxQueued = Math.max(maxQueued, s.queued);
              if (s.waitingForDrain) {
                pausedOnce = true;
                resume();
              }
              // Pull the next request only when the last one was handed to grpc-js and it can take more.
              if (s.queued === 0 && !s.waitingForDrain && !s.halfClosed) queueMicrotask(send);
            },
          })
          .pipe(toArray()),
      );
      send();
      const responses = await done;
      expect(answeredIds(responses)).toHaveLength(total);
      expect(pausedOnce).toBe(true);
      expect(maxQueued).toBeLessThanOrEqual(1);
    });
  });

  describe('tokens (section 5)', () => {
    let authServer: AthenaTestServer;
    beforeAll(async () => {
      authServer = await startAthenaServer({ tokens: { 'good-token': '*' } });
    });
    afterAll(() => authServer.stop());

    it('a good token passes on every RPC', async () => {
      const c = createAthenaClient({ address: authServer.address, credentials: insecure('good-token') });
      try {
        await expect(c.listDeployments()).resolves.toHaveProperty('deployments');
        await expect(c.classifySingle({ ...rawImage('tok-1'), affiliate: 'a' })).resolves.toMatchObject({ error: null });
        const responses = await lastValueFrom(
          c
            .classify(of({ deploymentId: 'tok-dep', inputs: [{ ...rawImage('tok-2'), affiliate: 'a' }] } as ClassifyRequest))
            .pipe(toArray()),
        );
        expect(answeredIds(responses)).toEqual(['tok-2']);
      } finally {
        c.close();
      }
    });

    it('a bad token is UNAUTHENTICATED, not retryable, and the provider is told to drop it', async () => {
      let invalidated = 0;
      const provider: AccessTokenProvider = { getToken: async () => 'bad-token', invalidate: () => void invalidated++ };
      const c = createAthenaClient({ address: authServer.address, credentials: insecure(provider) });
      try {
        const unary = await c.listDeployments().catch((e: unknown) => e);
        expect(unary).toBeInstanceOf(AthenaTransportError);
        expect(unary).toMatchObject({ code: 'UNAUTHENTICATED', retryable: false });
        expect(JSON.stringify((unary as AthenaTransportError).metadata)).not.toContain('bad-token');
        await expect(errorOf(c.classify(of({ deploymentId: 'd', inputs: [] })))).resolves.toMatchObject({
          code: 'UNAUTHENTICATED',
          retryable: false,
        });
        expect(invalidated).toBe(2);
      } finally {
        c.close();
      }
    });

    it('no token at all is UNAUTHENTICATED', async () => {
      const c = createAthenaClient({ address: authServer.address, credentials: insecure() });
      try {
        await expect(c.listDeployments()).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
      } finally {
        c.close();
      }
    });

    it('a token provider that fails ends the call with its AthenaAuthError before any call opens', async () => {
      const failing: AccessTokenProvider = {
        getToken: () =>
          Promise.reject(new AthenaAuthError({ code: 'TOKEN_REQUEST_FAILED', message: 'HTTP 401', httpStatus: 401, retryable: false })),
      };
      const c = createAthenaClient({ address: authServer.address, credentials: insecure(failing) });
      try {
        await expect(c.listDeployments()).rejects.toBeInstanceOf(AthenaAuthError);
        await expect(errorOf(c.classify(of({ deploymentId: 'd', inputs: [] })))).resolves.toBeInstanceOf(AthenaAuthError);
      } finally {
        c.close();
      }
    });
  });
});
