'use strict';
/*
 * Stand-in for iconv-lite in the watchdog's Lambda bundle (scripts/build-lambda.ts). mysql2 is its only
 * user there, through getDecoder/getEncoder, and only for encodings Node's Buffer lacks. The watchdog's
 * connection is utf8mb4, so in practice that is CESU-8 alone (the server greeting and the auth plugin
 * name), decoded here the way iconv-lite does. Any other character set a server could still send is
 * decoded by the runtime's ICU (TextDecoder), under the WHATWG name below, checked against iconv-lite in
 * test/infra/iconv-stand-in.test.ts; one without an equivalent is refused by name, never guessed.
 */

const REPLACEMENT = '\ufffd';

/**
 * mysql2's names (lib/constants/charset_encodings.js) → TextDecoder labels that decode every character
 * iconv-lite encodes alike. Left out because Node's ICU tables differ from iconv-lite's: big5 (HKSCS in
 * private use), euckr (no cp949 extension) and macintosh/macroman (0xDB is € there, ¤ here).
 */
const WHATWG = {
  latin2: 'iso-8859-2',
  koi8r: 'koi8-r',
  koi8u: 'koi8-u',
  eucjp: 'euc-jp',
  sjis: 'shift_jis',
  cp932: 'shift_jis',
  cp1250: 'windows-1250',
  cp1251: 'windows-1251',
  cp1256: 'windows-1256',
  cp1257: 'windows-1257',
  cp866: 'ibm866',
  hebrew: 'iso-8859-8',
  greek: 'iso-8859-7',
  latin7: 'iso-8859-13',
  latin5: 'iso-8859-9',
  tis620: 'windows-874',
  gb2312: 'gbk',
  gbk: 'gbk',
  gb18030: 'gb18030',
  'utf16-le': 'utf-16le',
};

const canonical = (encoding) => String(encoding).toLowerCase().replace(/[^0-9a-z-]/g, '');

const unsupported = (encoding, what) =>
  new Error(
    `character set "${encoding}" cannot be ${what} by the watchdog's bundled MySQL driver (its iconv-lite stand-in has no ` +
      'equivalent); connect with utf8mb4, the character set Airflow requires',
  );

/** CESU-8 as iconv-lite decodes it: surrogates come as two 3-byte sequences, 4-byte forms are invalid. */
class Cesu8Decoder {
  constructor(stripBOM) {
    this.pending = 0;
    this.length = 0;
    this.acc = 0;
    this.stripBOM = stripBOM;
  }
  write(buf) {
    let out = '';
    for (const byte of buf) {
      if ((byte & 0xc0) === 0x80) {
        if (this.pending === 0) {
          out += REPLACEMENT;
          continue;
        }
        this.acc = (this.acc << 6) | (byte & 0x3f);
        this.length += 1;
        this.pending -= 1;
        if (this.pending > 0) continue;
        // Modified UTF-8's two-byte NUL (C0 80) is accepted, other overlong forms are not.
        const overlong = (this.length === 2 && this.acc > 0 && this.acc < 0x80) || (this.length === 3 && this.acc < 0x800);
        out += overlong ? REPLACEMENT : String.fromCharCode(this.acc);
        continue;
      }
      if (this.pending > 0) {
        out += REPLACEMENT;
        this.pending = 0;
      }
      if (byte < 0x80) out += String.fromCharCode(byte);
      else if (byte < 0xe0) [this.acc, this.pending, this.length] = [byte & 0x1f, 1, 1];
      else if (byte < 0xf0) [this.acc, this.pending, this.length] = [byte & 0x0f, 2, 1];
      else out += REPLACEMENT;
    }
    if (this.stripBOM && out.length > 0) {
      this.stripBOM = false;
      if (out.charCodeAt(0) === 0xfeff) out = out.slice(1);
    }
    return out;
  }
  end() {
    const out = this.pending > 0 ? REPLACEMENT : undefined;
    this.pending = 0;
    return out;
  }
}

class TextDecoderAdapter {
  constructor(decoder) {
    this.decoder = decoder;
  }
  write(buf) {
    return this.decoder.decode(buf, { stream: true });
  }
  end() {
    return this.decoder.decode() || undefined;
  }
}

/** Each UTF-16 code unit on its own, as CESU-8 wants: a surrogate pair becomes two 3-byte sequences. */
const encodeCesu8 = (text) => {
  const bytes = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes.push(c);
    else if (c < 0x800) bytes.push(0xc0 | (c >> 6), 0x80 | (c & 0x3f));
    else bytes.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f));
  }
  return Buffer.from(bytes);
};

const getDecoder = (encoding, options) => {
  const name = canonical(encoding);
  const stripBOM = !(options && options.stripBOM === false);
  if (name === 'cesu8') return new Cesu8Decoder(stripBOM);
  const label = WHATWG[name];
  if (label === undefined) throw unsupported(encoding, 'decoded');
  let decoder;
  try {
    decoder = new TextDecoder(label, { ignoreBOM: !stripBOM });
  } catch (cause) {
    // A runtime built without full ICU knows only the UTF encodings.
    throw Object.assign(unsupported(encoding, 'decoded'), { cause });
  }
  return new TextDecoderAdapter(decoder);
};

const getEncoder = (encoding) => {
  const name = canonical(encoding);
  if (name === 'cesu8') return { write: encodeCesu8, end: () => undefined };
  if (Buffer.isEncoding(name)) return { write: (text) => Buffer.from(text, name), end: () => undefined };
  throw unsupported(encoding, 'encoded');
};

const decode = (buf, encoding, options) => {
  const d = getDecoder(encoding, options);
  return d.write(buf) + (d.end() ?? '');
};

const encode = (text, encoding) => {
  const e = getEncoder(encoding);
  return e.write(String(text));
};

const encodingExists = (encoding) => {
  const name = canonical(encoding);
  return name === 'cesu8' || Buffer.isEncoding(name) || name in WHATWG;
};

module.exports = { decode, encode, encodingExists, getDecoder, getEncoder };
