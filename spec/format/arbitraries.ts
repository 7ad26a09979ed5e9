/** fast-check generators shared by the format specs: text that is hard on IRC code paths. */
import fc from 'fast-check';

const SPECIALS = [
  '\r', '\n', '\r\n', '\0', '\x01', '\x02', '\x03', '\x0304', '\x0312,01', '\x03,5', '\x04', '\x04ff8800',
  '\x04ff8800,000000', '\x0f', '\x11', '\x16', '\x1d', '\x1e', '\x1f', '\t', ' ', '  ', '\ufffd',
  '\ud800', '\udfff', '🇫🇷', '👨‍👩‍👧', '👍🏽', 'e\u0301', '\u0301', 'ß', '日本', '\u200d', '<', '&', '>',
];

/** One "character" of nasty text: any code point, any grapheme, or a control/format sequence. */
export const nastyUnit: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.constantFrom(...SPECIALS), weight: 3 },
  { arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }), weight: 2 },
  { arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }), weight: 2 },
  { arbitrary: fc.constantFrom('a', 'b', 'word', 'alice', '12'), weight: 3 },
);

/** Arbitrary text mixing everything above. */
export const nastyText = (maxLength = 200): fc.Arbitrary<string> => fc.string({ unit: nastyUnit, maxLength });
