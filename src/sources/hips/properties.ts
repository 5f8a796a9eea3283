import { inputError } from "../../errors.js";

/** What vocut needs from a HiPS `properties` file (IVOA HiPS 1.0, section 4.4). */
export interface HipsProperties {
  /** Deepest tile order (`hips_order`). */
  readonly order: number;
  /** Shallowest tile order (`hips_order_min`, default 0). */
  readonly orderMin: number;
  /** Tile width in pixels (`hips_tile_width`, default 512); a power of two. */
  readonly tileWidth: number;
  /** Coordinate frame of the HEALPix grid (`hips_frame`, default equatorial). */
  readonly frame: "equatorial" | "galactic";
  /** Tile formats on offer (`hips_tile_format`), lower case, e.g. ["fits", "png"]. */
  readonly formats: readonly string[];
  /** The tile format vocut reads: FITS when offered (science data), else PNG, else JPEG. */
  readonly tileFormat: TileFormat;
  /** Values per pixel of an 8-bit survey: 3 for colour (`dataproduct_subtype = color`), else 1. */
  readonly channels: 1 | 3;
  /** `hips_pixel_cut` (the linear cut an 8-bit survey was made with), when given as two numbers. */
  readonly pixelCut?: readonly [number, number];
  /** `hips_pixel_bitpix` when given. */
  readonly bitpix?: number;
  /** `creator_did` or `publisher_did` when given. */
  readonly did?: string;
  /** Every key as read. */
  readonly raw: Readonly<Record<string, string>>;
}

/** A tile format vocut reads. */
export type TileFormat = "fits" | "png" | "jpeg";

/** The file extension of tiles of each format (HiPS 1.0 section 4.2.3). */
export const TILE_EXT: Readonly<Record<TileFormat, string>> = { fits: "fits", png: "png", jpeg: "jpg" };

/**
 * Parse a HiPS `properties` file: `key = value` lines, `#` comments. Throws an input error (exit 3) when
 * the file lacks what a cutout needs (hips_order, a FITS, PNG or JPEG tile format) or has impossible values.
 */
export function parseHipsProperties(text: string, where: string): HipsProperties {
  const raw: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const t = line.trim();
    if (t === "" || t.startsWith("#")) continue;
    const eq = t.indexOf("=");
    if (eq <= 0) continue;
    raw[t.slice(0, eq).trim()] = t.slice(eq + 1).trim();
  }
  const int = (key: string, fallback?: number): number => {
    const v = raw[key];
    if (v === undefined) {
      if (fallback !== undefined) return fallback;
      throw inputError("HIPS_PROPERTIES", `${where}: properties has no ${key}`);
    }
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0)
      throw inputError("HIPS_PROPERTIES", `${where}: ${key} = ${JSON.stringify(v)} is not a whole number`);
    return n;
  };
  const order = int("hips_order");
  const orderMin = int("hips_order_min", 0);
  const tileWidth = int("hips_tile_width", 512);
  if (order > 29 || orderMin > order)
    throw inputError(
      "HIPS_PROPERTIES",
      `${where}: hips_order ${order} / hips_order_min ${orderMin} out of range`,
    );
  if (tileWidth < 1 || (tileWidth & (tileWidth - 1)) !== 0 || tileWidth > 4096) {
    throw inputError("HIPS_PROPERTIES", `${where}: hips_tile_width ${tileWidth} is not a power of two`);
  }
  if (order + Math.log2(tileWidth) > 29)
    throw inputError("HIPS_PROPERTIES", `${where}: hips_order + log2(tile width) exceeds HEALPix order 29`);
  const frameText = (raw.hips_frame ?? raw.coordsys ?? "equatorial").toLowerCase();
  const frame =
    frameText.startsWith("gal") || frameText === "g"
      ? "galactic"
      : frameText.startsWith("equ") || frameText === "c" || frameText === "icrs"
        ? "equatorial"
        : undefined;
  if (frame === undefined)
    throw inputError(
      "HIPS_PROPERTIES",
      `${where}: hips_frame ${JSON.stringify(frameText)} is not supported (equatorial or galactic)`,
    );
  const formats = (raw.hips_tile_format ?? "fits")
    .toLowerCase()
    .split(/\s+/)
    .filter((f) => f !== "");
  const tileFormat = (["fits", "png", "jpeg"] as const).find(
    (f) => formats.includes(f) || (f === "jpeg" && formats.includes("jpg")),
  );
  if (tileFormat === undefined) {
    throw inputError(
      "HIPS_TILE_FORMAT",
      `${where}: tiles are ${formats.join(", ") || "(none)"}; vocut reads fits, png or jpeg tiles`,
    );
  }
  const subtype = (raw.dataproduct_subtype ?? "").toLowerCase();
  const channels = tileFormat !== "fits" && /\bcolou?r\b/.test(subtype) ? 3 : 1;
  const cut = (raw.hips_pixel_cut ?? "").split(/\s+/).map(Number);
  const pixelCut =
    cut.length >= 2 &&
    Number.isFinite(cut[0]) &&
    Number.isFinite(cut[1]) &&
    (cut[1] as number) > (cut[0] as number)
      ? ([cut[0], cut[1]] as [number, number])
      : undefined;
  const bitpix = raw.hips_pixel_bitpix === undefined ? undefined : Number(raw.hips_pixel_bitpix);
  const did = raw.creator_did ?? raw.publisher_did;
  return {
    order,
    orderMin,
    tileWidth,
    frame,
    formats,
    tileFormat,
    channels,
    raw,
    ...(pixelCut !== undefined ? { pixelCut } : {}),
    ...(bitpix !== undefined && Number.isFinite(bitpix) ? { bitpix } : {}),
    ...(did !== undefined ? { did } : {}),
  };
}

/** Relative path of a tile (HiPS 1.0 section 4.2): `Norder{K}/Dir{D}/Npix{N}.{ext}`, D = floor(N/10000)*10000. */
export function tilePath(order: number, npix: number, ext = "fits"): string {
  const dir = Math.floor(npix / 10_000) * 10_000;
  return `Norder${order}/Dir${dir}/Npix${npix}.${ext}`;
}

/**
 * The tile order for a requested pixel scale: the shallowest order whose cells (at tile order + log2
 * width) are at least as fine as the output pixel, clamped to [hips_order_min, hips_order].
 */
export function chooseTileOrder(p: HipsProperties, pixscaleArcsec: number): number {
  const s = Math.log2(p.tileWidth);
  const pixRad = (pixscaleArcsec / 3600) * (Math.PI / 180);
  for (let k = p.orderMin; k <= p.order; k++) {
    const cellRad = Math.sqrt((4 * Math.PI) / (12 * 4 ** (k + s)));
    if (cellRad <= pixRad) return k;
  }
  return p.order;
}
