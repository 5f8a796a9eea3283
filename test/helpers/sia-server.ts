import { once } from "node:events";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Card } from "../../src/fits/header.js";
import { encodeImage } from "../../src/fits/image.js";
import { type TanWcs, tanPixelToWorld, tanWorldToPixel } from "../../src/wcs/tan-header.js";

/**
 * A small survey archive on 127.0.0.1 speaking Simple Image Access as the standards write it:
 * SIA 1.0 (`/sia1?POS=ra,dec&SIZE=deg&FORMAT=image/fits`, columns by UCD, TABLEDATA or BINARY),
 * SIA 2.0 (`/sia2?POS=CIRCLE ra dec r&BAND=lo hi...`, ObsCore columns, access_format DataLink),
 * DataLink 1.1 (`/dl?ID=` redirects 302 to `/links?ID=`: #this, #cutout with a SODA service descriptor),
 * SODA 1.0 (`/soda?ID=&CIRCLE=ra dec r`: the pixel box covering the circle; 204 when it misses the
 * image; UsageError text for a bad CIRCLE), and the images themselves under /img/.
 */

/** One survey image: a TAN grid, a band, and pixel values that say where they are. */
export interface SurveyImage {
  readonly name: string;
  readonly band: "J" | "H";
  readonly wcs: TanWcs;
  readonly width: number;
  readonly height: number;
}

/** The value of pixel (x, y) (0-based) of an image: unique per image, band and position. */
export function pixelValue(img: SurveyImage, x: number, y: number): number {
  // Below 2^24, so that float32 holds every value exactly.
  let h = 0;
  for (const ch of img.name) h = (h * 31 + ch.charCodeAt(0)) % 61;
  return h * 2e5 + y * 1000 + x;
}

function imageCards(img: SurveyImage, x0 = 0, y0 = 0): Card[] {
  const w = img.wcs;
  return [
    { key: "CTYPE1", value: "RA---TAN" },
    { key: "CTYPE2", value: "DEC--TAN" },
    { key: "CRVAL1", value: w.crval1 },
    { key: "CRVAL2", value: w.crval2 },
    { key: "CRPIX1", value: w.crpix1 - x0 },
    { key: "CRPIX2", value: w.crpix2 - y0 },
    { key: "CD1_1", value: w.cd[0] },
    { key: "CD1_2", value: w.cd[1] },
    { key: "CD2_1", value: w.cd[2] },
    { key: "CD2_2", value: w.cd[3] },
    { key: "RADESYS", value: "ICRS" },
    { key: "FILTER", value: img.band },
  ];
}

/** The whole image as FITS (float32). */
export function imageFits(img: SurveyImage): Buffer {
  const data = new Float32Array(img.width * img.height);
  for (let y = 0; y < img.height; y++)
    for (let x = 0; x < img.width; x++) data[y * img.width + x] = pixelValue(img, x, y);
  return encodeImage({ bitpix: -32, shape: [img.width, img.height], data, cards: imageCards(img) });
}

/** 0-based pixel of a position on an image. */
export function pixelOf(img: SurveyImage, ra: number, dec: number): { x: number; y: number } {
  const p = tanWorldToPixel(img.wcs, ra, dec);
  return { x: p.x - 1, y: p.y - 1 };
}

function contains(img: SurveyImage, ra: number, dec: number, marginPx = 0): boolean {
  const { x, y } = pixelOf(img, ra, dec);
  return (
    x > -0.5 - marginPx &&
    y > -0.5 - marginPx &&
    x < img.width - 0.5 + marginPx &&
    y < img.height - 0.5 + marginPx
  );
}

function corners(img: SurveyImage): Array<[number, number]> {
  return [
    [0.5, 0.5],
    [img.width + 0.5, 0.5],
    [img.width + 0.5, img.height + 0.5],
    [0.5, img.height + 0.5],
  ].map(([x, y]) => {
    const w = tanPixelToWorld(img.wcs, x as number, y as number);
    return [w.raDeg, w.decDeg];
  });
}

function xml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

interface Field {
  readonly name: string;
  readonly datatype: "char" | "double" | "int";
  readonly arraysize?: string;
  readonly ucd?: string;
  readonly id?: string;
}

function fieldXml(f: Field): string {
  return `<FIELD name="${f.name}"${f.id ? ` ID="${f.id}"` : ""} datatype="${f.datatype}"${f.arraysize ? ` arraysize="${f.arraysize}"` : ""}${f.ucd ? ` ucd="${f.ucd}"` : ""}/>`;
}

