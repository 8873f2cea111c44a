import { CorrelationIdGenerator, validateCorrelationId } from '../../src/preprocess/correlationId';
import { PreprocessError } from '../../src/preprocess/errors';

describe('CorrelationIdGenerator', () => {
  const content = Buffer.from('the same image');

  it('gives the same content two different ids, sharing its fingerprint', async () => {
    const ids = new CorrelationIdGenerator({ run: 'run1' });
    const a = await ids.next(content);
    const b = await ids.next(content);
    expect(a).not.toBe(b);
    expect(a).toMatch(/^run1-[0-9a-f]{16}-0$/);
    expect(b).toMatch(/^run1-[0-9a-f]{16}-1$/);
    expect(a.split('-')[1]).toBe(b.split('-')[1]);
  });

  it('fingerprints different content differently', async () => {
    const ids = new CorrelationIdGenerator({ run: 'r' });
    const [a, b] = await Promise.all([ids.next(content), ids.next(Buffer.from('another image'))]);
    expect(a.split('-')[1]).not.toBe(b.split('-')[1]);
  });

  it('numbers ids in call order even when called concurrently', async () => {
    const ids = new CorrelationIdGenerator({ run: 'r' });
    const all = await Promise.all(Array.from({ length: 50 }, () => ids.next(content)));
    expect(all.map((id) => id.split('-')[2])).toEqual(Array.from({ length: 50 }, (_, i) => i.toString(36)));
  });

  it('differs between runs (random prefix)', async () => {
    const a = await new CorrelationIdGenerator().next(content);
    const b = await new CorrelationIdGenerator().next(content);
    expect(a).not.toBe(b);
    expect(a.split('-')[0]).toMatch(/^[0-9a-z]{8}$/);
  });

  it('stays within 64 characters at any sequence number', async () => {
    const ids = new CorrelationIdGenerator({ run: 'abcdefghijklmnop' }); // longest run prefix
    (ids as unknown as { sequence: number }).sequence = Number.MAX_SAFE_INTEGER;
    const id = await ids.next(content);
    expect(id.length).toBeLessThanOrEqual(64);
  });

  it('makes ids without content for images that could not be read', () => {
    const ids = new CorrelationIdGenerator({ run: 'r' });
    expect(ids.nextWithoutContent()).toBe('r-unread-0');
    expect(ids.nextWithoutContent()).toBe('r-unread-1');
  });

  it('refuses a run prefix that could break the id format', () => {
    expect(() => new CorrelationIdGenerator({ run: 'a-b' })).toThrow(RangeError);
    expect(() => new CorrelationIdGenerator({ run: '' })).toThrow(RangeError);
  });
});

describe('validateCorrelationId', () => {
  it('accepts 1 to 64 characters', () => {
    expect(validateCorrelationId('x')).toBe('x');
    expect(validateCorrelationId('y'.repeat(64))).toBe('y'.repeat(64));
  });

  it.each([
    ['empty', '', /must not be empty/],
    ['65 characters', 'z'.repeat(65), /65 characters long; the service accepts at most 64/],
    ['not a string', 42, /must be a string, got number/],
  ])('refuses %s with INVALID_CORRELATION_ID', (_, id, message) => {
    let caught: unknown;
    try {
      validateCorrelationId(id);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(PreprocessError);
    expect((caught as PreprocessError).code).toBe('INVALID_CORRELATION_ID');
    expect((caught as PreprocessError).message).toMatch(message);
  });
});
