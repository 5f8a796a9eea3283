import { createHash, randomBytes } from "node:crypto";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { encodeHeader } from "../../src/fits/header.js";
import { validateFits } from "../../src/fits/validate.js";
import { type CliResult, listFiles, runCli, startCli, tempDir, waitFor } from "../helpers/cli.js";
import { bufferProduct, type ProductServer, startProductServer } from "../helpers/product-server.js";

const FIX = join(import.meta.dirname, "../../fixtures/products");
const SPECTRUM = readFileSync(join(FIX, "spectrum.fits"));
const CUBE = readFileSync(join(FIX, "cube.fits"));

/** A 20 MiB FITS image (over the 16 MiB validation window): checked by its header and size. */
function bigFits(): Buffer {
  const n = 20 * 2 ** 20;
  const header = encodeHeader([
    { key: "SIMPLE", value: true },
    { key: "BITPIX", value: 8 },
    { key: "NAXIS", value: 1 },
    { key: "NAXIS1", value: n },
  ]);
  const data = Buffer.alloc(Math.ceil(n / 2880) * 2880);
  for (let i = 0; i < n; i += 4096) data[i] = i & 0xff;
  return Buffer.concat([header, data]);
}
const BIG = bigFits();

const sha = (b: Buffer): string => createHash("sha256").update(b).digest("hex");

let tmp: ReturnType<typeof tempDir>;
let server: ProductServer | undefined;
beforeEach(() => {
  tmp = tempDir();
});
afterEach(async () => {
  await server?.close();
  server = undefined;
  tmp.cleanup();
});

/** Every byte vocut wrote: each file under `dir`, then stdout and stderr. */
function everythingWritten(dir: string, r: CliResult): Buffer {
  const parts = listFiles(dir).map((f) => readFileSync(join(dir, f)));
  return Buffer.concat([...parts, Buffer.from(r.stdout), Buffer.from(r.stderr)]);
}

/** The products saved under `out` (FITS files anywhere in it), by SHA-256. */
function savedShas(out: string): string[] {
  return listFiles(out)
    .filter((f) => f.endsWith(".fits") && !f.startsWith("."))
    .map((f) => sha(readFileSync(join(out, f))))
    .sort();
}

function listFile(urls: readonly string[]): string {
  const p = join(tmp.dir, "list.csv");
  writeFileSync(
    p,
    `obs_publisher_did,access_url,access_format\n${urls.map((u, i) => `ivo://t/${i},${u},application/fits`).join("\n")}\n`,
  );
  return p;
}

const COMMON = ["--rate", "100", "--retries", "3", "--pause", "0"];