/** A VOTable with one table in TABLEDATA or BINARY (base64, big-endian, char * with a length prefix). */
function votable(
  fields: Field[],
  rows: Array<Array<string | number>>,
  opts: { binary?: boolean; infos?: string; after?: string } = {},
): string {
  let data: string;
  if (opts.binary === true) {
    const parts: Buffer[] = [];
    for (const r of rows) {
      fields.forEach((f, i) => {
        const v = r[i] as string | number;
        if (f.datatype === "char") {
          const b = Buffer.from(String(v), "utf8");
          const len = Buffer.alloc(4);
          len.writeUInt32BE(b.length);
          parts.push(len, b);
        } else if (f.datatype === "double") {
          const arr = String(v)
            .split(" ")
            .filter((x) => x !== "")
            .map(Number);
          const b = Buffer.alloc(8 * arr.length + (f.arraysize === "*" ? 4 : 0));
          let o = 0;
          if (f.arraysize === "*") o = b.writeUInt32BE(arr.length, 0);
          for (const x of arr) o = b.writeDoubleBE(x, o);
          parts.push(b);
        } else {
          const arr = String(v)
            .split(" ")
            .filter((x) => x !== "")
            .map(Number);
          const b = Buffer.alloc(4 * arr.length + (f.arraysize === "*" ? 4 : 0));
          let o = 0;
          if (f.arraysize === "*") o = b.writeUInt32BE(arr.length, 0);
          for (const x of arr) o = b.writeInt32BE(x, o);
          parts.push(b);
        }
      });
    }
    data = `<BINARY><STREAM encoding="base64">${Buffer.concat(parts).toString("base64")}</STREAM></BINARY>`;
  } else {
    data = `<TABLEDATA>${rows.map((r) => `<TR>${r.map((c) => `<TD>${xml(String(c))}</TD>`).join("")}</TR>`).join("\n")}</TABLEDATA>`;
  }
  return `<?xml version="1.0" encoding="UTF-8"?>
<VOTABLE version="1.3" xmlns="http://www.ivoa.net/xml/VOTable/v1.3">
<RESOURCE type="results">
${opts.infos ?? '<INFO name="QUERY_STATUS" value="OK"/>'}
<TABLE>
${fields.map(fieldXml).join("\n")}
<DATA>${data}</DATA>
</TABLE>
${opts.after ?? ""}
</RESOURCE>
</VOTABLE>
`;
}

const SIA1_FIELDS: Field[] = [
  { name: "title", datatype: "char", arraysize: "*", ucd: "VOX:Image_Title" },
  { name: "ra", datatype: "double", ucd: "POS_EQ_RA_MAIN" },
  { name: "dec", datatype: "double", ucd: "POS_EQ_DEC_MAIN" },
  { name: "naxes", datatype: "int", ucd: "VOX:Image_Naxes" },
  { name: "naxis", datatype: "int", arraysize: "*", ucd: "VOX:Image_Naxis" },
  { name: "scale", datatype: "double", arraysize: "*", ucd: "VOX:Image_Scale" },
  { name: "format", datatype: "char", arraysize: "*", ucd: "VOX:Image_Format" },
  { name: "bandpass", datatype: "char", arraysize: "*", ucd: "VOX:BandPass_ID" },
  { name: "crpix", datatype: "double", arraysize: "*", ucd: "VOX:WCS_CoordRefPixel" },
  { name: "crval", datatype: "double", arraysize: "*", ucd: "VOX:WCS_CoordRefValue" },
  { name: "cd", datatype: "double", arraysize: "*", ucd: "VOX:WCS_CDMatrix" },
  { name: "url", datatype: "char", arraysize: "*", ucd: "VOX:Image_AccessReference" },
];

const SIA2_FIELDS: Field[] = [
  { name: "obs_publisher_did", datatype: "char", arraysize: "*" },
  { name: "dataproduct_type", datatype: "char", arraysize: "*" },
  { name: "access_url", datatype: "char", arraysize: "*" },
  { name: "access_format", datatype: "char", arraysize: "*" },
  { name: "s_ra", datatype: "double" },
  { name: "s_dec", datatype: "double" },
  { name: "s_fov", datatype: "double" },
  { name: "s_region", datatype: "char", arraysize: "*" },
  { name: "em_min", datatype: "double" },
  { name: "em_max", datatype: "double" },
];

const WINDOWS = { J: [1.17e-6, 1.33e-6], H: [1.49e-6, 1.78e-6] } as const;

export interface SiaServer {
  readonly base: string;
  /** Requests per path+query. */
  readonly hits: Map<string, number>;
  /** Requests per path only. */
  readonly paths: Map<string, number>;
  /**
   * Faults still to play per path (first one next): "503", "error" (200 + QUERY_STATUS=ERROR), "bomb"
   * (DataLink entity expansion), "cut" (a VOTable cut short), "huge" (300 kB), "ok" (no fault).
   */
  readonly faults: Map<string, string[]>;
  close(): Promise<void>;
}

