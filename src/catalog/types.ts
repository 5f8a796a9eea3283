/** One catalog object, positions in ICRS decimal degrees. */
export interface Target {
  /** Identifier as given in the catalog (or the 1-based row number as a string). Not yet made path-safe. */
  readonly id: string;
  /** Right ascension in degrees, in [0, 360). */
  readonly raDeg: number;
  /** Declination in degrees, in [-90, 90]. */
  readonly decDeg: number;
  /** 1-based data row number (catalog order; row 1 is the first data row). */
  readonly row: number;
  /**
   * Archive product jobs (`vocut obscore`): what to download. raDeg/decDeg are NaN when the product has
   * no position.
   */
  readonly product?: ProductRef;
  /**
   * Archive products: where the file name a person looks for comes from, best first (obs_id, the DID, the
   * URL's path, the URL). Planning takes the first that gives a name (plan/safe-name.ts readableName())
   * and adds a hash suffix only when two products would share it. Cutouts are named by safeId(id).
   */
  readonly nameFrom?: readonly string[];
}

/** One archive product: its access URL and declared MIME type (ObsCore access_url, access_format). */
export interface ProductRef {
  readonly url: string;
  readonly format?: string;
  /** What it will cost (`--dry-run`), when the list has the ObsCore columns: obs_collection, ... */
  readonly collection?: string;
  /** ... dataproduct_type, ... */
  readonly productType?: string;
  /** ... and access_estsize, kB. */
  readonly estKb?: number;
}

/** A catalog row that was skipped, with where it was and why. */
export interface BadRow {
  /** 1-based data row number. */
  readonly row: number;
  /** 1-based physical line number in a text file (CSV/TSV/VOTable TABLEDATA when known). */
  readonly line?: number;
  /**
   * Stable reason code: "parse", "nan", "ra_range", "dec_range", "duplicate_id", "missing", "ragged",
   * "encoding" (a used CSV cell is not valid UTF-8).
   */
  readonly reason: string;
  /** Readable message naming the offending value. */
  readonly message: string;
}

/** One catalog row as read: an accepted target or a skipped bad row. */
export type CatalogEvent =
  | { readonly kind: "target"; readonly target: Target }
  | { readonly kind: "bad"; readonly bad: BadRow };

/** How to find columns; all optional: detected from the header when absent. */
export interface CatalogOptions {
  readonly raCol?: string;
  readonly decCol?: string;
  readonly idCol?: string;
  /** Force a format instead of detecting it from the extension and first bytes. */
  readonly format?: "csv" | "tsv" | "ecsv" | "votable" | "fits";
}
