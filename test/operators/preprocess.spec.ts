import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { from, lastValueFrom, map, mergeMap, NEVER, of, Subject, throwError, timer, toArray, type Observable } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { RAW_IMAGE_BYTES } from '../../src/contract/messages';
import { inFlightWindow } from '../../src/operators/inFlightWindow';
import { defaultConcurrency, preprocess, type PreprocessOptions } from '../../src/operators/preprocess';
import type { ClassificationFailure } from '../../src/operators/results';
import { CorrelationIdGenerator } from '../../src/preprocess/correlationId';
import { PreprocessError } from '../../src/preprocess/errors';
import type { ImageInput, ImageSource, PreparedImage } from '../../src/preprocess/types';

const FIXTURES = process.env.ATHENA_PREPROCESS_FIXTURES ?? join(__dirname, '..', 'fixtures', 'preprocess');

/** A stand-in prepared image: only what the operator passes through matters here. */
const prepared = (ref: string): PreparedImage<string> =>
  ({ kind: 'prepared', correlationId: `id-${ref}`, ref }) as unknown as PreparedImage<string>;

const failure = (
  ref: string,
  correlationId: string,
  code: string,
  message: string,
  prepareMs: number,
  details = '',
): ClassificationFailure<string> => ({
  kind: 'failure',
  correlationId,
  ref,
  attempts: 0,
  timings: { prepareMs },
  code: code as ClassificationFailure['code'],
  message,
  details,
  retryable: false,
  stage: 'preprocess',
});

/**
 * Inputs named by letter. The plan says how long each takes to prepare (in frames) and whether it
 * fails; the injected `prepare` plays it on the test scheduler.
 */
type Plan = Record<string, { ms: number; fail?: PreprocessError | Error }>;
const inputs = (...refs: string[]): Record<string, ImageInput<string>> =>
  Object.fromEntries(refs.map((r) => [r, { source: Buffer.from(r), ref: r }]));
const planned =
  (plan: Plan) =>
  (input: ImageSource | ImageInput<string>): Observable<PreparedImage<string>> => {
    const ref = (input as ImageInput<string>).ref!;
    const step = plan[ref]!;
    return timer(step.ms).pipe(mergeMap(() => (step.fail ? throwError(() => step.fail) : of(prepared(ref)))));
  };

