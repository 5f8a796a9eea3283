import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { idHashSuffix, readableName } from "../../src/plan/safe-name.js";
import { archiveRig } from "../helpers/archive-rig.js";
import { listFiles, runCli } from "../helpers/cli.js";

const FIX = join(import.meta.dirname, "../../fixtures/fits/astropy");
const TABLE = readFileSync(join(FIX, "table.fits"));
const IMAGE16 = readFileSync(join(FIX, "bitpix16.fits"));

/** Each test's temp folder and archive server (closed after it). */
const rig = archiveRig();

describe("readableName: the name a person looks for", () => {
  it("takes the last segment of DaCHS and ESO ids and of URLs, drops the known extension, keeps it safe", () => {
    // The DaCHS product of issue 13, once saved as ivo___hocut.heldout___hocut_data_F2_SYN_R.fits~9747cff8ba.fits
    expect(readableName("ivo://hocut.heldout/~?hocut/data/F2_SYN_R.fits")).toBe("F2_SYN_R");
    expect(readableName("hocut/data/F2_SYN_R.fits")).toBe("F2_SYN_R");
    expect(readableName("ivo://eso.org/ID?ADP.2014-09-16T11:03:30.583")).toBe("ADP.2014-09-16T11_03_30.583");
    expect(readableName("http://h/getproduct?ID=spec1.fits.gz")).toBe("spec1");
    expect(readableName("http://h/files/log.TXT")).toBe("log");
    // Hostile or empty ids: nothing escapes, nothing hidden, nothing empty.
    expect(readableName("../../etc/passwd")).toBe("passwd");
    expect(readableName("a/..")).toBe("a");
    expect(readableName(".hidden")).toBe("_hidden");
    expect(readableName("x/\u0000\n;rm -rf")).toBe("___rm_-rf");
    expect(readableName("///")).toBeUndefined();
    expect(readableName("~?")).toBeUndefined();
    expect(Buffer.byteLength(readableName("é".repeat(400)) ?? "")).toBeLessThanOrEqual(109);
  });
});

describe("vocut obscore names files by obs_id, with a hash suffix only on a collision", () => {
  it("HOCUT-like ids: F2_SYN_R.fits and F2_SYN_G.fits; a second F2_SYN_R gets its hash; a rerun asks nothing again", async () => {
    const did = (p: string): string => `ivo://hocut.heldout/~?hocut/${p}`;
    const files = new Map([
      ["/files/r.fits", TABLE],
      ["/files/g.fits", IMAGE16],
      ["/files/r2.fits", IMAGE16],
      ["/files/s.fits", TABLE],
    ]);
    const archive = await rig.start({
      files,
      products: [
        {
          did: did("data/F2_SYN_R.fits"),
          obsId: "hocut/data/F2_SYN_R.fits",
          access: "/files/r.fits",
          format: "image/fits",
        },
        {
          did: did("data/F2_SYN_G.fits"),
          obsId: "hocut/data/F2_SYN_G.fits",
          access: "/files/g.fits",
          format: "image/fits",
        },
        {
          did: did("other/F2_SYN_R.fits"),
          obsId: "hocut/other/F2_SYN_R.fits",
          access: "/files/r2.fits",
          format: "image/fits",
        },
        // No obs_id: the DID's last segment.
        { did: did("data/F2_SYN_S.fits"), access: "/files/s.fits", format: "image/fits" },
      ],
    });
    const out = join(rig.dir, "out");
    const args = ["obscore", "--tap", archive.tap, "--query", "SELECT * FROM ivoa.obscore", "--out", out];
    const r = await runCli([...args, "--rate", "200", "--quiet"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const products = listFiles(out)
      .filter((f) => f.endsWith(".fits"))
      .sort();
    const second = `F2_SYN_R${idHashSuffix(did("other/F2_SYN_R.fits"))}.fits`;
    expect(products).toEqual(["F2_SYN_G.fits", "F2_SYN_R.fits", "F2_SYN_S.fits", second].sort());
    expect(readFileSync(join(out, "F2_SYN_R.fits")).equals(TABLE)).toBe(true);
    expect(readFileSync(join(out, second)).equals(IMAGE16)).toBe(true);
    const served = new Map(archive.served);
    expect((await runCli([...args, "--rate", "200", "--quiet"])).code).toBe(0);
    expect(archive.served).toEqual(served);
    expect(
      listFiles(out)
        .filter((f) => f.endsWith(".fits"))
        .sort(),
    ).toEqual(products);
  }, 60_000);

  it("a CSV list with --id-col: a product whose name equals another's id-as-name gets the hash, not the same file", async () => {
    const archive = await rig.start({
      products: [],
      files: new Map([
        ["/files/a.fits", TABLE],
        ["/files/b.fits", IMAGE16],
      ]),
    });
    const list = join(rig.dir, "l.csv");
    const { writeFileSync } = await import("node:fs");
    writeFileSync(
      list,
      `id,url\nspec,${archive.base}/files/a.fits\nnight1/spec,${archive.base}/files/b.fits\n`,
    );
    const out = join(rig.dir, "out");
    const r = await runCli(["obscore", list, "--id-col", "id", "--out", out, "--rate", "200", "--quiet"]);
    expect(r.code).toBe(0);
    expect(readFileSync(join(out, "spec.fits")).equals(TABLE)).toBe(true);
    expect(readFileSync(join(out, `spec${idHashSuffix("night1/spec")}.fits`)).equals(IMAGE16)).toBe(true);
  }, 60_000);
});
