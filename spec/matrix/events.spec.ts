import { parseMatrixEvent, type MatrixEvent } from '../../src/matrix/events';

const base = { event_id: '$ev1', room_id: '!room:hs', sender: '@alice:hs', origin_server_ts: 1_700_000_000_000 };
const parsedBase = { eventId: '$ev1', roomId: '!room:hs', sender: '@alice:hs', ts: 1_700_000_000_000 };
const msg = (content: unknown): Record<string, unknown> => ({ ...base, type: 'm.room.message', content });
const message = (over: Partial<Extract<MatrixEvent, { kind: 'message' }>>): MatrixEvent => ({
  ...parsedBase, kind: 'message', msgtype: 'm.text', body: '', html: null, url: null, replaces: null, inReplyTo: null, ...over,
});

describe('parseMatrixEvent', () => {
  describe('good events', () => {
    const cases: Array<{ name: string; raw: unknown; expected: MatrixEvent }> = [
      { name: 'plain text message', raw: msg({ msgtype: 'm.text', body: 'hello' }),
        expected: message({ body: 'hello' }) },
      { name: 'empty body is still a message', raw: msg({ msgtype: 'm.text', body: '' }),
        expected: message({ body: '' }) },
      { name: 'emote', raw: msg({ msgtype: 'm.emote', body: 'waves' }),
        expected: message({ msgtype: 'm.emote', body: 'waves' }) },
      { name: 'notice', raw: msg({ msgtype: 'm.notice', body: 'note' }),
        expected: message({ msgtype: 'm.notice', body: 'note' }) },
      { name: 'HTML message', raw: msg({ msgtype: 'm.text', body: 'hi *you*', format: 'org.matrix.custom.html',
        formatted_body: 'hi <em>you</em>' }),
      expected: message({ body: 'hi *you*', html: 'hi <em>you</em>' }) },
      { name: 'formatted_body without the HTML format is ignored', raw: msg({ msgtype: 'm.text', body: 'b',
        formatted_body: '<b>b</b>' }), expected: message({ body: 'b' }) },
      { name: 'unknown format is ignored', raw: msg({ msgtype: 'm.text', body: 'b', format: 'text/markdown',
        formatted_body: '**b**' }), expected: message({ body: 'b' }) },
      { name: 'HTML format with a non-string formatted_body', raw: msg({ msgtype: 'm.text', body: 'b',
        format: 'org.matrix.custom.html', formatted_body: 5 }), expected: message({ body: 'b' }) },
      { name: 'image with an mxc URL', raw: msg({ msgtype: 'm.image', body: 'cat.png', url: 'mxc://hs/abc' }),
        expected: message({ msgtype: 'm.image', body: 'cat.png', url: 'mxc://hs/abc' }) },
      { name: 'unknown msgtype is kept', raw: msg({ msgtype: 'org.example.custom', body: 'x' }),
        expected: message({ msgtype: 'org.example.custom', body: 'x' }) },
      { name: 'reply: in_reply_to event ID', raw: msg({ msgtype: 'm.text', body: '> quoted\n\nanswer',
        'm.relates_to': { 'm.in_reply_to': { event_id: '$orig' } } }),
      expected: message({ body: '> quoted\n\nanswer', inReplyTo: '$orig' }) },
      { name: 'reply with a non-string event_id', raw: msg({ msgtype: 'm.text', body: 'a',
        'm.relates_to': { 'm.in_reply_to': { event_id: 7 } } }), expected: message({ body: 'a' }) },
      { name: 'edit takes m.new_content and names the edited event',
        raw: msg({ msgtype: 'm.text', body: ' * fixed', 'm.new_content': { msgtype: 'm.text', body: 'fixed' },
          'm.relates_to': { rel_type: 'm.replace', event_id: '$orig' } }),
        expected: message({ body: 'fixed', replaces: '$orig' }) },
      { name: 'edit with HTML new content',
        raw: msg({ msgtype: 'm.text', body: ' * x', format: 'org.matrix.custom.html', formatted_body: ' * <b>old</b>',
          'm.new_content': { msgtype: 'm.text', body: 'x', format: 'org.matrix.custom.html', formatted_body: '<b>x</b>' },
          'm.relates_to': { rel_type: 'm.replace', event_id: '$orig' } }),
        expected: message({ body: 'x', html: '<b>x</b>', replaces: '$orig' }) },
      { name: 'edit whose new content changes the msgtype',
        raw: msg({ msgtype: 'm.text', body: ' * e', 'm.new_content': { msgtype: 'm.emote', body: 'e' },
          'm.relates_to': { rel_type: 'm.replace', event_id: '$orig' } }),
        expected: message({ msgtype: 'm.emote', body: 'e', replaces: '$orig' }) },
      { name: 'm.replace without m.new_content is an ordinary message',
        raw: msg({ msgtype: 'm.text', body: ' * x', 'm.relates_to': { rel_type: 'm.replace', event_id: '$orig' } }),
        expected: message({ body: ' * x' }) },
      { name: 'm.new_content without m.replace is ignored',
        raw: msg({ msgtype: 'm.text', body: 'orig', 'm.new_content': { msgtype: 'm.text', body: 'new' } }),
        expected: message({ body: 'orig' }) },
      { name: 'thread relation is neither edit nor reply',
        raw: msg({ msgtype: 'm.text', body: 't', 'm.relates_to': { rel_type: 'm.thread', event_id: '$root' } }),
        expected: message({ body: 't' }) },
      { name: 'member join with display name',
        raw: { ...base, type: 'm.room.member', state_key: '@bob:hs', content: { membership: 'join', displayname: 'Bob' } },
        expected: { ...parsedBase, kind: 'member', stateKey: '@bob:hs', membership: 'join', prevMembership: null,
          displayName: 'Bob', reason: null, isDirect: false } },
      { name: 'member leave with prev_content and reason',
        raw: { ...base, type: 'm.room.member', state_key: '@bob:hs', content: { membership: 'leave', reason: 'bye' },
          unsigned: { prev_content: { membership: 'join', displayname: 'Bob' } } },
        expected: { ...parsedBase, kind: 'member', stateKey: '@bob:hs', membership: 'leave', prevMembership: 'join',
          displayName: null, reason: 'bye', isDirect: false } },
      { name: 'member with a malformed prev_content',
        raw: { ...base, type: 'm.room.member', state_key: '@bob:hs', content: { membership: 'invite' },
          unsigned: { prev_content: 'join' } },
        expected: { ...parsedBase, kind: 'member', stateKey: '@bob:hs', membership: 'invite', prevMembership: null,
          displayName: null, reason: null, isDirect: false } },
      { name: 'a direct-chat invite',
        raw: { ...base, type: 'm.room.member', state_key: '@bob:hs', content: { membership: 'invite', is_direct: true } },
        expected: { ...parsedBase, kind: 'member', stateKey: '@bob:hs', membership: 'invite', prevMembership: null,
          displayName: null, reason: null, isDirect: true } },
      { name: 'is_direct that is not true is not a direct chat',
        raw: { ...base, type: 'm.room.member', state_key: '@bob:hs', content: { membership: 'invite', is_direct: 'yes' } },
        expected: { ...parsedBase, kind: 'member', stateKey: '@bob:hs', membership: 'invite', prevMembership: null,
          displayName: null, reason: null, isDirect: false } },
      { name: 'member with unsigned not an object',
        raw: { ...base, type: 'm.room.member', state_key: '@bob:hs', content: { membership: 'ban' }, unsigned: 3 },
        expected: { ...parsedBase, kind: 'member', stateKey: '@bob:hs', membership: 'ban', prevMembership: null,
          displayName: null, reason: null, isDirect: false } },
      { name: 'topic', raw: { ...base, type: 'm.room.topic', state_key: '', content: { topic: 'new topic' } },
        expected: { ...parsedBase, kind: 'topic', topic: 'new topic' } },
      { name: 'topic removed (empty content)', raw: { ...base, type: 'm.room.topic', state_key: '', content: {} },
        expected: { ...parsedBase, kind: 'topic', topic: '' } },
      { name: 'power levels with the ones they replaced; levels that are not integers are left out',
        raw: { ...base, type: 'm.room.power_levels', state_key: '', content: { users: { '@a:hs': 50, '@b:hs': '50', '@c:hs': 1.5 },
          users_default: 5 }, unsigned: { prev_content: { users: { '@a:hs': 0 } } } },
        expected: { ...parsedBase, kind: 'power_levels', users: { '@a:hs': 50 }, prevUsers: { '@a:hs': 0 }, usersDefault: 5,
          eventsDefault: 0, prevEventsDefault: 0 } },
      { name: 'power levels without prev_content or users',
        raw: { ...base, type: 'm.room.power_levels', state_key: '', content: { users_default: 'x', events_default: 1 } },
        expected: { ...parsedBase, kind: 'power_levels', users: {}, prevUsers: null, usersDefault: 0, eventsDefault: 1,
          prevEventsDefault: null } },
      { name: 'join rules with the rule they replaced',
        raw: { ...base, type: 'm.room.join_rules', state_key: '', content: { join_rule: 'invite' },
          unsigned: { prev_content: { join_rule: 'public' } } },
        expected: { ...parsedBase, kind: 'join_rules', joinRule: 'invite', prevJoinRule: 'public' } },
      { name: 'join rules without a rule',
        raw: { ...base, type: 'm.room.join_rules', state_key: '', content: {} },
        expected: { ...parsedBase, kind: 'join_rules', joinRule: '', prevJoinRule: null } },
      { name: 'other type', raw: { ...base, type: 'm.reaction', content: { 'm.relates_to': {} } },
        expected: { ...parsedBase, kind: 'other', type: 'm.reaction' } },
      { name: 'redaction with empty content', raw: { ...base, type: 'm.room.redaction', redacts: '$x', content: {} },
        expected: { ...parsedBase, kind: 'other', type: 'm.room.redaction' } },
      { name: 'missing event_id becomes empty', raw: { room_id: '!room:hs', sender: '@alice:hs', origin_server_ts: 5,
        type: 'm.room.name', content: { name: 'n' } },
      expected: { eventId: '', roomId: '!room:hs', sender: '@alice:hs', ts: 5, kind: 'other', type: 'm.room.name' } },
    ];

    test.each(cases)('$name', ({ raw, expected }) => {
      expect(parseMatrixEvent(raw)).toEqual({ ok: true, event: expected });
    });
  });

  describe('malformed events', () => {
    const cases: Array<{ name: string; raw: unknown; reason: RegExp }> = [
      { name: 'null', raw: null, reason: /not an object/ },
      { name: 'undefined', raw: undefined, reason: /not an object/ },
      { name: 'a string', raw: '{"type":"m.room.message"}', reason: /not an object/ },
      { name: 'a number', raw: 42, reason: /not an object/ },
      { name: 'an array', raw: [base], reason: /not an object/ },
      { name: 'no type', raw: { ...base, content: {} }, reason: /lacks type, room_id or sender/ },
      { name: 'empty type', raw: { ...base, type: '', content: {} }, reason: /lacks type, room_id or sender/ },
      { name: 'no room_id', raw: { ...base, room_id: undefined, type: 'm.room.message', content: {} },
        reason: /lacks type, room_id or sender/ },
      { name: 'no sender', raw: { ...base, sender: undefined, type: 'm.room.message', content: {} },
        reason: /lacks type, room_id or sender/ },
      { name: 'non-string sender', raw: { ...base, sender: 5, type: 'm.room.message', content: {} },
        reason: /lacks type, room_id or sender/ },
      { name: 'no content', raw: { ...base, type: 'm.room.message' }, reason: /no content object/ },
      { name: 'content null', raw: msg(null), reason: /no content object/ },
      { name: 'content a string', raw: msg('hello'), reason: /no content object/ },
      { name: 'content an array', raw: msg([{ body: 'x' }]), reason: /no content object/ },
      { name: 'message without msgtype', raw: msg({ body: 'x' }), reason: /lacks msgtype or body/ },
      { name: 'message without body', raw: msg({ msgtype: 'm.text' }), reason: /lacks msgtype or body/ },
      { name: 'message with a non-string body', raw: msg({ msgtype: 'm.text', body: 42 }), reason: /lacks msgtype or body/ },
      { name: 'redacted message (empty content)', raw: msg({}), reason: /lacks msgtype or body/ },
      { name: 'edit whose new content lacks a body',
        raw: msg({ msgtype: 'm.text', body: ' * x', 'm.new_content': { msgtype: 'm.text' },
          'm.relates_to': { rel_type: 'm.replace', event_id: '$orig' } }), reason: /lacks msgtype or body/ },
      { name: 'member without state_key', raw: { ...base, type: 'm.room.member', content: { membership: 'join' } },
        reason: /lacks state_key or membership/ },
      { name: 'member without membership', raw: { ...base, type: 'm.room.member', state_key: '@b:hs', content: {} },
        reason: /lacks state_key or membership/ },
      { name: 'member with a non-string membership',
        raw: { ...base, type: 'm.room.member', state_key: '@b:hs', content: { membership: true } },
        reason: /lacks state_key or membership/ },
    ];

    test.each(cases)('$name', ({ raw, reason }) => {
      const r = parseMatrixEvent(raw);
      expect(r.ok).toBe(false);
      expect(r.ok ? '' : r.reason).toMatch(reason);
    });

    test('the reason names the event ID when there is one', () => {
      const r = parseMatrixEvent(msg({ body: 'x' }));
      expect(r.ok ? '' : r.reason).toContain('$ev1');
    });
  });

  describe('ts', () => {
    beforeEach(() => jest.useFakeTimers({ now: 1_234_567 }));
    afterEach(() => jest.useRealTimers());

    test.each([
      { name: 'missing', ts: undefined, expected: 1_234_567 },
      { name: 'a string', ts: '1700000000000', expected: 1_234_567 },
      { name: 'a number', ts: 42, expected: 42 },
    ])('origin_server_ts $name -> $expected', ({ ts, expected }) => {
      const r = parseMatrixEvent({ ...base, origin_server_ts: ts, type: 'm.room.topic', content: { topic: 't' } });
      expect(r.ok && r.event.ts).toBe(expected);
    });
  });
});
