import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readImage } from "../../src/fits/image.js";
import { validateFits } from "../../src/fits/validate.js";
import { isControl } from "../../src/plan/plan-job.js";
import { safeId } from "../../src/plan/safe-name.js";
import { type CliResult, listFiles, runCli, startCli, tempDir, waitFor, withFlags } from "../helpers/cli.js";
import { CutoutServer, type Fault } from "../helpers/cutout-server.js";

/**
 * Hostile-input suite (issue 5, part 2). One table: each case names the hostile input, the command, the
 * exit code and the message it must give, and proves that nothing else was lost: the other targets'
 * files are present and valid FITS of the right target, the ledger counts are right, and no file was
 * written outside the output folder. Every case runs the built CLI against real servers on 127.0.0.1.
 *
 * Per-task failures (a body over --max-bytes, a redirect loop, a gzip bomb) are recorded in the ledger,
 * not printed one by one (a million-task job would flood the log): for those the run's stderr says how
 * many failed and `vocut status` (stdout) must name the cause.
 */

/** The well-behaved targets every catalog case carries next to its hostile rows. */
const GOOD: ReadonlyArray<readonly [string, number, number]> = [
  ["good1", 10.001, 5],
  ["good2", 10.002, 5.001],
  ["good3", 10.003, 5.002],
];
/** Position of the target whose request the server answers with the case's fault. */
const EVIL_RA = 10.5;
const EVIL_DEC = 5;
const HIPS = "CDS/P/SDSS9/g";

/** What a case has to work with. */
interface Ctx {
  /** The case's own folder (inputs live here, next to OUT). */
  readonly dir: string;
  readonly out: string;
  /** Primary server (its fault hook applies the case's fault to the evil target) and a second host. */
  readonly server: CutoutServer;
  readonly other: CutoutServer;
  /** Skip this case, saying why (a machine that cannot host it). */
  readonly skip: (why: string) => void;
}

interface HostileCase {
  /** The hostile input. */
  readonly name: string;
  /** Catalog lines after the good rows (CSV, header id,ra,dec), or a whole catalog file. */
  readonly rows?: readonly string[];
  readonly catalog?: (ctx: Ctx) => string;
  /** How the server answers the evil target's request. */
  readonly fault?: (ctx: Ctx, q: URLSearchParams) => Fault | undefined;
  /** How the server answers every request (e.g. slowly). */
  readonly allFault?: Fault;
  /** Extra flags for `vocut run CAT --out OUT --hips2fits g ...`; or a whole command. */
  readonly flags?: readonly string[];
  readonly command?: (ctx: Ctx, cat: string) => Promise<CliResult>;
  readonly exit: number;
  /** The run's stderr must say this. */
  readonly stderr: RegExp;
  /** `vocut status OUT` must say this (the per-task error kept in the ledger). */
  readonly status?: RegExp;
  /** Good targets whose files must be present and valid (default: all of GOOD); none when the run refused. */
  readonly done?: readonly string[];
  /**
   * Ledger counts by state (states with 0 left out). Undefined: not checked; a catalog the run refused
   * with no `done` and no `command` must then have left no OUT at all.
   */
  readonly ledger?: Readonly<Record<string, number>>;
  /** Further proof. */
  readonly after?: (ctx: Ctx, r: CliResult) => Promise<void> | void;
  /** Undo what the case set up outside its folder (a mount), whatever happened. */
  readonly cleanup?: (ctx: Ctx) => void;
}

const csvField = (s: string): string => `"${s.replace(/"/g, '""')}"`;
const evilRow = (id: string, ra = EVIL_RA, dec = EVIL_DEC): string => `${csvField(id)},${ra},${dec}`;

/** `vocut run` as every case runs it: fast against the local server, one band, no retries. */
const runArgs = (ctx: Ctx, cat: string, ...extra: string[]): string[] =>
  withFlags(
    [
      "run",
      cat,
      "--out",
      ctx.out,
      "--hips2fits",
      HIPS,
      "--hips2fits-url",
      ctx.server.url,
      "--rate",
      "1000",
      "--concurrency",
      "4",
      "--retries",
      "0",
    ],
    ...extra,
  );

