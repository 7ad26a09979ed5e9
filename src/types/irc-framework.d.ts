// Typings for the part of irc-framework 4.14 that src/irc/ uses: its line parser. irc-framework
// ships none.
declare module 'irc-framework' {
  export interface IrcMessage {
    tags: Record<string, string>;
    prefix: string;
    nick: string;
    ident: string;
    hostname: string;
    command: string;
    params: string[];
  }

  /** One line (CR LF optional) as a message: tags unescaped, the prefix split into nick, ident
   *  and host, the command upper-cased. */
  export function ircLineParser(line: string): IrcMessage;
}
