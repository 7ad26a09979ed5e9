/**
 * The 99-colour mIRC palette (indices 0-98; 99 means "default") and conversions between palette
 * indices and `#rrggbb` strings. Pure data; shared by both conversion directions.
 */

// Indices 0-15 are the classic palette; 16-98 are the extended palette as published in the
// modern IRC client documentation.
const PALETTE: readonly string[] = [
  'ffffff', '000000', '00007f', '009300', 'ff0000', '7f0000', '9c009c', 'fc7f00',
  'ffff00', '00fc00', '009393', '00ffff', '0000fc', 'ff00ff', '7f7f7f', 'd2d2d2',
  '470000', '472100', '474700', '324700', '004700', '00472c', '004747', '002747',
  '000047', '2e0047', '470047', '47002a', '740000', '743a00', '747400', '517400',
  '007400', '007449', '007474', '004074', '000074', '4b0074', '740074', '740045',
  'b50000', 'b56300', 'b5b500', '7db500', '00b500', '00b571', '00b5b5', '0063b5',
  '0000b5', '7500b5', 'b500b5', 'b5006b', 'ff0000', 'ff8c00', 'ffff00', 'b2ff00',
  '00ff00', '00ffa0', '00ffff', '008cff', '0000ff', 'a500ff', 'ff00ff', 'ff0098',
  'ff5959', 'ffb459', 'ffff71', 'cfff60', '6fff6f', '65ffc9', '6dffff', '59b4ff',
  '5959ff', 'c459ff', 'ff66ff', 'ff59bc', 'ff9c9c', 'ffd39c', 'ffff9c', 'e2ff9c',
  '9cff9c', '9cffdb', '9cffff', '9cd3ff', '9c9cff', 'dc9cff', 'ff9cff', 'ff94d3',
  '000000', '131313', '282828', '363636', '4d4d4d', '656565', '818181', '9f9f9f',
  'bcbcbc', 'e2e2e2', 'ffffff',
];

/** Number of real palette entries (0-98); index 99 is "default colour". */
export const MIRC_PALETTE_SIZE = PALETTE.length;

/** Palette index -> `#rrggbb`; null for 99 (default) or anything outside 0-98. */
export function mircIndexToHex(index: number): string | null {
  const hex = Number.isInteger(index) ? PALETTE[index] : undefined;
  return hex === undefined ? null : `#${hex}`;
}

/**
 * `#rgb` / `#rrggbb` (the '#' optional, any case) -> lower-case `#rrggbb`; null when the string is
 * not a hex colour.
 */
export function normaliseHexColour(value: string): string | null {
  const m = /^\s*#?([0-9a-f]{3}|[0-9a-f]{6})\s*$/i.exec(value);
  if (!m?.[1]) return null;
  let hex = m[1].toLowerCase();
  if (hex.length === 3) hex = hex.replace(/./g, (c) => c + c);
  return `#${hex}`;
}

function rgbOf(hex: string): [number, number, number] {
  const n = parseInt(hex.replace('#', ''), 16);
  return [(n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];
}

const PALETTE_RGB = PALETTE.map((h) => rgbOf(h));

/**
 * `#rrggbb` -> the palette index (0-98) nearest by squared RGB distance; ties go to the lower index
 * so the classic 0-15 colours win over their extended duplicates. Null when not a hex colour.
 */
export function nearestMircIndex(colour: string): number | null {
  const hex = normaliseHexColour(colour);
  if (hex === null) return null;
  const [r, g, b] = rgbOf(hex);
  let best = 0;
  let bestDistance = Infinity;
  PALETTE_RGB.forEach(([pr, pg, pb], i) => {
    const d = (pr - r) ** 2 + (pg - g) ** 2 + (pb - b) ** 2;
    if (d < bestDistance) {
      bestDistance = d;
      best = i;
    }
  });
  return best;
}
