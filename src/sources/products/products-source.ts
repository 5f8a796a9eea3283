import type { Target } from "../../catalog/types.js";
import { DEFAULTS } from "../../fetch/defaults.js";
import { checkProduct, isDatalink, productExt } from "../../output/product-formats.js";
import { DatalinkError, parseDatalink, thisLink } from "../../votable/datalink.js";
import { interpretFailure } from "../interpret.js";
import type { CutoutRequest, HttpResponse, Outcome, RequestSource } from "../source.js";

/** The single "band" of a product job (status and the ledger count tasks per band). */
export const PRODUCT_BAND = "product";

/** Default layout of a product job: one file per product, named by its (made-safe) publisher DID. */
export const PRODUCT_LAYOUT = "{id}{ext}";

/** Where a product job's list came from: a TAP query (stored in the job, so a resume does not re-query). */
export interface TapQuery {
  readonly tap: string;
  readonly adql: string;
  readonly maxrec?: number;
}

/** Serialisable configuration of a product job. */
export interface ProductsConfig {
  readonly kind: "products";
  readonly query?: TapQuery;
}

/**
 * Archive products (ObsCore rows, or any list of access URLs): one GET per product, by its access_url.
 * FITS products must validate as FITS (through gzip), others are kept byte for byte but never an HTML
 * error page. An access_url that is a DataLink document is read and its `#this` link followed.
 */
export class ProductsSource implements RequestSource {
  readonly kind = "products";
  readonly bands: readonly string[] = [PRODUCT_BAND];
  readonly defaultMaxBytes = DEFAULTS.productMaxBytes;
  private readonly config: ProductsConfig;

  constructor(config: ProductsConfig) {
    this.config = config;
  }

  describe(): Readonly<Record<string, unknown>> {
    return this.config as unknown as Record<string, unknown>;
  }

  request(target: Target): CutoutRequest {
    return { url: productOf(target).url };
  }

  extension(target: Target): string | undefined {
    const p = productOf(target);
    return productExt(p.format, p.url);
  }

  adoptable(body: Buffer, ext: string): boolean {
    return checkProduct(body, ext, undefined) === undefined;
  }

  async interpret(res: HttpResponse, target: Target): Promise<Outcome> {
    const p = productOf(target);
    if (res.status === 204) {
      return { kind: "permanent", code: "NO_CONTENT", message: "the server answered 204: no product" };
    }
    if (res.status < 200 || res.status >= 300) return interpretFailure(res);
    const contentType = header(res, "content-type");
    if (isDatalink(p.format)) return followDatalink(res, contentType);
    const ext = productExt(p.format, p.url) ?? ".dat";
    const wrong = checkProduct(res.body, ext, contentType);
    if (wrong !== undefined) {
      // An HTML page or a broken FITS with 200 is the server's trouble: another try, never a saved file.
      return { kind: "retryable", code: "NOT_PRODUCT", message: `200 but ${wrong}`, status: res.status };
    }
    return { kind: "done", body: res.body };
  }
}

function productOf(target: Target): NonNullable<Target["product"]> {
  if (target.product === undefined) throw new Error(`internal: target ${target.id} has no product URL`);
  return target.product;
}

function header(res: HttpResponse, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * Read a DataLink links table (DataLink 1.1: columns ID, access_url, service_def, error_message,
 * semantics, content_type) and follow its `#this` link: the product itself. A link with an error message,
 * or no `#this` at all, is a permanent failure that says what the document offered instead.
 */
async function followDatalink(res: HttpResponse, contentType: string | undefined): Promise<Outcome> {
  let doc: Awaited<ReturnType<typeof parseDatalink>>;
  try {
    doc = await parseDatalink(res.body);
  } catch (e) {
    if (!(e instanceof DatalinkError)) throw e;
    const looksHtml = contentType?.toLowerCase().startsWith("text/html") === true;
    // An HTML page with 200 is the server's trouble (retry); a broken or hostile document is not.
    return e.code === "NOT_DATALINK" || looksHtml
      ? { kind: "retryable", code: "NOT_DATALINK", message: `200 but not a DataLink document: ${e.message}` }
      : { kind: "permanent", code: e.code, message: e.message };
  }
  const link = thisLink(doc);
  if ("error" in link) return { kind: "permanent", code: link.code, message: link.error };
  let url: string;
  try {
    url = new URL(link.url, res.url).href;
  } catch {
    return {
      kind: "permanent",
      code: "BAD_DATALINK",
      message: `DataLink #this access_url is not a URL: ${link.url}`,
    };
  }
  if (!/^https?:$/.test(new URL(url).protocol)) {
    // A remote document must not make vocut read local files (file://) into the output folder.
    return {
      kind: "permanent",
      code: "BAD_DATALINK",
      message: `DataLink #this points to ${url}: only http(s) is followed`,
    };
  }
  return {
    kind: "follow",
    product: link.contentType === "" ? { url } : { url, format: link.contentType },
    message: `DataLink #this -> ${url}`,
  };
}