/** `vocut status OUT --json`, parsed. */
async function statusJson(out: string): Promise<{ byState: Record<string, number>; lock: unknown }> {
  const r = await runCli(["status", out, "--json"]);
  return JSON.parse(r.stdout) as { byState: Record<string, number>; lock: unknown };
}

/** A saved cutout is a valid FITS of the target at (ra, dec). */
function expectCutout(path: string, ra: number, dec: number): void {
  const buf = readFileSync(path);
  expect(validateFits(buf).ok, path).toBe(true);
  const img = readImage(buf);
  expect(img.header.getNumber("CRVAL1"), path).toBe(ra);
  expect(img.header.getNumber("CRVAL2"), path).toBe(dec);
  expect(img.header.getString("HIPS"), path).toBe(HIPS);
}

/** Ids that must land inside OUT under their safe names (and nowhere else). */
function expectSafeNames(ctx: Ctx, ids: readonly string[]): void {
  const files = listFiles(join(ctx.out, "g"));
  for (const id of ids) {
    const name = `${safeId(id)}.fits`;
    expect(files, JSON.stringify(id)).toContain(name);
    expect(name).toMatch(/^[A-Za-z0-9._+\-=@,~]+$/);
    expectCutout(join(ctx.out, "g", name), EVIL_RA, idDec(ids.indexOf(id)));
  }
}

/** Write `text` (or bytes) as a catalog file in the case folder. */
function writeInput(ctx: Ctx, name: string, data: string | Buffer): string {
  const p = join(ctx.dir, name);
  writeFileSync(p, data);
  return p;
}

const goodLines = (): string[] => GOOD.map(([id, ra, dec]) => `${id},${ra},${dec}`);

const ID_ESCAPES = ["../../escape", "../x/../../y", "..", ".", "..\\..\\win", "C:\\Windows\\x"];
const ID_ABSOLUTE = ["/etc/passwd", "/tmp/vocut-hostile-absolute/evil", "//server/share/x"];
const ID_CONTROL = [
  "tab\there",
  "esc\u001b[31mred",
  "del\u007f",
  "bell\u0007",
  "cr\rx",
  "new\nline",
  "\u0001",
];

/** Dec of the i-th hostile id: each gets its own position, so each file can be checked. */
const idDec = (i: number): number => Number((EVIL_DEC + (i + 1) * 0.001).toFixed(3));
const idRows = (ids: readonly string[]): string[] => ids.map((id, i) => evilRow(id, EVIL_RA, idDec(i)));

/** Hostile ids next to the good ones: all fetched, each saved inside OUT under its safe name. */
function idCase(name: string, ids: readonly string[], after?: () => void): HostileCase {
  const tasks = GOOD.length + ids.length;
  return {
    name,
    rows: idRows(ids),
    exit: 0,
    stderr: new RegExp(`^planned ${tasks} task\\(s\\)`, "m"),
    ledger: { done: tasks },
    after: (ctx) => {
      expectSafeNames(ctx, ids);
      after?.();
    },
  };
}

/** RA of the i-th target of the full-disk case, and the RA of a saved file's target ("g/t12.fits"). */
const fullDiskRa = (i: number): number => Number((20 + i * 0.001).toFixed(3));
const fullDiskFileRa = (name: string): number => fullDiskRa(Number(/t(\d+)\.fits$/.exec(name)?.[1]));

/** Mount a tmpfs of `sizeKiB` at `dir` (root only here); false if this machine does not allow it. */
function mountTmpfs(dir: string, sizeKiB: number): boolean {
  try {
    mkdirSync(dir, { recursive: true });
    execFileSync("mount", ["-t", "tmpfs", "-o", `size=${sizeKiB}k`, "tmpfs", dir], { stdio: "pipe" });
    return true;
  } catch {
    return false;
  }
}

/** Opened by the "second process" case once the second run has been refused. */
let openGate = (): void => {};
const gate = new Promise<void>((resolve) => {
  openGate = resolve;
});