/** Start the archive over these images. `binary`: SIA 1 answers in BINARY serialisation. */
export async function startSia(
  images: readonly SurveyImage[],
  opts: { binary?: boolean } = {},
): Promise<SiaServer> {
  const hits = new Map<string, number>();
  const paths = new Map<string, number>();
  const faults = new Map<string, string[]>();
  let base = "";
  const bump = (m: Map<string, number>, k: string): void => {
    m.set(k, (m.get(k) ?? 0) + 1);
  };
  const send = (res: ServerResponse, status: number, type: string, body: string | Buffer): void => {
    res.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(body) });
    res.end(body);
  };
  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const u = new URL(req.url ?? "/", base);
    bump(hits, u.pathname + u.search);
    bump(paths, u.pathname);
    const fault = faults.get(u.pathname)?.shift();
    if (fault === "503") {
      send(res, 503, "text/plain", "ServiceUnavailable: try again later");
      return;
    }
    if (fault === "usage") {
      send(res, 422, "text/plain", "UsageError: CIRCLE radius larger than the service allows");
      return;
    }
    if (fault === "cut") {
      // A complete HTTP answer whose VOTable stops in the middle of the table.
      const doc = votable(SIA1_FIELDS, [
        ["x", 1, 2, 2, "1 1", "1 1", "image/fits", "J", "1 1", "1 1", "1 0 0 1", "http://x/"],
      ]);
      send(res, 200, "application/x-votable+xml", doc.slice(0, doc.indexOf("<TD>image/fits")));
      return;
    }
    if (fault === "huge") {
      send(
        res,
        200,
        "application/x-votable+xml",
        `<?xml version="1.0"?><VOTABLE><!-- ${"x".repeat(300_000)} -->`,
      );
      return;
    }
    if (fault === "error") {
      send(
        res,
        200,
        "application/x-votable+xml",
        votable(SIA1_FIELDS, [], {
          infos: '<INFO name="QUERY_STATUS" value="ERROR">Invalid POS: out of range</INFO>',
        }),
      );
      return;
    }
    const q = u.searchParams;
    if (u.pathname === "/sia1") {
      const [ra, dec] = (q.get("POS") ?? "").split(",").map(Number) as [number, number];
      if (q.get("FORMAT") !== "image/fits" || !Number.isFinite(ra) || !Number.isFinite(dec)) {
        send(
          res,
          200,
          "application/x-votable+xml",
          votable(SIA1_FIELDS, [], {
            infos: '<INFO name="QUERY_STATUS" value="ERROR">bad POS or FORMAT</INFO>',
          }),
        );
        return;
      }
      const size = Number(q.get("SIZE"));
      const rows = images
        .filter((img) => contains(img, ra, dec, (size * 3600) / 2))
        .map((img) => {
          const c = tanPixelToWorld(img.wcs, (img.width + 1) / 2, (img.height + 1) / 2);
          return [
            img.name,
            c.raDeg,
            c.decDeg,
            2,
            `${img.width} ${img.height}`,
            `${-img.wcs.cd[0]} ${img.wcs.cd[3]}`,
            "image/fits",
            img.band,
            `${img.wcs.crpix1} ${img.wcs.crpix2}`,
            `${img.wcs.crval1} ${img.wcs.crval2}`,
            img.wcs.cd.join(" "),
            `${base}/img/${img.name}.fits`,
          ];
        });
      send(
        res,
        200,
        "application/x-votable+xml",
        votable(SIA1_FIELDS, rows, { binary: opts.binary === true }),
      );
      return;
    }
    if (u.pathname === "/sia2") {
      const m = /^CIRCLE ([-0-9.e]+) ([-0-9.e]+) ([0-9.e]+)$/.exec(q.get("POS") ?? "");
      if (m === null) {
        send(
          res,
          400,
          "application/x-votable+xml",
          votable(SIA2_FIELDS, [], {
            infos: '<INFO name="QUERY_STATUS" value="ERROR">UsageError: bad POS</INFO>',
          }),
        );
        return;
      }
      const [ra, dec, r] = [Number(m[1]), Number(m[2]), Number(m[3])];
      const windows = q.getAll("BAND").map((b) => b.split(" ").map(Number) as [number, number]);
      const rows = images
        .filter((img) => contains(img, ra, dec, r * 3600))
        .filter((img) => {
          const [lo, hi] = WINDOWS[img.band];
          return windows.length === 0 || windows.some(([a, b]) => Math.min(b, hi) > Math.max(a, lo));
        })
        .map((img) => {
          const c = tanPixelToWorld(img.wcs, (img.width + 1) / 2, (img.height + 1) / 2);
          const poly = corners(img)
            .flat()
            .map((v) => v.toFixed(7))
            .join(" ");
          return [
            `ivo://test/survey?${img.name}`,
            "image",
            `${base}/dl?ID=${img.name}`,
            "application/x-votable+xml;content=datalink",
            c.raDeg,
            c.decDeg,
            (img.width * Math.abs(img.wcs.cd[0]) * Math.SQRT2) as number,
            `POLYGON ICRS ${poly}`,
            WINDOWS[img.band][0],
            WINDOWS[img.band][1],
          ];
        });
      send(res, 200, "application/x-votable+xml", votable(SIA2_FIELDS, rows));
      return;
    }
    if (u.pathname === "/dl") {
      res.writeHead(302, { location: `/links?ID=${encodeURIComponent(q.get("ID") ?? "")}` }).end();
      return;
    }
    if (u.pathname === "/links") {
      const id = q.get("ID") ?? "";
      if (fault === "bomb") {
        send(
          res,
          200,
          "application/x-votable+xml;content=datalink",
          `<?xml version="1.0"?><!DOCTYPE v [<!ENTITY a "aaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;">]><VOTABLE><RESOURCE><TABLE><FIELD name="access_url" datatype="char" arraysize="*"/><FIELD name="semantics" datatype="char" arraysize="*"/><DATA><TABLEDATA><TR><TD>&b;</TD><TD>#this</TD></TR></TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>`,
        );
        return;
      }
      const fields: Field[] = [
        { name: "ID", id: "primaryID", datatype: "char", arraysize: "*", ucd: "meta.id;meta.main" },
        { name: "access_url", datatype: "char", arraysize: "*", ucd: "meta.ref.url" },
        { name: "service_def", datatype: "char", arraysize: "*", ucd: "meta.ref" },
        { name: "error_message", datatype: "char", arraysize: "*", ucd: "meta.code.error" },
        { name: "semantics", datatype: "char", arraysize: "*", ucd: "meta.code" },
        { name: "content_type", datatype: "char", arraysize: "*", ucd: "meta.code.mime" },
      ];
      const descriptor = `<RESOURCE type="meta" utype="adhoc:service" ID="soda-sync">
<PARAM name="standardID" datatype="char" arraysize="*" value="ivo://ivoa.net/std/SODA#sync-1.0"/>
<PARAM name="accessURL" datatype="char" arraysize="*" value="${base}/soda"/>
<GROUP name="inputParams">
<PARAM name="ID" datatype="char" arraysize="*" value="" ref="primaryID"/>
<PARAM name="CIRCLE" datatype="double" arraysize="3" xtype="circle" unit="deg" value=""/>
</GROUP>
</RESOURCE>`;
      const body = votable(
        fields,
        [
          [id, `${base}/img/${id}.fits`, "", "", "#this", "application/fits"],
          [id, "", "soda-sync", "", "#cutout", "application/fits"],
          [id, `${base}/img/${id}.png`, "", "", "#preview", "image/png"],
        ],
        { infos: "", after: "" },
      ).replace("</VOTABLE>", `${descriptor}\n</VOTABLE>`);
      send(res, 200, "application/x-votable+xml;content=datalink", body);
      return;
    }
    if (u.pathname === "/soda") {
      const img = images.find((i) => i.name === q.get("ID"));
      const c = /^([-0-9.e]+) ([-0-9.e]+) ([0-9.e]+)$/.exec(q.get("CIRCLE") ?? "");
      if (img === undefined || c === null) {
        send(
          res,
          422,
          "text/plain",
          `UsageError: ${img === undefined ? "unknown ID" : "CIRCLE must be ra dec radius"}`,
        );
        return;
      }
      const [ra, dec, r] = [Number(c[1]), Number(c[2]), Number(c[3])];
      const { x, y } = pixelOf(img, ra, dec);
      const rp = (r * 3600) / (Math.abs(img.wcs.cd[3]) * 3600);
      const x0 = Math.max(0, Math.floor(x - rp));
      const y0 = Math.max(0, Math.floor(y - rp));
      const x1 = Math.min(img.width - 1, Math.ceil(x + rp));
      const y1 = Math.min(img.height - 1, Math.ceil(y + rp));
      if (x1 < x0 || y1 < y0) {
        res.writeHead(204).end();
        return;
      }
      const w = x1 - x0 + 1;
      const h = y1 - y0 + 1;
      const data = new Float32Array(w * h);
      for (let j = 0; j < h; j++)
        for (let i = 0; i < w; i++) data[j * w + i] = pixelValue(img, x0 + i, y0 + j);
      send(
        res,
        200,
        "application/fits",
        encodeImage({ bitpix: -32, shape: [w, h], data, cards: imageCards(img, x0, y0) }),
      );
      return;
    }
    const file = /^\/img\/(.+)\.fits$/.exec(u.pathname);
    const img = images.find((i) => i.name === file?.[1]);
    if (img === undefined) {
      send(res, 404, "text/plain", "not found");
      return;
    }
    send(res, 200, "application/fits", imageFits(img));
  };
  const server: Server = createServer(handle);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    base,
    hits,
    paths,
    faults,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