describe("products behind a bearer token, streamed with Range resume", () => {
  it("--token-env: every product cut at 40% is resumed with Range to the right sha256; at most 1.1x sent; the token is in no byte vocut wrote", async () => {
    const token = `tok-${randomBytes(12).toString("hex")}`;
    const products = new Map([
      ["spectrum.fits", bufferProduct(SPECTRUM)],
      ["cube.fits", bufferProduct(CUBE)],
      ["big.fits", bufferProduct(BIG)],
    ]);
    server = await startProductServer({ products, token });
    for (const n of products.keys()) server.cuts.set(`/files/${n}`, 0.4);
    const out = join(tmp.dir, "out");
    const r = await runCli(
      [
        "obscore",
        "--tap",
        `${server.base}/tap`,
        "--query",
        "SELECT * FROM ivoa.ObsCore",
        "--out",
        out,
        "--token-env",
        "VOCUT_TEST_TOKEN",
        "--json",
        ...COMMON,
      ],
      { VOCUT_TEST_TOKEN: token },
    );
    expect(r.stderr).not.toMatch(/internal error/);
    expect(r.code).toBe(0);
    expect(savedShas(out)).toEqual([sha(SPECTRUM), sha(CUBE), sha(BIG)].sort());
    for (const f of listFiles(out).filter((x) => x.endsWith(".fits"))) {
      expect(validateFits(readFileSync(join(out, f))).ok).toBe(true);
    }
    // Each product: one cut answer from 0, then one Range request from what had arrived (the bytes in
    // flight when the socket died may be lost: at most the 40% sent).
    for (const [n, p] of products) {
      const asked = server.requests.filter((q) => q.path === `/files/${n}`);
      expect(asked.map((q) => q.range ?? "whole")).toEqual(["whole", expect.stringMatching(/^bytes=\d+-$/)]);
      const from = Number(/\d+/.exec(asked[1]?.range ?? "")?.[0]);
      expect(from).toBeGreaterThan(0);
      expect(from).toBeLessThanOrEqual(Math.floor(p.size * 0.4));
      expect(asked.every((q) => q.authorization === `Bearer ${token}`)).toBe(true);
    }
    const total = SPECTRUM.length + CUBE.length + BIG.length;
    const sent = [...server.bytesSent.values()].reduce((a, b) => a + b, 0);
    expect(sent).toBeLessThanOrEqual(1.1 * total);
    expect(sent).toBeGreaterThanOrEqual(total);
    // The TAP query carried the token too.
    expect(server.requests.find((q) => q.path === "/tap/sync")?.authorization).toBe(`Bearer ${token}`);
    expect(everythingWritten(out, r).includes(token)).toBe(false);
    // Nothing left in the temp folder.
    expect(readdirSync(join(out, ".vocut-tmp"))).toEqual([]);
  });

  it("without the token: exit 4, 'authentication required'; a wrong token: 'authentication refused'; neither stored", async () => {
    const token = `tok-${randomBytes(12).toString("hex")}`;
    server = await startProductServer({ products: new Map([["cube.fits", bufferProduct(CUBE)]]), token });
    const list = listFile([`${server.base}/files/cube.fits`]);
    const out = join(tmp.dir, "out");
    const r = await runCli(["obscore", list, "--out", out, ...COMMON]);
    expect(r.code).toBe(4);
    const st = JSON.parse((await runCli(["status", out, "--json"])).stdout) as {
      failures: Array<{ code: string; message: string }>;
    };
    expect(st.failures[0]?.code).toBe("HTTP_401");
    expect(st.failures[0]?.message).toMatch(/authentication required: no credentials were sent/);

    const wrong = `bad-${randomBytes(12).toString("hex")}`;
    const out2 = join(tmp.dir, "out2");
    const r2 = await runCli(["obscore", list, "--out", out2, "--token-env", "T", ...COMMON], { T: wrong });
    expect(r2.code).toBe(4);
    const st2 = (await runCli(["status", out2, "--json"])).stdout;
    expect(st2).toMatch(/HTTP 403: authentication refused/);
    expect(everythingWritten(out2, r2).includes(wrong)).toBe(false);
    expect(st2.includes(wrong)).toBe(false);
    // A variable that is not set is a usage error naming the variable, not a run without credentials.
    const r3 = await runCli(["obscore", list, "--out", join(tmp.dir, "o3"), "--token-env", "NOPE_UNSET"]);
    expect(r3.code).toBe(2);
    expect(r3.stderr).toMatch(/NOPE_UNSET is not set/);
  });

  it("a redirect to another host drops the token, unless --auth-host names that host", async () => {
    const token = `tok-${randomBytes(12).toString("hex")}`;
    server = await startProductServer({ products: new Map([["cube.fits", bufferProduct(CUBE)]]), token });
    const list = listFile([`${server.base}/moved/cube.fits`]);
    const other = new URL(server.otherHost);
    const out = join(tmp.dir, "out");
    const r = await runCli(["obscore", list, "--out", out, "--token-env", "T", ...COMMON], { T: token });
    expect(r.code).toBe(4);
    const moved = server.requests.filter((q) => q.path === "/moved/cube.fits");
    const landed = server.requests.filter((q) => q.host === other.host);
    expect(moved.length).toBeGreaterThan(0);
    expect(moved.every((q) => q.authorization === `Bearer ${token}`)).toBe(true);
    expect(landed.length).toBeGreaterThan(0);
    expect(landed.every((q) => q.authorization === undefined)).toBe(true);
    expect((await runCli(["status", out, "--json"])).stdout).toMatch(/authentication required/);

    server.requests.length = 0;
    const out2 = join(tmp.dir, "out2");
    const r2 = await runCli(
      ["obscore", list, "--out", out2, "--token-env", "T", "--auth-host", other.host, ...COMMON],
      { T: token },
    );
    expect(r2.code).toBe(0);
    expect(savedShas(out2)).toEqual([sha(CUBE)]);
    expect(
      server.requests.filter((q) => q.host === other.host).every((q) => q.authorization !== undefined),
    ).toBe(true);
  });

  it("--netrc FILE: Basic credentials of the host's machine entry; the password is in no byte vocut wrote", async () => {
    const password = `pw-${randomBytes(12).toString("hex")}`;
    server = await startProductServer({
      products: new Map([["spectrum.fits", bufferProduct(SPECTRUM)]]),
      basic: { login: "astro user", password },
    });
    const netrc = join(tmp.dir, "netrc");
    writeFileSync(
      netrc,
      `# archive\nmachine example.org login x password y\n\nmachine 127.0.0.1\n  login "astro user"\n  password ${password}\n`,
    );
    const out = join(tmp.dir, "out");
    const r = await runCli([
      "obscore",
      listFile([`${server.base}/files/spectrum.fits`]),
      "--out",
      out,
      "--netrc",
      netrc,
      ...COMMON,
    ]);
    expect(r.code).toBe(0);
    expect(savedShas(out)).toEqual([sha(SPECTRUM)]);
    const written = everythingWritten(out, r);
    expect(written.includes(password)).toBe(false);
    expect(written.includes(Buffer.from(`astro user:${password}`).toString("base64"))).toBe(false);
    expect(statSync(netrc).isFile()).toBe(true);
  });
});