const CASES: readonly HostileCase[] = [
  idCase("ids with ../ (and Windows ..\\) path parts", ID_ESCAPES),
  idCase("ids that are absolute paths", ID_ABSOLUTE, () =>
    expect(existsSync("/tmp/vocut-hostile-absolute")).toBe(false),
  ),
  idCase("ids with control characters (tab, ESC, DEL, BEL, CR, newline, \\x01)", ID_CONTROL),
  {
    name: "ids with control characters in `plan --dry-run` (one escaped line per request, no raw ESC)",
    rows: idRows(ID_CONTROL),
    command: (ctx, cat) =>
      runCli([
        "plan",
        cat,
        "--out",
        ctx.out,
        "--hips2fits",
        HIPS,
        "--hips2fits-url",
        ctx.server.url,
        "--dry-run",
      ]),
    exit: 0,
    stderr: /^$/,
    done: [],
    after: (ctx, r) => {
      const lines = r.stdout.trimEnd().split("\n");
      expect(lines).toHaveLength(GOOD.length + ID_CONTROL.length);
      for (const line of lines) {
        expect(line.split("\t"), JSON.stringify(line)).toHaveLength(4);
        expect([...line].filter((ch) => ch !== "\t" && isControl(ch.codePointAt(0) ?? 0))).toEqual([]);
      }
      const esc = lines.find((l) => l.startsWith("g\tesc\\u001b[31mred\t"));
      expect(esc?.split("\t")[3]).toBe(`g/${safeId("esc\u001b[31mred")}.fits`);
      expect(r.stdout).toContain("\tnew\\nline\t");
      expect(existsSync(ctx.out)).toBe(false);
    },
  },
  {
    name: "an id with a NUL byte in the first 4 KiB: the file is taken for binary data and refused",
    catalog: (ctx) =>
      writeInput(ctx, "nul.csv", Buffer.from(`id,ra,dec\n${goodLines().join("\n")}\n"nul\u0000id",10.5,5\n`)),
    exit: 3,
    stderr: /holds binary data: expected CSV, TSV, VOTable or FITS/,
    done: [],
  },
  {
    name: "an id with a NUL byte after the first 4 KiB: mapped to a safe name like other control characters",
    catalog: (ctx) =>
      writeInput(
        ctx,
        "nul-late.csv",
        `# ${"padding ".repeat(600)}\nid,ra,dec\n${goodLines().join("\n")}\n${evilRow("nul\u0000id")}\n`,
      ),
    exit: 0,
    stderr: /^planned 4 task\(s\)/m,
    ledger: { done: 4 },
    after: (ctx) => {
      expect(listFiles(join(ctx.out, "g"))).toContain(`${safeId("nul\u0000id")}.fits`);
      expectCutout(join(ctx.out, "g", `${safeId("nul\u0000id")}.fits`), EVIL_RA, EVIL_DEC);
    },
  },
  {
    name: "NaN, infinite, unparsable and out-of-range coordinates (poles and RA 0 are fine)",
    rows: [
      "nan,NaN,1",
      "inf,Infinity,1",
      "ninf,-Infinity,1",
      "decinf,10,inf",
      "huge,1e400,1",
      "ra361,361,1",
      "raneg,-1,1",
      "ra360,360,0",
      "dec91,10,91",
      "decneg,10,-90.5",
      "text,abc,1",
      "empty,,1",
      "npole,0,90",
      "spole,359.9999,-90",
    ],
    exit: 0,
    stderr: /line 5 \(row 4\): RA "NaN" in column ra: not a finite number; skipped/,
    done: [...GOOD.map(([id]) => id), "npole", "spole"],
    ledger: { done: 5 },
    after: (_ctx, r) => {
      expect(r.stderr).toMatch(/RA "Infinity" in column ra: not a finite number/);
      expect(r.stderr).toMatch(/Dec "inf" in column dec: not a finite number/);
      expect(r.stderr).toMatch(/RA "361" in column ra: 361 deg is outside \[0, 360\)/);
      expect(r.stderr).toMatch(/RA "360" in column ra: 360 deg is outside \[0, 360\)/);
      expect(r.stderr).toMatch(/Dec "-90.5" in column dec: -90.5 deg is outside \[-90, 90\]/);
      expect(r.stderr).toMatch(/12 catalog row\(s\) skipped/);
    },
  },
  {
    name: "out-of-range coordinates with --strict",
    rows: ["ra361,361,1"],
    flags: ["--strict"],
    exit: 3,
    stderr: /line 5.*361 deg is outside \[0, 360\)/,
    // Planning is one transaction: it stops at the bad row and leaves no task; nothing is fetched.
    ledger: {},
    done: [],
  },
  {
    name: "a catalog with invalid UTF-8 (in an id and in a coordinate)",
    catalog: (ctx) =>
      writeInput(
        ctx,
        "bad-utf8.csv",
        Buffer.concat([
          Buffer.from(`id,ra,dec\n${goodLines().join("\n")}\nbad`),
          Buffer.from([0xff, 0xfe]),
          Buffer.from(",10.5,5\nalso,10.6"),
          Buffer.from([0xc3, 0x28]),
          Buffer.from(",5\n"),
        ]),
      ),
    exit: 0,
    stderr: /line 5 \(row 4\): column id holds bytes that are not valid UTF-8/,
    ledger: { done: 3 },
    after: (_ctx, r) =>
      expect(r.stderr).toMatch(/line 6 \(row 5\): column ra holds bytes that are not valid UTF-8/),
  },
  {
    name: "a ragged catalog (rows with too few and too many fields)",
    rows: ["short,10.5", "long,10.5,5,extra"],
    exit: 0,
    stderr: /line 5 \(row 4\): row has 2 fields but the header has 3; skipped/,
    ledger: { done: 3 },
    after: (_ctx, r) => expect(r.stderr).toMatch(/line 6 \(row 5\): row has 4 fields but the header has 3/),
  },
  {
    name: "an empty catalog file",
    catalog: (ctx) => writeInput(ctx, "empty.csv", ""),
    exit: 3,
    stderr: /has no header row \(it is empty or all comments\)/,
    done: [],
  },
  {
    name: "a catalog with a header and no rows",
    catalog: (ctx) => writeInput(ctx, "header-only.csv", "id,ra,dec\n"),
    exit: 0,
    stderr: /planned 0 task\(s\) for 0 target\(s\)/,
    done: [],
    ledger: {},
    after: (ctx) => expect(ctx.server.requests).toHaveLength(0),
  },
  {
    name: "a response far over --max-bytes, declared in Content-Length (50 MB)",
    rows: [evilRow("big")],
    fault: () => ({ kind: "oversize", bytes: 50_000_000, declared: true }),
    flags: ["--max-bytes", "1000000"],
    exit: 4,
    stderr: /3 done, 0 no coverage, 1 failed permanently/,
    status:
      /"big": failed_permanent .*TOO_LARGE .*response of 50000000 bytes is over the limit of 1000000 \(--max-bytes\)/,
    ledger: { done: 3, failed_permanent: 1 },
    after: (ctx) => expect(existsSync(join(ctx.out, "g", "big.fits"))).toBe(false),
  },
  {
    name: "a response far over --max-bytes, undeclared (chunked, 20 MB)",
    rows: [evilRow("big")],
    fault: () => ({ kind: "oversize", bytes: 20_000_000, declared: false }),
    flags: ["--max-bytes", "1000000"],
    exit: 4,
    stderr: /1 failed permanently/,
    status: /"big": failed_permanent .*TOO_LARGE .*over the limit of 1000000 bytes \(--max-bytes\)/,
    ledger: { done: 3, failed_permanent: 1 },
    after: (ctx) => expect(existsSync(join(ctx.out, "g", "big.fits"))).toBe(false),
  },
  {
    name: "a redirect loop (A -> A)",
    rows: [evilRow("loop")],
    fault: (ctx, q) => ({ kind: "redirect", location: `${ctx.server.url}?${q}` }),
    exit: 4,
    stderr: /1 failed permanently/,
    status: /"loop": failed_permanent .*TOO_MANY_REDIRECTS redirect loop/,
    ledger: { done: 3, failed_permanent: 1 },
  },
  {
    name: "a redirect chain longer than 5 hops",
    rows: [evilRow("chain")],
    fault: (ctx, q) => {
      const hop = Number(q.get("hop") ?? 0) + 1;
      const next = new URLSearchParams(q);
      next.set("hop", String(hop));
      return { kind: "redirect", location: `${ctx.server.url}?${next}`, status: 307 };
    },
    exit: 4,
    stderr: /1 failed permanently/,
    status: /"chain": failed_permanent .*TOO_MANY_REDIRECTS more than 5 redirects/,
    ledger: { done: 3, failed_permanent: 1 },
    after: (ctx) => expect(ctx.server.requests).toHaveLength(3 + 6),
  },
  {
    name: "a redirect to another host (works: the other host's answer is saved)",
    rows: [evilRow("moved")],
    fault: (ctx, q) => ({ kind: "redirect", location: `${ctx.other.url}?${q}`, status: 301 }),
    exit: 0,
    stderr: /4 done, 0 no coverage, 0 failed permanently/,
    ledger: { done: 4 },
    after: (ctx) => {
      expect(ctx.other.requests).toHaveLength(1);
      expect(new URL(ctx.other.url).host).not.toBe(new URL(ctx.server.url).host);
      expectCutout(join(ctx.out, "g", "moved.fits"), EVIL_RA, EVIL_DEC);
    },
  },
  {
    name: "a gzip bomb sent with Content-Encoding: gzip although vocut asked for identity (1 MB -> 1 GiB)",
    rows: [evilRow("bomb")],
    fault: () => ({ kind: "gzipBomb", inflatedBytes: 2 ** 30 }),
    // The compressed body (about 1 MB) fits under --max-bytes, the inflated one (1 GiB) is far over it:
    // had vocut inflated it, the error would be TOO_LARGE, not "gzip-compressed, not FITS".
    flags: ["--max-bytes", "4000000"],
    exit: 5,
    stderr: /0 failed permanently, 0 pending \(not tried yet\), 1 to retry/,
    status: /"bomb": failed_retryable .*NOT_FITS 200 but body is gzip-compressed \(1f 8b\), not FITS/,
    ledger: { done: 3, failed_retryable: 1 },
    after: (ctx) => {
      expect(existsSync(join(ctx.out, "g", "bomb.fits"))).toBe(false);
      for (const r of ctx.server.requests) expect(r.acceptEncoding).toBe("identity");
    },
  },
  {
    name: "a VOTable with an entity-expansion bomb (billion laughs)",
    catalog: () => resolve(import.meta.dirname, "../../fixtures/catalog/entity-bomb.vot"),
    exit: 3,
    stderr: /declares XML entities \(<!ENTITY>\); entity expansion is refused/,
    done: [],
  },
  {
    name: "a VOTable with an external entity (XXE: file:///etc/passwd)",
    catalog: (ctx) =>
      writeInput(
        ctx,
        "xxe.vot",
        `<?xml version="1.0"?>\n<!DOCTYPE v [ <!ENTITY xxe SYSTEM "file:///etc/passwd"> ]>\n` +
          `<VOTABLE version="1.4"><RESOURCE><TABLE><FIELD name="ra" datatype="double"/>` +
          `<FIELD name="dec" datatype="double"/><FIELD name="id" datatype="char" arraysize="*"/>` +
          `<DATA><TABLEDATA><TR><TD>10.5</TD><TD>5</TD><TD>&xxe;</TD></TR></TABLEDATA></DATA>` +
          `</TABLE></RESOURCE></VOTABLE>\n`,
      ),
    exit: 3,
    stderr: /entity expansion is refused/,
    done: [],
  },
  {
    name: "a full disk (OUT and its ledger on a nearly full 1 MiB tmpfs); space freed, the same command finishes",
    rows: Array.from({ length: 60 }, (_, i) => `t${i},${fullDiskRa(i)},7`),
    command: async (ctx, cat) => {
      // A real full file system: a tmpfs mounted on OUT (needs root, as here and in CI), nearly filled.
      if (!mountTmpfs(ctx.out, 1024)) ctx.skip("cannot mount a tmpfs here (needs root)");
      const filler = join(ctx.out, "filler");
      writeFileSync(filler, Buffer.alloc(600 * 1024));
      const first = await runCli(runArgs(ctx, cat, "--retries", "2"));

      // The ledger is intact and readable: status works and counts every task.
      const st = await runCli(["status", ctx.out, "--json"]);
      expect(st.code, st.stderr).toBe(5);
      expect((JSON.parse(st.stdout) as { total: number }).total).toBe(63);
      const onDisk = listFiles(join(ctx.out, "g"));
      expect(onDisk.length).toBeLessThan(63);
      expect(listFiles(join(ctx.out, ".vocut-tmp"))).toEqual([]);
      const asked = ctx.server.requests.length;

      // Free space: the same command finishes, without asking again for the files already in place.
      rmSync(filler);
      const second = await runCli(runArgs(ctx, cat, "--retries", "2"));
      expect(second.code, second.stderr).toBe(0);
      const askedAgain = ctx.server.requests
        .slice(asked)
        .map((q) => Number(new URL(q.url, "http://x").searchParams.get("ra")))
        .filter((ra) => onDisk.some((f) => fullDiskFileRa(f) === ra));
      expect(askedAgain).toEqual([]);
      return first;
    },
    exit: 5,
    stderr: /the disk is full: free space and run the same command again; the ledger is intact/,
    done: [...GOOD.map(([id]) => id), ...Array.from({ length: 60 }, (_, i) => `t${i}`)],
    ledger: { done: 63 },
    after: (ctx) => {
      for (let i = 0; i < 60; i++) expectCutout(join(ctx.out, "g", `t${i}.fits`), fullDiskRa(i), 7);
    },
    cleanup: (ctx) => {
      try {
        execFileSync("umount", [ctx.out], { stdio: "pipe" });
      } catch {
        // not mounted (skipped)
      }
    },
  },
  {
    name: "a corrupt ledger file (random bytes where OUT/vocut.db should be)",
    command: async (ctx, cat) => {
      mkdirSync(ctx.out, { recursive: true });
      const junk = Buffer.alloc(20_000);
      for (let i = 0; i < junk.length; i++) junk[i] = (i * 7919 + 13) % 251;
      writeFileSync(join(ctx.out, "vocut.db"), junk);
      const r = await runCli(runArgs(ctx, cat));
      // Untouched: vocut never "repairs" a ledger by overwriting it.
      expect(readFileSync(join(ctx.out, "vocut.db")).equals(junk)).toBe(true);
      const st = await runCli(["status", ctx.out]);
      expect(st.code).toBe(3);
      expect(st.stderr).toMatch(/unreadable or corrupt/);
      return r;
    },
    exit: 3,
    stderr:
      /ledger .*vocut\.db is unreadable or corrupt \(file is not a database\); move it aside to start over/,
    done: [],
    after: (ctx) => expect(ctx.server.requests).toHaveLength(0),
  },
  {
    name: "a ledger cut in half (a real ledger, truncated)",
    command: async (ctx, cat) => {
      expect((await runCli(runArgs(ctx, cat, "--quiet"))).code).toBe(0);
      const db = join(ctx.out, "vocut.db");
      const bytes = readFileSync(db);
      writeFileSync(db, bytes.subarray(0, Math.floor(bytes.length / 2)));
      return runCli(runArgs(ctx, cat));
    },
    exit: 3,
    stderr: /ledger .*vocut\.db is unreadable or corrupt \(database disk image is malformed\)/,
    // The files of the first run stay in place and valid.
    after: (ctx) => expect(ctx.server.requests).toHaveLength(3),
  },
  {
    name: "a second process on the same ledger",
    // The first run's requests wait at the server until the second run has been refused.
    allFault: { kind: "gate", open: gate },
    command: async (ctx, cat) => {
      const first = startCli(runArgs(ctx, cat, "--quiet"));
      await waitFor(() => ctx.server.requests.length >= 1, 60_000);
      const second = await runCli(runArgs(ctx, cat));
      openGate();
      expect(second.stderr).toMatch(new RegExp(`in use by pid ${first.child.pid} on `));
      // The first run is not disturbed: it finishes the job.
      const r1 = await first.done;
      expect(r1.code, r1.stderr).toBe(0);
      return second;
    },
    exit: 6,
    stderr: new RegExp(
      `ledger .*vocut\\.db is in use by pid \\d+ on ${hostname()} .*wait for it to finish or stop it`,
    ),
    ledger: { done: 3 },
    after: (ctx) => expect(ctx.server.requests).toHaveLength(3),
  },
];

