import { inspect } from "node:util";

/**
 * Credentials of one run, per host, never stored: `--netrc [FILE]` (Basic auth from a netrc file, read
 * as curl reads it) and `--token-env VAR` (`Authorization: Bearer <value of VAR>`). They live in this
 * object only: it prints as "[credentials]" (JSON, util.inspect, String), so a log line, an event or an
 * error that happens to carry it shows no secret. The HTTP client asks headersFor() on every hop.
 *
 * Where they go:
 * - The first hop of a request goes to a URL vocut chose itself: the service (--tap, --url, --sia) or a
 *   product its answer lists (access_url, DataLink #this). It gets the token, else the netrc entry of its
 *   host (`machine`), else the netrc `default` entry.
 * - After a redirect to another origin (scheme, host or port differ from the hop before), nothing is sent,
 *   unless --auth-host names the new host; a netrc `machine` entry naming the new host is still used (the
 *   user named that host). A redirect within the same origin keeps what the hop before sent.
 */

/** One `machine` entry of a netrc file (or the `default` one, with machine undefined). */
export interface NetrcEntry {
  readonly machine: string | undefined;
  readonly login: string;
  readonly password: string;
}

/** Thrown for an unreadable netrc: names the file and the line, never a token of it. */
export class NetrcError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "NetrcError";
  }
}

/**
 * Parse a netrc file as curl does: whitespace-separated tokens; a token may be "quoted" with \" \\ \n
 * \r \t escapes; `#` at the start of a token comments out the rest of its line; `machine NAME`, `default`,
 * then `login`, `password` (and `account`, ignored) in any order; `macdef NAME` skips its macro, which
 * ends at an empty line. Host names compare case-insensitively; the first entry for a host wins.
 * Throws NetrcError for a keyword without its value or an unterminated quote (line number only).
 */
export function parseNetrc(text: string): NetrcEntry[] {
  const entries: NetrcEntry[] = [];
  const lines = text.split(/\r?\n/);
  let current: { machine: string | undefined; login: string; password: string } | undefined;
  let expect: "machine" | "login" | "password" | "account" | "macdef" | undefined;
  let inMacro = false;
  const flush = (): void => {
    if (current !== undefined) entries.push({ ...current });
    current = undefined;
  };
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n] as string;
    if (inMacro) {
      if (line.trim() === "") inMacro = false;
      continue;
    }
    for (const tok of tokens(line, n + 1)) {
      if (tok.comment) break;
      const word = tok.text;
      if (expect !== undefined) {
        if (expect === "machine") current = { machine: word.toLowerCase(), login: "", password: "" };
        else if (expect === "login" && current !== undefined) current.login = word;
        else if (expect === "password" && current !== undefined) current.password = word;
        else if (expect === "macdef") inMacro = true;
        expect = undefined;
        if (inMacro) break;
        continue;
      }
      if (word === "machine") {
        flush();
        expect = "machine";
      } else if (word === "default") {
        flush();
        current = { machine: undefined, login: "", password: "" };
      } else if (word === "login" || word === "password" || word === "account" || word === "macdef") {
        expect = word;
      }
      // Anything else (a stray word) is skipped, as curl does.
    }
  }
  if (expect !== undefined && expect !== "macdef")
    throw new NetrcError(`"${expect}" at the end of the file has no value`);
  flush();
  return entries;
}

/** The tokens of one line; a token starting with `#` is a comment marker. */
function* tokens(line: string, lineNo: number): Generator<{ text: string; comment: boolean }> {
  let i = 0;
  while (i < line.length) {
    while (i < line.length && /\s/.test(line[i] as string)) i++;
    if (i >= line.length) return;
    if (line[i] === "#") {
      yield { text: "", comment: true };
      return;
    }
    if (line[i] === '"') {
      let out = "";
      i++;
      for (;;) {
        if (i >= line.length) throw new NetrcError(`line ${lineNo}: a quoted token is not closed`);
        const c = line[i] as string;
        if (c === '"') {
          i++;
          break;
        }
        if (c === "\\" && i + 1 < line.length) {
          const e = line[i + 1] as string;
          out += e === "n" ? "\n" : e === "r" ? "\r" : e === "t" ? "\t" : e;
          i += 2;
          continue;
        }
        out += c;
        i++;
      }
      yield { text: out, comment: false };
      continue;
    }
    const start = i;
    while (i < line.length && !/\s/.test(line[i] as string)) i++;
    yield { text: line.slice(start, i), comment: false };
  }
}

