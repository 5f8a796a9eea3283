import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Stored } from "../../src/output/store.js";
import { TAR_DIR, type TarCommitted, TarStore } from "../../src/output/tar-store.js";
import { listFiles, tempDir } from "../helpers/cli.js";
import { parseTar } from "../helpers/tar-files.js";

let tmp: ReturnType<typeof tempDir>;
beforeEach(() => {
  tmp = tempDir("vocut-tar-");
});
afterEach(() => tmp.cleanup());

const sha = (b: Buffer): string => createHash("sha256").update(b).digest("hex");
const NOW = () => 1_700_000_000_000;

/** GNU tar, run in `cwd`: its stdout, failing the test on a non-zero exit or a warning. */
function gnuTar(cwd: string, ...args: string[]): string {
  const r = spawnSync("tar", args, { cwd, encoding: "utf8" });
  expect(r.stderr).toBe("");
  expect(r.status).toBe(0);
  return r.stdout;
}

/** What the ledger would hold after recording `stored`: per tar file, its committed end and members. */
function committedOf(stored: readonly Stored[]): Map<string, TarCommitted> {
  const m = new Map<string, { end: number; members: number }>();
  for (const s of stored) {
    const t = s.tar as { shard: string; offset: number };
    const c = m.get(t.shard) ?? { end: 0, members: 0 };
    c.end = Math.max(c.end, t.offset + Math.ceil(s.bytes / 512) * 512);
    c.members++;
    m.set(t.shard, c);
  }
  return m;
}

