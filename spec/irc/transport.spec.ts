/** The Latin-1 line transport: how socket chunks become lines. */
import { LatinLineTransport } from '../../src/irc/transport';

function feed(chunks: Buffer[]): string[] {
  const t = new LatinLineTransport({ encoding: 'latin1' });
  const lines: string[] = [];
  t.on('line', (l: string) => lines.push(l));
  chunks.forEach((c) => t.onSocketData(c));
  return lines;
}

describe('LatinLineTransport', () => {
  test('several lines in one chunk, a line across chunks, CR LF kept', () => {
    expect(feed([Buffer.from('PING :a\r\n:s 001 me :hi\r\n:s 00'), Buffer.from('2 me :x\r'), Buffer.from('\n')]))
      .toEqual(['PING :a\r\n', ':s 001 me :hi\r\n', ':s 002 me :x\r\n']);
  });

  test('bytes come through one to one as Latin-1, whatever they are (UTF-8 is decoded later)', () => {
    const bytes = Buffer.concat([Buffer.from(':a PRIVMSG #c :caf'), Buffer.from([0xe9, 0x20, 0xc3, 0xa9, 0x80, 0xff]), Buffer.from('\n')]);
    const [line] = feed([bytes]);
    expect(Buffer.from(line ?? '', 'latin1').equals(bytes)).toBe(true);
  });

  test('no line without its newline; an empty chunk changes nothing; each byte alone still works', () => {
    expect(feed([Buffer.from('PART #c'), Buffer.alloc(0)])).toEqual([]);
    const text = ':x NICK y\r\n:x QUIT :bye\r\n';
    expect(feed([...Buffer.from(text)].map((b) => Buffer.from([b])))).toEqual([':x NICK y\r\n', ':x QUIT :bye\r\n']);
  });
});
