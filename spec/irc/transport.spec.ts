/** The Latin-1 line transport: how socket chunks become lines. */
import { LatinLineTransport, MAX_LINE_BYTES } from '../../src/irc/transport';

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

  test('an endless line is not kept growing: past the limit it is dropped, and later lines still come', () => {
    const t = new LatinLineTransport({ encoding: 'latin1' });
    const lines: string[] = [];
    const debug: string[] = [];
    t.on('line', (l: string) => lines.push(l));
    t.on('debug', (d: string) => debug.push(d));
    for (let i = 0; i < 10; i++) t.onSocketData(Buffer.alloc(MAX_LINE_BYTES / 4, 0x41)); // 40 KiB of "A", no newline
    expect(debug.length).toBeGreaterThan(0);
    t.onSocketData(Buffer.from('AAAA\r\nPING :still here\r\n'));
    expect(lines.at(-1)).toBe('PING :still here\r\n');
    expect(lines.every((l) => l.length <= MAX_LINE_BYTES)).toBe(true);
  });

  test('no line without its newline; an empty chunk changes nothing; each byte alone still works', () => {
    expect(feed([Buffer.from('PART #c'), Buffer.alloc(0)])).toEqual([]);
    const text = ':x NICK y\r\n:x QUIT :bye\r\n';
    expect(feed([...Buffer.from(text)].map((b) => Buffer.from([b])))).toEqual([':x NICK y\r\n', ':x QUIT :bye\r\n']);
  });
});