describe("TarStore", () => {
  // Names as the files layout makes them: short, longer than ustar's 100-byte name field (split into
  // prefix + name), and with a last component too long for any split (a pax header holds the path).
  const names = [
    "g/a.fits",
    `r/${"d".repeat(120)}/b.fits`,
    `i/${"x".repeat(130)}~0123456789.fits`,
    "g/sub/dir/c.fits",
  ];

  it("appends members named as the files layout; tar -xf gives the same tree, and each offset holds the body", async () => {
    const out = join(tmp.dir, "out");
    const s = new TarStore(out, { part: "job", maxBytes: 2 ** 30, now: NOW });
    expect(s.recover(new Map())).toEqual({ truncated: 0, removed: 0 });
    const bodies = names.map((_, i) => Buffer.alloc(2880 * (i + 1) + i * 7, i + 1));
    const stored = await Promise.all(names.map((n, i) => s.put(join(out, n), bodies[i] as Buffer)));
    await s.drain();
    s.close();
    expect(readdirSync(join(out, TAR_DIR))).toEqual(["job-000000.tar"]);
    const tarFile = join(out, TAR_DIR, "job-000000.tar");
    const tar = readFileSync(tarFile);
    stored.forEach((st, i) => {
      const b = bodies[i] as Buffer;
      expect(st.bytes).toBe(b.length);
      expect(st.sha256).toBe(sha(b));
      expect(st.tar?.shard).toBe("job-000000.tar");
      const off = st.tar?.offset as number;
      expect(tar.subarray(off, off + b.length).equals(b)).toBe(true);
    });
    // The archive ends right after the last member with two zero blocks.
    const last = stored[stored.length - 1] as Stored;
    const end = (last.tar?.offset as number) + Math.ceil(last.bytes / 512) * 512;
    expect(tar.length).toBe(end + 1024);
    expect(gnuTar(tmp.dir, "-tf", tarFile).trim().split("\n")).toEqual(names);
    const x = join(tmp.dir, "x");
    mkdirSync(x);
    gnuTar(x, "-xf", tarFile);
    expect(listFiles(x)).toEqual([...names].sort());
    names.forEach((n, i) => {
      expect(readFileSync(join(x, n)).equals(bodies[i] as Buffer)).toBe(true);
    });
  });

  it("members written in batches (more than TAR_BATCH_BYTES put at once, over two tar files and two groups) are each whole at their offset", async () => {
    const out = join(tmp.dir, "out");
    // 400 members of 8,640 bytes (8,704 with padding, 9,216 with the header): about 3.5 batches, with
    // the byte limit falling in the middle of the third.
    const n = 400;
    const s = new TarStore(out, { part: "job", maxBytes: 9216 * 250 + 1024, now: NOW });
    s.recover(new Map());
    const bodies = Array.from({ length: n }, (_, i) => Buffer.alloc(8640, (i * 7) % 251));
    const first = await Promise.all(
      bodies.slice(0, 150).map((b, i) => s.put(join(out, "g", `o${i}.fits`), b)),
    );
    const rest = await Promise.all(
      bodies.slice(150).map((b, i) => s.put(join(out, "g", `o${150 + i}.fits`), b)),
    );
    await s.drain();
    s.close();
    const stored = [...first, ...rest];
    expect(readdirSync(join(out, TAR_DIR)).sort()).toEqual(["job-000000.tar", "job-000001.tar"]);
    const tars = new Map(
      ["job-000000.tar", "job-000001.tar"].map((f) => [f, readFileSync(join(out, TAR_DIR, f))]),
    );
    stored.forEach((st, i) => {
      const tar = tars.get(st.tar?.shard as string) as Buffer;
      const off = st.tar?.offset as number;
      expect(tar.subarray(off, off + 8640).equals(bodies[i] as Buffer)).toBe(true);
    });
    for (const [f, tar] of tars) {
      const listed = gnuTar(tmp.dir, "-tf", join(out, TAR_DIR, f))
        .trim()
        .split("\n");
      const mine = stored.filter((st) => st.tar?.shard === f);
      expect(listed.length).toBe(mine.length);
      // Each file ends with its two zero blocks right after its last member.
      const last = mine[mine.length - 1] as Stored;
      expect(tar.length).toBe((last.tar?.offset as number) + 8704 + 1024);
    }
    expect(stored.filter((st) => st.tar?.shard === "job-000000.tar").length).toBe(250);
  });

  it("putFile copies a streamed product into its member (in pieces) between bodies put from memory, and removes the temp file", async () => {
    const out = join(tmp.dir, "out");
    const temp = join(out, ".vocut-tmp");
    mkdirSync(temp, { recursive: true });
    const s = new TarStore(out, { part: "job", maxBytes: 2 ** 30, now: NOW, tempDir: temp });
    expect(s.tempDir).toBe(temp);
    s.recover(new Map());
    // 8 MiB + 1 byte: two pieces of the copy, and a member that needs padding.
    const big = Buffer.alloc(8 * 2 ** 20 + 1);
    for (let i = 0; i < big.length; i += 4093) big[i] = (i / 4093) & 0xff;
    const dl = join(temp, "7-0123456789abcdef.dl");
    writeFileSync(dl, big);
    const small = Buffer.alloc(2880, 9);
    const [a, b, c] = await Promise.all([
      s.put(join(out, "x/a.fits"), small),
      s.putFile(join(out, "x/big.fits"), dl, { bytes: big.length, sha256: sha(big) }),
      s.put(join(out, "x/c.fits"), small),
    ]);
    await s.drain();
    s.close();
    expect(existsSync(dl)).toBe(false);
    expect(b?.sha256).toBe(sha(big));
    const tarFile = join(out, TAR_DIR, "job-000000.tar");
    const tar = readFileSync(tarFile);
    for (const [st, body] of [
      [a, small],
      [b, big],
      [c, small],
    ] as const) {
      const off = st?.tar?.offset as number;
      expect(tar.subarray(off, off + body.length).equals(body)).toBe(true);
    }
    const x = join(tmp.dir, "x");
    mkdirSync(x);
    gnuTar(x, "-xf", tarFile);
    expect(readFileSync(join(x, "x/big.fits")).equals(big)).toBe(true);
    expect(listFiles(x)).toEqual(["x/a.fits", "x/big.fits", "x/c.fits"]);
  });

  it("starts a new tar file at the member limit and at the byte limit, never splitting a member", async () => {
    const out = join(tmp.dir, "out");
    const s = new TarStore(out, { part: "shard-1-of-2", maxBytes: 10 * 512 + 1024, maxMembers: 3, now: NOW });
    s.recover(new Map());
    // 1 header block + 2 data blocks each: 3 per tar file by bytes (9 of 10 blocks), capped at 3 members.
    const stored = await Promise.all(
      Array.from({ length: 7 }, (_, i) => s.put(join(out, "g", `t${i}.fits`), Buffer.alloc(1000, i))),
    );
    await s.drain();
    s.close();
    expect(stored.map((x) => x.tar?.shard)).toEqual([
      ...Array(3).fill("shard-1-of-2-000000.tar"),
      ...Array(3).fill("shard-1-of-2-000001.tar"),
      "shard-1-of-2-000002.tar",
    ]);
    for (const name of readdirSync(join(out, TAR_DIR))) {
      expect(statSync(join(out, TAR_DIR, name)).size).toBeLessThanOrEqual(10 * 512 + 1024);
      gnuTar(tmp.dir, "-tf", join(out, TAR_DIR, name));
      // Each one whole: its members, then the end-of-archive blocks, and nothing after.
      const { end, length } = parseTar(join(out, TAR_DIR, name));
      expect(length).toBe(end + 1024);
    }
  });

  it("recover() cuts a tar file back to its last committed member, removes one with none, and appends after it", async () => {
    const out = join(tmp.dir, "out");
    const s = new TarStore(out, { part: "job", maxBytes: 2 ** 30, now: NOW });
    s.recover(new Map());
    const first = await Promise.all(
      [0, 1, 2].map((i) => s.put(join(out, "g", `t${i}.fits`), Buffer.alloc(3000, i))),
    );
    await s.drain();
    // Two more members written and synced, but the ledger never heard of them (a kill before its commit),
    // then half a member (a kill inside the write), then a tar file with nothing committed at all.
    await Promise.all([3, 4].map((i) => s.put(join(out, "g", `t${i}.fits`), Buffer.alloc(3000, i))));
    await s.drain();
    s.close();
    const tarFile = join(out, TAR_DIR, "job-000000.tar");
    appendFileSync(tarFile, Buffer.alloc(700, 9));
    writeFileSync(join(out, TAR_DIR, "job-000001.tar"), Buffer.alloc(1536, 1));
    // Another part's tar file is not this store's to touch.
    writeFileSync(join(out, TAR_DIR, "shard-0-of-2-000000.tar"), "other");

    const again = new TarStore(out, { part: "job", maxBytes: 2 ** 30, now: NOW });
    const committed = committedOf(first);
    expect(again.recover(committed)).toEqual({ truncated: 1, removed: 1 });
    const end = committed.get("job-000000.tar")?.end as number;
    expect(statSync(tarFile).size).toBe(end + 1024);
    expect(existsSync(join(out, TAR_DIR, "job-000001.tar"))).toBe(false);
    expect(readFileSync(join(out, TAR_DIR, "shard-0-of-2-000000.tar"), "utf8")).toBe("other");
    expect(gnuTar(tmp.dir, "-tf", tarFile).trim().split("\n")).toEqual([
      "g/t0.fits",
      "g/t1.fits",
      "g/t2.fits",
    ]);

    const more = await again.put(join(out, "g", "t3.fits"), Buffer.alloc(3000, 3));
    await again.drain();
    again.close();
    expect(more.tar).toEqual({ shard: "job-000000.tar", offset: end + 512 });
    expect(gnuTar(tmp.dir, "-tf", tarFile).trim().split("\n")).toEqual([
      "g/t0.fits",
      "g/t1.fits",
      "g/t2.fits",
      "g/t3.fits",
    ]);
  });

  it("a failed write rejects its group and every later put (the next run cuts the file back)", async () => {
    const out = join(tmp.dir, "out");
    // The tar folder is a file: creating the first tar file fails.
    mkdirSync(out, { recursive: true });
    const s = new TarStore(out, { part: "job", maxBytes: 2 ** 30, now: NOW });
    s.recover(new Map());
    const dir = join(out, TAR_DIR);
    spawnSync("rm", ["-r", dir]);
    writeFileSync(dir, "not a folder");
    await expect(s.put(join(out, "g", "a.fits"), Buffer.alloc(10))).rejects.toThrow(/ENOTDIR/);
    await expect(s.put(join(out, "g", "b.fits"), Buffer.alloc(10))).rejects.toThrow(/ENOTDIR/);
  });

  it("refuses a part name that could leave the tar folder", () => {
    expect(() => new TarStore(tmp.dir, { part: "../x", maxBytes: 1, now: NOW })).toThrow(TypeError);
  });
});
