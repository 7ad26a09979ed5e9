import { decodeWireField, encodeWireText } from '../../src/irc/encoding';

const wire = (b: number[] | Buffer): string => Buffer.from(b).toString('latin1');

describe('decodeWireField', () => {
  test.each([
    { name: 'ASCII stays as it is', bytes: Buffer.from('hello #chan'), expected: 'hello #chan' },
    { name: 'valid UTF-8', bytes: Buffer.from('café 日本 🎉', 'utf8'), expected: 'café 日本 🎉' },
    { name: 'Latin-1 / Windows-1252 (not UTF-8)', bytes: Buffer.from([0x63, 0x61, 0x66, 0xe9]), expected: 'café' },
    { name: 'Windows-1252 euro and quotes', bytes: Buffer.from([0x80, 0x20, 0x93, 0x68, 0x69, 0x94]), expected: '€ “hi”' },
    { name: 'UTF-8 cut in the middle of a sequence falls back', bytes: Buffer.from([0x61, 0xe6, 0x97]), expected: 'aæ—' },
    { name: 'empty', bytes: Buffer.alloc(0), expected: '' },
  ])('$name', ({ bytes, expected }) => {
    expect(decodeWireField(wire(bytes))).toBe(expected);
  });
});

describe('encodeWireText', () => {
  test.each(['plain', 'café', '日本語 🎉', ''])('%j round-trips through the wire as UTF-8', (text) => {
    const onWire = Buffer.from(encodeWireText(text), 'latin1');
    expect(onWire.equals(Buffer.from(text, 'utf8'))).toBe(true);
    expect(decodeWireField(encodeWireText(text))).toBe(text);
  });
});
