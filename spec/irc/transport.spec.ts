/** The Latin-1 line transport: how socket chunks become lines. */
import { foldTable } from '../../src/irc/casemap';
import { DROP_CHANNEL, DROP_NUMERIC, droppable, LatinLineTransport, MAX_LINE_BYTES, type RawFilter } from '../../src/irc/transport';

function feed(chunks: Buffer[]): string[] {
  const t = new LatinLineTransport();
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
    const t = new LatinLineTransport();
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

describe('droppable: what a puppet drops from the bytes alone', () => {
  const fold = foldTable('rfc1459');
  const own = Uint8Array.from(Buffer.from('Alice[m]', 'latin1'), (c) => fold[c] as number); // given folded
  const kind = (line: string): number => {
    const buf = Buffer.from(`xx${line}\r\n`, 'latin1'); // not at the buffer's start
    return droppable(buf, 2, buf.length, own, fold);
  };

  test.each([
    [':bob!b@h JOIN :#chan', DROP_CHANNEL],
    [':bob!b@h JOIN #chan', DROP_CHANNEL],
    [':bob!b@h PART #chan :bye', DROP_CHANNEL],
    [':bob QUIT :no user@host', DROP_CHANNEL],
    [':bob!b@h NICK :robert', DROP_CHANNEL],
    ['@time=2026-11-27T10:00:00.000Z;account=bob :bob!b@h JOIN #chan * :Bob', DROP_CHANNEL],
    [':alice!a@h JOIN #chan', DROP_CHANNEL], // a prefix of our nick: someone else
    [':alice[m]x!a@h JOIN #chan', DROP_CHANNEL], // ours is a prefix of it
    [':irc.test 372 alice[m] :- the MOTD text', DROP_NUMERIC],
    [':irc.test 375 alice[m] :- irc.test message of the day', DROP_NUMERIC],
    [':irc.test 251 alice[m] :There are 3 users', DROP_NUMERIC],
    [':irc.test 266 alice[m] 3 5 :Current global users', DROP_NUMERIC],
    [':irc.test 353 alice[m] = #chan :alice[m] @bob carol', DROP_CHANNEL],
    [':irc.test 366 alice[m] #chan :End of /NAMES list.', DROP_CHANNEL],
    [':irc.test 332 alice[m] #chan :the topic', DROP_CHANNEL],
    [':irc.test 333 alice[m] #chan bob 1795000000', DROP_CHANNEL],
  ])('%s -> %i', (line, expected) => {
    expect(kind(line)).toBe(expected);
  });

  test.each([
    ':alice[m]!a@h JOIN #chan', // our own
    ':ALICE{M}!a@h PART #chan', // our own under rfc1459 ({ and [ are one letter)
    ':alice[m] NICK :alice2', // our own nick change
    ':bob!b@h PRIVMSG #chan :hi', // not membership (isOthersChannelMessage takes it later)
    ':bob!b@h JOINED #chan', // not a command we know
    ':bob!b@h KICK #chan alice[m] :out', // a kick could be of us
    ':irc.test 001 alice[m] :Welcome', // registration goes on
    ':irc.test 376 alice[m] :End of MOTD', // the MOTD's end goes on
    ':irc.test 422 alice[m] :No MOTD',
    '@label=7 :irc.test 372 alice[m] :tagged', // tagged numerics go on (could answer a labelled command)
    'PING :irc.test', // no prefix
    ':bob!b@h', // no command
  ])('%s goes on', (line) => {
    expect(kind(line)).toBe(0);
  });

  test('a line cut short by the end of the bytes read so far is never dropped on a guess', () => {
    const line = Buffer.from(':bob!b@h JOIN #chan\r\n', 'latin1');
    for (let cut = 0; cut < 14; cut++) { // up to the command and the space after it
      expect([cut, droppable(line, 0, cut, own, fold)]).toEqual([cut, 0]);
    }
    expect(droppable(line, 0, line.length, own, fold)).toBe(DROP_CHANNEL);
  });

  test('a line is judged by its own bytes, not by the line after it', () => {
    const two = Buffer.from('@tags-without-a-space\r\n:bob!b@h JOIN #c\r\n', 'latin1');
    const end = two.indexOf(0x0a) + 1;
    expect(droppable(two, 0, end, own, fold)).toBe(0);
    expect(droppable(two, end, two.length, own, fold)).toBe(DROP_CHANNEL);
  });
});

describe('LatinLineTransport with a puppet\'s filter', () => {
  function filtered(state: { nick: string; all: boolean }): { t: LatinLineTransport; lines: string[]; dropped: number[] } {
    const t = new LatinLineTransport();
    const lines: string[] = [];
    const dropped: number[] = [];
    const filter: RawFilter = {
      dropAll: () => state.all,
      nick: () => state.nick,
      caseMapping: () => 'ascii',
      dropped: (n) => dropped.push(n),
    };
    t.filter = filter;
    t.on('line', (l: string) => {
      lines.push(l);
      if (l.includes(' NICK ')) {
        state.nick = 'carol'; // our nick changes while the chunk is read
      }
    });
    return { t, lines, dropped };
  }

  test('drops others\' membership lines and idle numerics, counts the membership ones once per chunk, keeps line order', () => {
    const { t, lines, dropped } = filtered({ nick: 'alice', all: false });
    t.onSocketData(Buffer.from([
      ':srv 001 alice :Welcome', ':srv 251 alice :users', ':srv 372 alice :- motd', ':srv 376 alice :End',
      ':bob!b@h JOIN #c', ':alice!a@h JOIN #c', ':dave!d@h QUIT :x', ':srv 353 alice = #c :alice bob',
      ':srv 366 alice #c :End', ':bob!b@h PRIVMSG alice :hi',
    ].join('\r\n') + '\r\n'));
    expect(lines).toEqual([':srv 001 alice :Welcome\r\n', ':srv 376 alice :End\r\n', ':alice!a@h JOIN #c\r\n',
      ':bob!b@h PRIVMSG alice :hi\r\n']);
    expect(dropped).toEqual([4]); // JOIN, QUIT, 353, 366 (not the LUSERS and MOTD lines)
  });

  test('a nick change takes effect at the next line of the same chunk', () => {
    const { t, lines } = filtered({ nick: 'alice', all: false });
    t.onSocketData(Buffer.from(':alice!a@h NICK :carol\r\n:carol!a@h JOIN #c\r\n:alice!x@h JOIN #c\r\n'));
    expect(lines).toEqual([':alice!a@h NICK :carol\r\n', ':carol!a@h JOIN #c\r\n']);
  });

  test('a droppable line split across reads is dropped once whole; dropAll drops everything', () => {
    const state = { nick: 'alice', all: false };
    const { t, lines, dropped } = filtered(state);
    t.onSocketData(Buffer.from(':bob!b@h JO'));
    t.onSocketData(Buffer.from('IN #c\r\n:srv PONG srv :1\r\n'));
    expect(lines).toEqual([':srv PONG srv :1\r\n']);
    expect(dropped).toEqual([1]);
    state.all = true;
    t.onSocketData(Buffer.from(':srv PONG srv :2\r\nPING :x\r\n'));
    expect(lines).toEqual([':srv PONG srv :1\r\n']);
    expect(dropped).toEqual([1]); // dropAll drops are not channel lines
  });
});

describe('LatinLineTransport writes', () => {
  test('lines written in one tick leave in one write, at the end of the tick', async () => {
    const t = new LatinLineTransport();
    const writes: string[] = [];
    const socket = {
      destroyed: false,
      write: (data: string, encoding: string) => { writes.push(`${encoding} ${JSON.stringify(data)}`); return true; },
      end: () => writes.push('end'),
    };
    Object.assign(t, { socket, open: true });
    t.writeLine('CAP LS 302');
    t.writeLine('NICK alice');
    t.writeLine('USER alice 0 * :Alicé');
    expect(writes).toEqual([]);
    await new Promise((r) => process.nextTick(r));
    expect(writes).toEqual(['latin1 "CAP LS 302\\r\\nNICK alice\\r\\nUSER alice 0 * :Alicé\\r\\n"']);
    t.writeLine('JOIN #c'); // the next tick writes again
    await new Promise((r) => process.nextTick(r));
    expect(writes.slice(1)).toEqual(['latin1 "JOIN #c\\r\\n"']);
    t.writeLine('QUIT :bye');
    t.end(); // what is pending goes before the FIN
    expect(writes.slice(2)).toEqual(['latin1 "QUIT :bye\\r\\n"', 'end']);
    await new Promise((r) => process.nextTick(r));
    expect(writes).toHaveLength(4);
  });

  test('nothing is written on a socket that is not open', async () => {
    const t = new LatinLineTransport();
    t.writeLine('NICK alice');
    await new Promise((r) => process.nextTick(r));
    expect((t as unknown as { pending: string }).pending).toBe('');
  });
});