describe("credentials for --url templates (vocut run, fetch)", () => {
  it("run --url --token-env sends the token to the template's host; without it exit 4, then retry --permanent --token-env finishes", async () => {
    const token = `tok-${randomBytes(12).toString("hex")}`;
    server = await startProductServer({ products: new Map([["cube.fits", bufferProduct(CUBE)]]), token });
    const cat = join(tmp.dir, "cat.csv");
    writeFileSync(cat, "id,ra,dec\nm31,10.68,41.27\nm33,23.46,30.66\n");
    const out = join(tmp.dir, "out");
    const args = [
      "run",
      cat,
      "--out",
      out,
      "--url",
      `${server.base}/files/cube.fits?obj={id}`,
      "--bands",
      "x",
    ];
    const r = await runCli([...args, ...COMMON]);
    expect(r.code).toBe(4);
    expect((await runCli(["status", out, "--json"])).stdout).toMatch(/authentication required/);
    const r2 = await runCli(["retry", out, "--permanent", "--token-env", "T", ...COMMON], { T: token });
    expect(r2.code).toBe(0);
    expect(savedShas(out)).toEqual([sha(CUBE), sha(CUBE)]);
    expect(everythingWritten(out, r2).includes(token)).toBe(false);
  });
});

describe("resume rules of a cut product", () => {
  const products = () => new Map([["spectrum.fits", bufferProduct(SPECTRUM)]]);
  const run = async (out: string): Promise<CliResult> =>
    runCli(["obscore", listFile([`${server?.base}/files/spectrum.fits`]), "--out", out, ...COMMON]);
  const asked = (): string[] =>
    (server?.requests ?? []).filter((q) => q.path === "/files/spectrum.fits").map((q) => q.range ?? "whole");
  const sent = (): number => server?.bytesSent.get("/files/spectrum.fits") ?? 0;

  it("no Accept-Ranges: the next try starts over from byte 0 (no Range sent)", async () => {
    server = await startProductServer({ products: products(), ranges: false });
    server.cuts.set("/files/spectrum.fits", 0.4);
    const out = join(tmp.dir, "out");
    expect((await run(out)).code).toBe(0);
    expect(savedShas(out)).toEqual([sha(SPECTRUM)]);
    expect(asked()).toEqual(["whole", "whole"]);
    expect(sent()).toBe(SPECTRUM.length + Math.floor(SPECTRUM.length * 0.4));
  });

  it("a 206 whose Content-Range does not start where asked is refused; the next try starts over", async () => {
    server = await startProductServer({ products: products(), rangeFault: "mismatch" });
    server.cuts.set("/files/spectrum.fits", 0.4);
    const out = join(tmp.dir, "out");
    expect((await run(out)).code).toBe(0);
    expect(savedShas(out)).toEqual([sha(SPECTRUM)]);
    expect(asked()).toEqual(["whole", expect.stringMatching(/^bytes=[1-9]\d*-$/), "whole"]);
  });

  it("a 200 to a Range request (the product changed: If-Range failed) restarts from byte 0 with that answer", async () => {
    server = await startProductServer({ products: products(), rangeFault: "changed" });
    server.cuts.set("/files/spectrum.fits", 0.4);
    const out = join(tmp.dir, "out");
    expect((await run(out)).code).toBe(0);
    expect(savedShas(out)).toEqual([sha(SPECTRUM)]);
    expect(asked()).toEqual(["whole", expect.stringMatching(/^bytes=[1-9]\d*-$/)]);
    expect(sent()).toBe(SPECTRUM.length + Math.floor(SPECTRUM.length * 0.4));
  });

  it("a product over --max-bytes fails permanently (TOO_LARGE) and leaves no part behind", async () => {
    server = await startProductServer({ products: products() });
    const out = join(tmp.dir, "out");
    const list = listFile([`${server.base}/files/spectrum.fits`]);
    const r = await runCli(["obscore", list, "--out", out, "--max-bytes", "100000", ...COMMON]);
    expect(r.code).toBe(4);
    expect((await runCli(["status", out, "--json"])).stdout).toMatch(/TOO_LARGE/);
    expect(readdirSync(join(out, ".vocut-tmp"))).toEqual([]);
    expect(savedShas(out)).toEqual([]);
  });

  it("a vocut killed mid-product resumes from the partial file the next run finds", async () => {
    server = await startProductServer({ products: products() });
    server.holds.set("/files/spectrum.fits", 0.5);
    const out = join(tmp.dir, "out");
    const list = listFile([`${server.base}/files/spectrum.fits`]);
    const { child, done } = startCli(["obscore", list, "--out", out, ...COMMON]);
    const tmpDir = join(out, ".vocut-tmp");
    const part = (): number => {
      try {
        const f = readdirSync(tmpDir).find((n) => n.endsWith(".dl"));
        return f === undefined ? 0 : statSync(join(tmpDir, f)).size;
      } catch {
        return 0;
      }
    };
    const half = Math.floor(SPECTRUM.length * 0.5);
    await waitFor(() => part() >= half);
    child.kill("SIGKILL");
    await done;
    expect(part()).toBe(half);
    const r = await runCli(["obscore", list, "--out", out, ...COMMON]);
    expect(r.code).toBe(0);
    expect(savedShas(out)).toEqual([sha(SPECTRUM)]);
    expect(asked()).toEqual(["whole", `bytes=${half}-`]);
    expect(sent()).toBe(SPECTRUM.length);
    expect(readdirSync(tmpDir)).toEqual([]);
  });
});