/** What a run was given; values, not where they came from (the CLI reads the file and the variable). */
export interface CredentialsInit {
  /** Parsed netrc entries (--netrc). */
  readonly netrc?: readonly NetrcEntry[];
  /** The bearer token (the value of --token-env VAR). */
  readonly token?: string;
  /** Hosts (`name` or `name:port`) that may receive credentials after a redirect to them (--auth-host). */
  readonly authHosts?: readonly string[];
}

/** What the HTTP client asks on every hop (fetch/http-client.ts). */
export interface Authorizer {
  /**
   * The headers to add to a request for `url`: `{ authorization }` or none. `from` is the URL of the hop
   * that redirected here (undefined on a first hop), `sentBefore` whether that hop carried credentials.
   */
  headersFor(url: URL, from?: URL, sentBefore?: boolean): Readonly<Record<string, string>>;
}

const NONE: Readonly<Record<string, string>> = Object.freeze({});

/** The credentials of one run (see the top of this file). Never serialised. */
export class Credentials implements Authorizer {
  readonly #token: string | undefined;
  readonly #netrc: readonly NetrcEntry[];
  readonly #authHosts: ReadonlySet<string>;

  constructor(init: CredentialsInit) {
    if (init.token !== undefined && !/^[\x21-\x7e]+$/.test(init.token))
      throw new TypeError("the token must be printable ASCII without spaces");
    this.#token = init.token;
    this.#netrc = init.netrc ?? [];
    this.#authHosts = new Set((init.authHosts ?? []).map((h) => h.trim().toLowerCase()).filter(Boolean));
  }

  /** Whether any credential was given (else the client skips the question). */
  get any(): boolean {
    return this.#token !== undefined || this.#netrc.length > 0;
  }

  headersFor(url: URL, from?: URL, sentBefore?: boolean): Readonly<Record<string, string>> {
    const host = url.hostname.toLowerCase();
    const machine = this.#netrc.find((e) => e.machine === host);
    let open: boolean;
    if (from === undefined) open = true;
    else if (from.origin === url.origin) open = sentBefore === true;
    else open = this.#authHosts.has(host) || this.#authHosts.has(url.host.toLowerCase());
    if (open && this.#token !== undefined) return { authorization: `Bearer ${this.#token}` };
    if (machine !== undefined) return basic(machine);
    const fallback = this.#netrc.find((e) => e.machine === undefined);
    if (open && fallback !== undefined) return basic(fallback);
    return NONE;
  }

  toJSON(): string {
    return "[credentials]";
  }

  toString(): string {
    return "[credentials]";
  }

  [inspect.custom](): string {
    return "[credentials]";
  }
}

function basic(e: NetrcEntry): Readonly<Record<string, string>> {
  return { authorization: `Basic ${Buffer.from(`${e.login}:${e.password}`, "utf8").toString("base64")}` };
}

/**
 * The message of a 401 or 403 answer: authentication is needed (no credentials were sent) or was
 * refused (they were); undefined for any other status. Names no credential.
 */
export function authProblem(status: number, credentialsSent: boolean): string | undefined {
  if (status !== 401 && status !== 403) return undefined;
  return credentialsSent
    ? `HTTP ${status}: authentication refused: the server did not accept the credentials sent (--token-env / --netrc)`
    : `HTTP ${status}: authentication required: no credentials were sent (give --token-env VAR or --netrc, and --auth-host for a host reached by a redirect)`;
}