describe("hostile inputs", () => {
  let server: CutoutServer;
  let other: CutoutServer;
  let current: { c: HostileCase; ctx: Ctx } | undefined;
  const root = tempDir("vocut-hostile-");

  beforeAll(async () => {
    const fault = (_n: number, q: URLSearchParams, key: string): Fault | undefined => {
      if (current?.c.allFault !== undefined) return current.c.allFault;
      return current?.c.fault !== undefined && key === `${HIPS}|${EVIL_RA}|${EVIL_DEC}`
        ? current.c.fault(current.ctx, q)
        : undefined;
    };
    server = await new CutoutServer({ fault }).start();
    other = await new CutoutServer().start();
  });
  afterAll(async () => {
    await server.stop();
    await other.stop();
    root.cleanup();
  });

  // Each case runs the CLI two to five times; a loaded 2-core machine can take seconds per start.
  it.for(CASES.map((c) => [c.name, c] as const))("%s", { timeout: 120_000 }, async ([, c], t) => {
    const dir = join(root.dir, String(CASES.indexOf(c)));
    mkdirSync(dir);
    server.requests.length = 0;
    other.requests.length = 0;
    const ctx: Ctx = {
      dir,
      out: join(dir, "out"),
      server,
      other,
      skip: (why) => {
        console.warn(`skipped "${c.name}": ${why}`);
        t.skip(why);
      },
    };
    current = { c, ctx };
    try {
      await runCase(c, ctx);
    } finally {
      current = undefined;
      c.cleanup?.(ctx);
    }
  });
});