describe('preprocess', () => {
  let testScheduler: TestScheduler;
  const values = { a: prepared('a'), b: prepared('b'), c: prepared('c'), d: prepared('d') };
  const options = (plan: Plan, extra: Partial<PreprocessOptions<string>> = {}): PreprocessOptions<string> => ({
    prepare: planned(plan),
    scheduler: testScheduler,
    ids: new CorrelationIdGenerator({ run: 't' }),
    ...extra,
  });

  beforeEach(() => {
    testScheduler = new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
  });

  it('emits in completion order by default', () => {
    testScheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a-b-c------|', inputs('a', 'b', 'c'));
      const subs = '      ^-----------!';
      const expected = '  ----b-(ac)--|';
      const result = source.pipe(preprocess(options({ a: { ms: 5 }, b: { ms: 1 }, c: { ms: 1 } }, { concurrency: 2 })));
      expectObservable(result).toBe(expected, values);
      expectSubscriptions(source.subscriptions).toBe(subs);
    });
  });

  it('prepares at most `concurrency` images at once, queueing the rest', () => {
    testScheduler.run(({ hot, expectObservable }) => {
      const source = hot('-(abc)-------|', inputs('a', 'b', 'c'));
      const expected = '  ---a-b-c-----|';
      const result = source.pipe(preprocess(options({ a: { ms: 2 }, b: { ms: 2 }, c: { ms: 2 } }, { concurrency: 1 })));
      expectObservable(result).toBe(expected, values);
    });
  });

  it("keeps source order with order: 'source', holding at most `concurrency` results back", () => {
    testScheduler.run(({ hot, expectObservable }) => {
      // b is done at 4 but waits for a (6); b's slot stays taken, so c starts only at 6.
      const source = hot('-a-b-c---------|', inputs('a', 'b', 'c'));
      const expected = '  ------(ab)c----|';
      const result = source.pipe(preprocess(options({ a: { ms: 5 }, b: { ms: 1 }, c: { ms: 4 } }, { concurrency: 2, order: 'source' })));
      expectObservable(result).toBe(expected, values);
    });
  });

  it('turns an image that cannot be prepared into a failure and goes on', () => {
    testScheduler.run(({ hot, expectObservable }) => {
      const source = hot('-a-b-c-|', { ...inputs('a', 'c'), b: { source: Buffer.from('b'), ref: 'b', correlationId: 'caller-b' } });
      const expected = '  --a-bc-|';
      const bad = new PreprocessError('DECODE_FAILED', 'truncated JPEG', 'premature end of data');
      const result = source.pipe(preprocess(options({ a: { ms: 1 }, b: { ms: 1, fail: bad }, c: { ms: 0 } })));
      expectObservable(result).toBe(expected, {
        ...values,
        b: failure('b', 'caller-b', 'DECODE_FAILED', 'truncated JPEG', 1, 'premature end of data'),
      });
    });
  });

  it('gives a failure without a caller id a unique id, and wraps unexpected errors as DECODE_FAILED', () => {
    testScheduler.run(({ hot, expectObservable }) => {
      const source = hot('-a-b-|', inputs('a', 'b'));
      const expected = '  -a-b-|';
      const result = source.pipe(
        preprocess(options({ a: { ms: 0, fail: new PreprocessError('EMPTY_INPUT', 'empty') }, b: { ms: 0, fail: new TypeError('boom') } })),
      );
      expectObservable(result).toBe(expected, {
        a: failure('a', 't-unread-0', 'EMPTY_INPUT', 'empty', 0),
        b: failure('b', 't-unread-1', 'DECODE_FAILED', 'could not prepare the image: boom', 0, 'TypeError'),
      });
    });
  });

  it('turns a prepare that throws synchronously, or completes empty, into a failure', () => {
    testScheduler.run(({ hot, expectObservable }) => {
      const source = hot('-a-b-|', inputs('a', 'b'));
      const expected = '  -a-b-|';
      const prepare = (input: ImageSource | ImageInput<string>): Observable<PreparedImage<string>> => {
        if ((input as ImageInput<string>).ref === 'a') throw new PreprocessError('INVALID_INPUT', 'not an image source');
        return of();
      };
      const result = source.pipe(preprocess({ ...options({}), prepare }));
      expectObservable(result).toBe(expected, {
        a: failure('a', 't-unread-0', 'INVALID_INPUT', 'not an image source', 0),
        b: failure('b', 't-unread-1', 'DECODE_FAILED', 'prepare completed without producing an image', 0),
      });
    });
  });

  it('completes at once on an empty source', () => {
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('|');
      expectObservable(source.pipe(preprocess(options({})))).toBe('|');
      expectSubscriptions(source.subscriptions).toBe('(^!)');
    });
  });

  it('never completes on a never-ending source', () => {
    testScheduler.run(({ expectObservable }) => {
      expectObservable(NEVER.pipe(preprocess(options({})))).toBe('-');
    });
  });

  it('waits for the images in progress before completing', () => {
    testScheduler.run(({ hot, expectObservable }) => {
      const source = hot('-a|', inputs('a'));
      expectObservable(source.pipe(preprocess(options({ a: { ms: 3 } })))).toBe('----(a|)', values);
    });
  });

  it('passes an error of the source on at once', () => {
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('#');
      expectObservable(source.pipe(preprocess(options({})))).toBe('#');
      expectSubscriptions(source.subscriptions).toBe('(^!)');
    });
  });

  it('passes an error mid-stream on at once, dropping the images in progress', () => {
    testScheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a-b-#', inputs('a', 'b'));
      const subs = '      ^----!';
      const expected = '  --a--#';
      const result = source.pipe(preprocess(options({ a: { ms: 1 }, b: { ms: 5 } })));
      expectObservable(result).toBe(expected, values);
      expectSubscriptions(source.subscriptions).toBe(subs);
    });
  });

  it('stops preparing when unsubscribed early', () => {
    testScheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a-b-c-|', inputs('a', 'b', 'c'));
      const subs = '      ^---!';
      const unsub = '     ----!';
      const expected = '  --a--';
      let started = 0;
      const plan = planned({ a: { ms: 1 }, b: { ms: 3 }, c: { ms: 1 } });
      const result = source.pipe(preprocess({ ...options({}), prepare: (i) => (started++, plan(i)) }));
      expectObservable(result, unsub).toBe(expected, values);
      expectSubscriptions(source.subscriptions).toBe(subs);
      testScheduler.schedule(() => expect(started).toBe(2), 10);
    });
  });

  it('keeps the unsubscription chain with operators around it', () => {
    testScheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a-b-c-|', inputs('a', 'b', 'c'));
      const subs = '      ^---!';
      const unsub = '     ----!';
      const expected = '  --a--';
      const result = source.pipe(
        mergeMap((x) => of(x)),
        preprocess(options({ a: { ms: 1 }, b: { ms: 3 }, c: { ms: 1 } })),
        mergeMap((x) => of(x)),
      );
      expectObservable(result, unsub).toBe(expected, values);
      expectSubscriptions(source.subscriptions).toBe(subs);
    });
  });

  it('handles synchronous preparation of a synchronous source, in order', () => {
    testScheduler.run(({ cold, expectObservable }) => {
      const source = cold('(abc|)', inputs('a', 'b', 'c'));
      const result = source.pipe(
        preprocess({ ...options({}), concurrency: 1, prepare: (i) => of(prepared((i as ImageInput<string>).ref!)) }),
      );
      expectObservable(result).toBe('(abc|)', values);
    });
  });

  it('takes a window credit per image before preparing it, and leaves it held by the result’s correlation id', () => {
    testScheduler.run(({ hot, expectObservable }) => {
      const window = inFlightWindow(2);
      const source = hot('-(abc)-----|', inputs('a', 'b', 'c'));
      const expected = '  --(ab)c----|';
      const result = source.pipe(preprocess(options({ a: { ms: 1 }, b: { ms: 1 }, c: { ms: 1 } }, { concurrency: 3, window })));
      testScheduler.schedule(() => {
        expect([window.inUse, window.waiting]).toEqual([2, 1]); // a and b are out; c waits for a credit
        expect([window.heldBy(values.a.correlationId), window.heldBy(values.b.correlationId)]).toEqual([1, 1]);
        expect(window.giveBack(values.a.correlationId)).toBe(true); // as classify() does when an answer arrives
      }, 5);
      testScheduler.schedule(() => expect(window.inUse).toBe(2), 20);
      expectObservable(result).toBe(expected, values);
    });
  });

  it('gives back the credits of images it drops on unsubscription', () => {
    testScheduler.run(({ hot, expectObservable }) => {
      const window = inFlightWindow(3);
      const source = hot('-(abc)-', inputs('a', 'b', 'c'));
      const result = source.pipe(preprocess(options({ a: { ms: 1 }, b: { ms: 9 }, c: { ms: 9 } }, { window })));
      expectObservable(result, '----!').toBe('--a-', values);
      testScheduler.schedule(() => expect(window.inUse).toBe(1), 6); // a's credit went with a
    });
  });

  it('starts an image pushed by the consumer while it handles a result (re-entrancy)', async () => {
    const subject = new Subject<ImageInput<string>>();
    const seen: string[] = [];
    const sub = subject
      .pipe(preprocess({ concurrency: 1, prepare: (i) => of(prepared((i as ImageInput<string>).ref!)) }))
      .subscribe((r) => {
        seen.push(r.ref!);
        if (r.ref === 'a') subject.next({ source: Buffer.from('b'), ref: 'b' });
      });
    subject.next({ source: Buffer.from('a'), ref: 'a' });
    subject.next({ source: Buffer.from('c'), ref: 'c' });
    sub.unsubscribe();
    expect(seen).toEqual(['a', 'b', 'c']);
  });

  it('prepares CPUs + 2 images at once by default, so decoders keep busy while the main thread finishes others', () => {
    expect(defaultConcurrency()).toBe(availableParallelism() + 2);
    const started: string[] = [];
    const images = Array.from({ length: defaultConcurrency() + 3 }, (_, i) => ({ source: Buffer.from([i]), ref: `i${i}` }));
    const sub = from(images)
      .pipe(preprocess<string>({ prepare: (i) => (started.push((i as ImageInput<string>).ref!), NEVER) }))
      .subscribe();
    expect(started).toEqual(images.slice(0, defaultConcurrency()).map((i) => i.ref));
    sub.unsubscribe();
  });

  it('refuses bad options at once', () => {
    expect(() => preprocess({ concurrency: 0 })).toThrow(/concurrency must be an integer >= 1/);
    expect(() => preprocess({ order: 'random' as 'source' })).toThrow(/order must be/);
    expect(() => preprocess({ brotliQuality: 20 })).toThrow(/brotliQuality/);
  });

  describe('with real files', () => {
    const image = (name: string) => join(FIXTURES, 'images', name);

    it('prepares files in source order with a missing one among them', async () => {
      const files = [image('coffee-448x448.jpg'), image('does-not-exist.png'), image('rocket-896x896.png')];
      const results = await lastValueFrom(from(files).pipe(preprocess({ concurrency: 2, order: 'source' }), toArray()));
      expect(results.map((r) => [r.ref, r.kind])).toEqual([
        [files[0], 'prepared'],
        [files[1], 'failure'],
        [files[2], 'prepared'],
      ]);
      const [first, missing] = results;
      expect((first as PreparedImage).data.length).toBe(RAW_IMAGE_BYTES);
      expect(missing).toMatchObject({ code: 'SOURCE_UNREADABLE', stage: 'preprocess', attempts: 0, details: 'ENOENT' });
    });

    it('passes the prepare options through (Brotli, hashes) and gives each result its own id', async () => {
      const bytes = readFileSync(image('coffee-448x448.jpg'));
      const results = await lastValueFrom(
        from([bytes, bytes]).pipe(
          preprocess({ encoding: 'brotli', brotliQuality: 1, hashes: ['sha1'] }),
          map((r) => r as PreparedImage),
          toArray(),
        ),
      );
      expect(results.map((r) => [r.encoding, r.hashes.map((h) => h.type)])).toEqual([
        ['REQUEST_ENCODING_BROTLI', ['HASH_TYPE_SHA1']],
        ['REQUEST_ENCODING_BROTLI', ['HASH_TYPE_SHA1']],
      ]);
      expect(results[0]!.correlationId).not.toBe(results[1]!.correlationId);
    });
  });

  describe('a throwing callback of yours', () => {
    const raw = { source: { bgr: new Uint8Array(RAW_IMAGE_BYTES) }, ref: 'r' };

    it('ends the stream with the correlationId factory’s error, not a failure of the image', async () => {
      const boom = new Error('factory broke');
      const result = lastValueFrom(
        from([raw]).pipe(
          preprocess<string>({
            correlationId: () => {
              throw boom;
            },
          }),
          toArray(),
        ),
      );
      await expect(result).rejects.toBe(boom);
    });

    it('ends the stream with the id generator’s error when a failed image needs an id', async () => {
      const boom = new Error('generator broke');
      const ids = new CorrelationIdGenerator();
      ids.nextWithoutContent = () => {
        throw boom;
      };
      const result = lastValueFrom(from([Buffer.from('not an image')]).pipe(preprocess({ ids }), toArray()));
      await expect(result).rejects.toBe(boom);
    });
  });
});
