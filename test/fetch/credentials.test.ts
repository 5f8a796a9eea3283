import { inspect } from "node:util";
import { describe, expect, it } from "vitest";
import { credentialsFrom } from "../../src/cli/config.js";
import { authProblem, Credentials, NetrcError, parseNetrc } from "../../src/fetch/credentials.js";

const basic = (login: string, password: string): string =>
  `Basic ${Buffer.from(`${login}:${password}`).toString("base64")}`;

describe("parseNetrc: as curl reads a netrc file", () => {
  it("reads machine, login, password and default entries in any layout, with comments, quotes and macdef", () => {
    const text = [
      "# my archives",
      "machine Archive.ESO.org login alice password 'not-quoted'",
      "machine data.lsst.cloud",
      '  login "bob smith"  password "p\\"w d\\\\x"  account ignored',
      "macdef init",
      "machine evil.example login mallory password inside-a-macro",
      "",
      "machine casda.csiro.au login carol # password after a comment is ignored",
      "password c4",
      "default login anonymous password guest@example.org",
    ].join("\n");
    expect(parseNetrc(text)).toEqual([
      { machine: "archive.eso.org", login: "alice", password: "'not-quoted'" },
      { machine: "data.lsst.cloud", login: "bob smith", password: 'p"w d\\x' },
      { machine: "casda.csiro.au", login: "carol", password: "c4" },
      { machine: undefined, login: "anonymous", password: "guest@example.org" },
    ]);
  });

  it("refuses an unterminated quote and a keyword without its value, naming the line, not the token", () => {
    expect(() => parseNetrc('machine a login x password "s3cret')).toThrow(NetrcError);
    expect(() => parseNetrc('machine a login x password "s3cret')).toThrow(/line 1/);
    expect(() => parseNetrc('machine a login x password "s3cret')).not.toThrow(/s3cret/);
    expect(() => parseNetrc("machine a login x password")).toThrow(/"password" at the end/);
  });
});

describe("Credentials.headersFor: per host, dropped across origins", () => {
  const netrc = parseNetrc("machine files.test login u password p\ndefault login d password q");
  const c = new Credentials({ token: "T0K", netrc, authHosts: ["cdn.test", "mirror.test:8443"] });
  const u = (s: string): URL => new URL(s);

  it("sends the token on a first hop, and keeps it within the same origin after a redirect", () => {
    expect(c.headersFor(u("https://tap.test/sync"))).toEqual({ authorization: "Bearer T0K" });
    expect(c.headersFor(u("https://tap.test/async/1"), u("https://tap.test/async"), true)).toEqual({
      authorization: "Bearer T0K",
    });
  });

  it("drops it after a redirect to another host, port or scheme, unless --auth-host names the host", () => {
    const from = u("https://tap.test/x");
    expect(c.headersFor(u("https://other.test/x"), from, true)).toEqual({});
    expect(c.headersFor(u("https://tap.test:444/x"), from, true)).toEqual({});
    expect(c.headersFor(u("http://tap.test/x"), from, true)).toEqual({});
    expect(c.headersFor(u("https://cdn.test/x"), from, true)).toEqual({ authorization: "Bearer T0K" });
    expect(c.headersFor(u("https://mirror.test:8443/x"), from, true)).toEqual({
      authorization: "Bearer T0K",
    });
    expect(c.headersFor(u("https://mirror.test/x"), from, true)).toEqual({});
    // A hop that carried nothing passes nothing on, even within its origin.
    expect(c.headersFor(u("https://tap.test/y"), from, false)).toEqual({});
  });

  it("netrc: the host's machine entry (also after a redirect to it), the default entry only where the token would go", () => {
    const n = new Credentials({ netrc });
    expect(n.headersFor(u("https://files.test/a"))).toEqual({ authorization: basic("u", "p") });
    expect(n.headersFor(u("https://files.test/a"), u("https://tap.test/"), false)).toEqual({
      authorization: basic("u", "p"),
    });
    expect(n.headersFor(u("https://tap.test/a"))).toEqual({ authorization: basic("d", "q") });
    expect(n.headersFor(u("https://elsewhere.test/a"), u("https://tap.test/"), true)).toEqual({});
  });

  it("prints as [credentials] in JSON, util.inspect and strings", () => {
    const s = JSON.stringify({ run: { credentials: c } });
    expect(s).toBe('{"run":{"credentials":"[credentials]"}}');
    expect(inspect({ c })).not.toMatch(/T0K|files\.test/);
    expect(`${c}`).toBe("[credentials]");
  });

  it("authProblem: needed without credentials, refused with them, nothing for other statuses", () => {
    expect(authProblem(401, false)).toMatch(/authentication required/);
    expect(authProblem(403, true)).toMatch(/authentication refused/);
    expect(authProblem(404, true)).toBeUndefined();
  });
});

describe("credentialsFrom: the flags, read once", () => {
  it("takes the token from the named variable; names the variable, never the value, in errors", () => {
    const c = credentialsFrom({ tokenEnv: "ESO_TOKEN" }, { ESO_TOKEN: " abc.def \n" }, "/nonexistent");
    expect(c?.headersFor(new URL("https://a.test/"))).toEqual({ authorization: "Bearer abc.def" });
    expect(() => credentialsFrom({ tokenEnv: "ESO_TOKEN" }, {}, "/x")).toThrow(/ESO_TOKEN is not set/);
    expect(() => credentialsFrom({ tokenEnv: "T" }, { T: "has space" }, "/x")).toThrow(/not a token/);
    expect(() => credentialsFrom({ tokenEnv: "T" }, { T: "has space" }, "/x")).not.toThrow(/has space/);
    expect(() => credentialsFrom({ tokenEnv: "$T" }, {}, "/x")).toThrow(/NAME of an environment variable/);
    expect(() => credentialsFrom({ authHost: "a.test" }, {}, "/x")).toThrow(/--auth-host needs/);
    expect(credentialsFrom({}, {}, "/x")).toBeUndefined();
  });

  it("--netrc alone reads $NETRC, else HOME/.netrc; a missing file is a usage error", () => {
    expect(() => credentialsFrom({ netrc: true }, {}, "/nonexistent-home")).toThrow(
      /cannot read \/nonexistent-home\/\.netrc \(ENOENT\)/,
    );
    expect(() => credentialsFrom({ netrc: true }, { NETRC: "/nope/netrc" }, "/x")).toThrow(/\/nope\/netrc/);
  });
});
