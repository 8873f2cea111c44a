import { join } from 'node:path';
import { main } from '../../src/cli/main';
import { UsageError } from '../../src/cli/io';
import { DEFAULT_WIRE, resolvePrepare } from '../../src/cli/pipelineOptions';
import { fakeIo } from './fakeIo';

const samples = join(__dirname, '../../samples');

describe('--wire', () => {
  it('maps raw, brotli and png to the encodings, --brotli-quality alone keeping its meaning', () => {
    expect(resolvePrepare({ wire: 'raw' })).toMatchObject({ encoding: 'uncompressed' });
    expect(resolvePrepare({ wire: 'png' })).toMatchObject({ encoding: 'png' });
    expect(resolvePrepare({ wire: 'brotli' })).toMatchObject({ encoding: 'brotli', brotliQuality: 1 });
    expect(resolvePrepare({ wire: 'brotli', 'brotli-quality': '4' })).toMatchObject({ encoding: 'brotli', brotliQuality: 4 });
    expect(resolvePrepare({ 'brotli-quality': '3' })).toMatchObject({ encoding: 'brotli', brotliQuality: 3 });
    expect(resolvePrepare({ 'brotli-quality': '0' })).toMatchObject({ encoding: 'uncompressed' });
    expect(resolvePrepare({})).toMatchObject({ encoding: { raw: 'uncompressed', brotli: 'brotli', png: 'png' }[DEFAULT_WIRE] });
  });

  it('refuses an unknown form, and a quality that contradicts the form', () => {
    expect(() => resolvePrepare({ wire: 'gzip' })).toThrow(new UsageError("--wire takes raw, brotli or png; got 'gzip'"));
    expect(() => resolvePrepare({ wire: 'png', 'brotli-quality': '2' })).toThrow(
      /--brotli-quality applies to --wire brotli, not --wire png/,
    );
    expect(() => resolvePrepare({ wire: 'brotli', 'brotli-quality': '0' })).toThrow(/give --wire raw/);
  });

  it('every form gives the same answer from the server (the same pixels arrive)', async () => {
    const answers = [];
    for (const wire of ['raw', 'brotli', 'png']) {
      const io = fakeIo();
      expect(await main(['single', '--format', 'json', '--wire', wire, join(samples, 'storm.jpg')], io)).toBe(0);
      const record = JSON.parse(io.out());
      expect(record).toMatchObject({ outcome: 'success', errorCode: null });
      answers.push(record.labels);
    }
    expect(answers[1]).toEqual(answers[0]);
    expect(answers[2]).toEqual(answers[0]);
  });
});
