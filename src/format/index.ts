/** The pure formatting layer: IRC <-> Matrix text, line splitting and nick building. */
export { ircToMatrix, type MatrixText, type NickMention } from './irc-to-matrix';
export { matrixToIrc, stripReplyFallback, type MatrixToIrcOptions } from './matrix-to-irc';
export { ircLineBudget, sanitizeIrcText, splitForIrc, utf8ByteLength, type IrcLineBudgetParams } from './split';
export { IRC_NICK_CHARS, cleanNickPart, nextNickCandidate, renderPuppetNick } from './nick';
export { stripIrcCodes } from './irc-codes';