async function runCase(c: HostileCase, ctx: Ctx): Promise<void> {
  const { dir } = ctx;
  const cat =
    c.catalog?.(ctx) ??
    writeInput(ctx, "catalog.csv", `id,ra,dec\n${[...goodLines(), ...(c.rows ?? [])].join("\n")}\n`);
  const inputs = listFiles(dir);

  const r =
    c.command !== undefined ? await c.command(ctx, cat) : await runCli(runArgs(ctx, cat, ...(c.flags ?? [])));
  expect(r.code, r.stderr).toBe(c.exit);
  expect(r.stderr).toMatch(c.stderr);
  if (r.code !== 1) expect(r.stderr).not.toMatch(/internal error/);

  // The other targets' files are present and valid.
  const done = c.done ?? GOOD.map(([id]) => id);
  for (const id of done) {
    const g = GOOD.find(([gid]) => gid === id);
    if (g !== undefined) expectCutout(join(ctx.out, "g", `${id}.fits`), g[1], g[2]);
    else expect(existsSync(join(ctx.out, "g", `${id}.fits`)), id).toBe(true);
  }
  if (done.length === 0 && c.ledger === undefined && c.command === undefined) {
    // Refused before anything was created.
    expect(existsSync(ctx.out)).toBe(false);
  }

  // Ledger counts, and the per-task cause where there is one.
  if (c.ledger !== undefined) {
    const st = await statusJson(ctx.out);
    const nonZero = Object.fromEntries(Object.entries(st.byState).filter(([, n]) => n > 0));
    expect(nonZero).toEqual(c.ledger);
    expect(st.lock).toBeNull();
  }
  if (c.status !== undefined) expect((await runCli(["status", ctx.out])).stdout).toMatch(c.status);

  // Nothing outside OUT but the inputs; inside OUT only cutouts, the ledger and an empty temp folder.
  const outside = listFiles(dir).filter((f) => !f.startsWith("out/") && !inputs.includes(f));
  expect(outside).toEqual([]);
  if (existsSync(ctx.out)) {
    for (const f of listFiles(ctx.out))
      expect(f, JSON.stringify(f)).toMatch(/^(g\/[^/]+\.fits|vocut\.db(-wal|-shm)?)$/);
  }
  await c.after?.(ctx, r);
}
