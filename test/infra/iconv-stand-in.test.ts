import { createRequire } from 'node:module';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT, STAND_IN_FILES } from '../../scripts/build-lambda.js';

/**
 * scripts/stand-ins/iconv-lite.cjs against the real iconv-lite (still installed: mysql2 depends on it):
 * the bundle's mysql2 must decode what the unbundled one decodes, or refuse by name.
 */

interface Codec {
  getDecoder(encoding: string, options?: { stripBOM?: boolean }): { write(b: Buffer): string; end(): string | undefined };
  getEncoder(encoding: string, options?: object): { write(s: string): Buffer; end(): Buffer | undefined };
}
const require = createRequire(import.meta.url);
const standIn = require(join(REPO_ROOT, STAND_IN_FILES['iconv-lite'] as string)) as Codec;
const real = require(require.resolve('iconv-lite', { paths: [join(REPO_ROOT, 'node_modules/mysql2')] })) as Codec;

const decodeWith = (codec: Codec, buf: Buffer, encoding: string): string => {
  // Joined as mysql2 joins them (lib/parsers/string.js). iconv-lite 0.7's CESU-8 end() starts from the
  // number 0 (`var res = 0`): 0 when nothing is left, "0\ufffd" after a cut sequence; the stand-in
  // answers undefined and "\ufffd", which is what the code means.
  const d = codec.getDecoder(encoding);
  const res = d.write(buf);
  let trail: unknown = d.end();
  if (codec === real && encoding === 'cesu8') trail = trail === 0 ? undefined : String(trail).replace(/^0/, '');
  return trail ? res + String(trail) : res;
};
const encodeWith = (codec: Codec, text: string, encoding: string): Buffer => {
  const e = codec.getEncoder(encoding);
  const tail = e.end();
  return tail && tail.length > 0 ? Buffer.concat([e.write(text), tail]) : e.write(text);
};

/** Every character set mysql2 can name (lib/constants/charset_encodings.js) that Buffer lacks. */
const MYSQL_ENCODINGS = [
  ...new Set((require(join(REPO_ROOT, 'node_modules/mysql2/lib/constants/charset_encodings.js')) as string[]).filter((e) => !Buffer.isEncoding(e))),
];
const SUPPORTED = ['cesu8', 'latin2', 'koi8r', 'koi8u', 'eucjp', 'sjis', 'cp932', 'cp1250', 'cp1251', 'cp1256', 'cp1257', 'cp866', 'hebrew', 'greek', 'latin7', 'latin5', 'tis620', 'gb2312', 'gbk', 'gb18030', 'utf16-le'];

/** Text each codec can carry: what iconv-lite encodes and decodes back unchanged. */
const SAMPLE_RANGES: readonly [number, number][] = [
  [0x20, 0x7e],
  [0xa0, 0x17f],
  [0x370, 0x3ff],
  [0x400, 0x45f],
  [0x590, 0x5ff],
  [0x600, 0x6ff],
  [0xe00, 0xe7f],
  [0x3040, 0x30ff],
  [0x4e00, 0x9fff],
  [0xac00, 0xd7a3],
  [0xff01, 0xff5e],
];
const representable = (encoding: string): string[] => {
  const chars: string[] = [];
  for (const [lo, hi] of SAMPLE_RANGES)
    for (let c = lo; c <= hi; c++) {
      const ch = String.fromCharCode(c);
      if (decodeWith(real, encodeWith(real, ch, encoding), encoding) === ch) chars.push(ch);
    }
  return chars;
};

describe('iconv-lite stand-in (the Lambda bundle’s mysql2)', () => {
  it('covers every character set mysql2 names: decoded alike, or listed as refused', () => {
    const refused = MYSQL_ENCODINGS.filter((e) => !SUPPORTED.includes(e));
    // No TextDecoder label decodes these as iconv-lite does; a utf8mb4 connection never meets them.
    expect(refused.sort()).toEqual(
      ['armscii8', 'big5', 'cp850', 'cp852', 'dec8', 'euckr', 'eucjpms', 'geostd8', 'hp8', 'keybcs2', 'macintosh', 'macroman', 'swe7', 'utf16', 'utf32'].sort(),
    );
    for (const e of refused) expect(() => standIn.getDecoder(e), e).toThrow(new RegExp(`character set "${e}" cannot be decoded .*utf8mb4`));
    expect(MYSQL_ENCODINGS).toContain('cesu8');
  });

  it('CESU-8: decodes any bytes exactly as iconv-lite does, invalid and overlong sequences included', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const buf = Buffer.from(bytes);
        expect(decodeWith(standIn, buf, 'cesu8')).toBe(decodeWith(real, buf, 'cesu8'));
      }),
      { numRuns: 3000 },
    );
  });

  it('CESU-8: round-trips any text, surrogate pairs as two 3-byte sequences, as iconv-lite encodes it', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 24 }), (text) => {
        const ours = encodeWith(standIn, text, 'cesu8');
        expect(ours.equals(encodeWith(real, text, 'cesu8'))).toBe(true);
        expect(decodeWith(standIn, ours, 'cesu8')).toBe(text.replace(/^\ufeff/, ''));
      }),
      { numRuns: 2000 },
    );
    expect(encodeWith(standIn, '😀', 'cesu8').toString('hex')).toBe('eda0bdedb880');
  });

  it.each(SUPPORTED.filter((e) => e !== 'cesu8'))('%s: decodes whatever iconv-lite encodes to the same text', (encoding) => {
    const chars = representable(encoding);
    expect(chars.length, 'characters this codec carries').toBeGreaterThan(90);
    // All of them once, then random strings of them.
    const all = chars.join('');
    expect(decodeWith(standIn, encodeWith(real, all, encoding), encoding)).toBe(all);
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...chars), { maxLength: 40 }), (picked) => {
        const text = picked.join('');
        expect(decodeWith(standIn, encodeWith(real, text, encoding), encoding)).toBe(text);
      }),
      { numRuns: 200 },
    );
  });

  it('encodes only what Buffer and CESU-8 can, and names any other character set', () => {
    expect(encodeWith(standIn, 'héllo', 'utf8').equals(Buffer.from('héllo'))).toBe(true);
    expect(() => standIn.getEncoder('gbk')).toThrow(/character set "gbk" cannot be encoded .*utf8mb4/);
  });
});
