/**
 * Bytes on the IRC wire. irc-framework is run with the 'latin1' encoding, so every line reaches
 * us as one character per byte and nothing is lost to U+FFFD. Each received field is then
 * decoded as UTF-8 when it is valid UTF-8, and otherwise as Windows-1252 (what most non-UTF-8
 * IRC clients send). Outgoing lines are always UTF-8.
 */
const utf8 = new TextDecoder('utf-8', { fatal: true });
// Windows-1252's 0x80-0x9F (Node's TextDecoder treats 'windows-1252' as ISO-8859-1 here).
// Bytes the code page leaves undefined keep their ISO-8859-1 meaning.
const CP1252_HIGH = '\u20ac\x81\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039\u0152\x8d\u017d\x8f' +
  '\x90\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a\u0153\x9d\u017e\u0178';

function decodeCp1252(bytes: string): string {
  return bytes.replace(/[\x80-\x9f]/g, (c) => CP1252_HIGH[c.charCodeAt(0) - 0x80] as string);
}

const ASCII = /^[\x00-\x7f]*$/;

/** A field received as one character per byte -> the text it stands for. */
export function decodeWireField(bytes: string): string {
  if (ASCII.test(bytes)) {
    return bytes;
  }
  const buf = Buffer.from(bytes, 'latin1');
  try {
    return utf8.decode(buf);
  } catch {
    return decodeCp1252(bytes);
  }
}

/** Text -> one character per UTF-8 byte, for a connection run in 'latin1'. */
export function encodeWireText(text: string): string {
  return ASCII.test(text) ? text : Buffer.from(text, 'utf8').toString('latin1');
}
