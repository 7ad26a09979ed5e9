'use strict';
// Stand-in for @matrix-org/matrix-sdk-crypto-nodejs (see package.json and docs/setup.md).
// Loading it succeeds so that matrix-bot-sdk can be required; using any export throws.
const message = 'end-to-end encryption is not supported by matrix-irc-bridge ' +
  '(@matrix-org/matrix-sdk-crypto-nodejs is replaced by a stub)';

function unsupported(name) {
  return class Unsupported {
    constructor() { throw new Error(`${name}: ${message}`); }
    static [Symbol.hasInstance]() { return false; }
  };
}

module.exports = new Proxy({}, {
  get(_target, prop) {
    if (typeof prop !== 'string' || prop === '__esModule' || prop === 'then' || prop === 'default') {
      return undefined;
    }
    return unsupported(prop);
  },
});
