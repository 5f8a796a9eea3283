/**
 * Survey presets: data that expand to a source + bands + stamp size + pixel scale (DESIGN.md: "Presets
 * ... are data"). `--preset NAME` on `run`/`plan` fills in what the user did not give; explicit flags win
 * (src/presets/expand.ts). Every preset names the page its URL or parameters come from in `docs`.
 *
 * Band labels: hips2fits presets list `label=ID` pairs, so files land in `u/`, `g/`, ... rather than under
 * the last element of the HiPS ID.
 */

/** How a preset fetches its stamps. `unavailable` presets name what vocut still lacks (exit 2 when used). */
export type PresetSource =
  | {
      readonly kind: "hips2fits";
      /** One HiPS per band: label and full HiPS ID, passed to hips2fits as `hips`. */
      readonly hips: ReadonlyArray<{ readonly label: string; readonly hips: string }>;
    }
  | {
      readonly kind: "template";
      /** A `--url` template (src/sources/template/template-source.ts placeholders). */
      readonly template: string;
      readonly bands: readonly string[];
    }
  | {
      readonly kind: "unavailable";
      readonly bands: readonly string[];
      /** Why it cannot run yet, shown as the usage error. */
      readonly reason: string;
    };

export interface Preset {
  readonly name: string;
  /** What it is, one line. */
  readonly title: string;
  readonly source: PresetSource;
  /** Default stamp size in pixels (square). */
  readonly sizePx: number;
  /** Default pixel scale, arcsec/pixel: the survey's native scale. */
  readonly pixscaleArcsec: number;
  /** The documentation the URL/parameters (and the pixel scale) come from. */
  readonly docs: string;
  /** Caveats: what could not be verified, coverage, limits. */
  readonly note?: string;
}

/** CDS documentation of hips2fits: endpoint and parameters (hips, width, height, fov, ra, dec, ...). */
export const HIPS2FITS_DOCS = "https://alasky.cds.unistra.fr/hips-image-services/hips2fits";

const hipsBands = (prefix: string, bands: readonly string[]) =>
  bands.map((b) => ({ label: b, hips: `${prefix}/${b}` }));

export const PRESETS: readonly Preset[] = [
  {
    name: "sdss",
    title: 'SDSS DR9 u,g,r,i,z (CDS HiPS CDS/P/SDSS9/*) through hips2fits, native 0.396"/px',
    source: { kind: "hips2fits", hips: hipsBands("CDS/P/SDSS9", ["u", "g", "r", "i", "z"]) },
    sizePx: 28,
    pixscaleArcsec: 0.396,
    docs: HIPS2FITS_DOCS,
    note: "HiPS catalogue: https://aladin.cds.unistra.fr/hips/list. SDSS footprint only: all-NaN stamps elsewhere are recorded as no coverage.",
  },
  {
    name: "panstarrs",
    title: 'Pan-STARRS1 DR1 g,r,i,z,y (CDS HiPS CDS/P/PanSTARRS/DR1/*) through hips2fits, 0.25"/px',
    source: { kind: "hips2fits", hips: hipsBands("CDS/P/PanSTARRS/DR1", ["g", "r", "i", "z", "y"]) },
    sizePx: 64,
    pixscaleArcsec: 0.25,
    docs: HIPS2FITS_DOCS,
    note: '0.25"/px is the CDS Pan-STARRS HiPS resolution (Boch & Fernique, ADASS XXVIII, ASP Conf. Ser. 523, 421: http://aspbooks.org/a/volumes/article_details/?paper_id=39276); dec > -30 only.',
  },
  {
    name: "legacy",
    title:
      'DESI Legacy Imaging Surveys DR10 g,r,z from the Legacy Survey viewer fits-cutout service, 0.262"/px',
    source: {
      kind: "template",
      template:
        "https://www.legacysurvey.org/viewer/fits-cutout?ra={ra}&dec={dec}&layer=ls-dr10&pixscale={pixscale}&size={size}&bands={band}",
      bands: ["g", "r", "z"],
    },
    sizePx: 64,
    pixscaleArcsec: 0.262,
    docs: "https://www.legacysurvey.org/viewer",
    note: "Parameters ra, dec (deg), layer, pixscale (arcsec/px), size (px, square: the larger side of --size), bands; DR10 also has i (--bands g,r,i,z). DR10 description: https://www.legacysurvey.org/dr10/description/",
  },
  {
    name: "first",
    title: 'VLA FIRST 1.4 GHz (CDS HiPS CDS/P/VLA/FIRST) through hips2fits, native 1.8"/px',
    source: { kind: "hips2fits", hips: [{ label: "first", hips: "CDS/P/VLA/FIRST" }] },
    sizePx: 64,
    pixscaleArcsec: 1.8,
    docs: "https://third.ucllnl.org/first/cutouthelp.html",
    note: '1.8"/px from the FIRST cutout help. The FIRST cutout server (https://third.ucllnl.org/cgi-bin/firstcutout) takes RA in hours and ImageSize in arcmin and returns unresampled pixels, which a URL template cannot express, hence hips2fits. The HiPS ID is unverified: it is not in a 2020 copy of the list of HiPS hips2fits serves (the enum of lloydevans/hips2fits-js, which has CDS/P/NVSS, SUMSS, VLSSr and WENSS but no FIRST), and the current list (https://aladin.cds.unistra.fr/hips/list) could not be read here; try one object first, and if hips2fits refuses the ID use --hips2fits with one from that list. The cutout server itself wants a POST form (RA, Equinox, ImageSize, ImageType; astroquery.image_cutouts.first), which vocut cannot send.',
  },
  {
    name: "2mass",
    title: '2MASS J,H,K (CDS HiPS CDS/P/2MASS/*) through hips2fits, native 1.0"/px',
    source: { kind: "hips2fits", hips: hipsBands("CDS/P/2MASS", ["J", "H", "K"]) },
    sizePx: 64,
    pixscaleArcsec: 1.0,
    docs: HIPS2FITS_DOCS,
    note: "All sky. HiPS catalogue: https://aladin.cds.unistra.fr/hips/list.",
  },
  {
    name: "ukidss",
    title: "UKIDSS LAS Y,J,H,K from the WFCAM Science Archive (give its SIA endpoint with --sia)",
    source: {
      kind: "unavailable",
      bands: ["Y", "J", "H", "K"],
      reason:
        "preset ukidss has no service URL: the WFCAM Science Archive's SIA endpoint could not be confirmed in its documentation (http://wsa.roe.ac.uk/dbaccess.html lists GetImage and VO access). Use --sia URL --sia-version 1 --bands Y,J,H,K --size 64 --pixscale 0.4 with the endpoint from the VO registry, or download the survey once and use --images DIR",
    },
    sizePx: 64,
    pixscaleArcsec: 0.4,
    docs: "http://wsa.roe.ac.uk/dbaccess.html",
    note: "WFAU-made HiPS named wfau.roe.ac.uk/P/UKIDSS/LAS/{Y,J1,H,K} appear in third-party hips2fits scripts but are not documented where we could check; until then use --hips2fits with an ID you have verified.",
  },
];

/** The preset called `name`, or undefined. */
export function findPreset(name: string): Preset | undefined {
  return PRESETS.find((p) => p.name === name);
}

/** Band labels of a preset, in order. */
export function presetBands(p: Preset): readonly string[] {
  return p.source.kind === "hips2fits" ? p.source.hips.map((h) => h.label) : p.source.bands;
}
