import { type HipsConfig, HipsSource } from "./hips/hips-source.js";
import { type Hips2fitsConfig, Hips2fitsSource } from "./hips2fits/hips2fits-source.js";
import { type ImagesConfig, ImagesSource } from "./images/images-source.js";
import { type ProductsConfig, ProductsSource } from "./products/products-source.js";
import { type SiaConfig, SiaSource } from "./sia/sia-source.js";
import type { Source } from "./source.js";
import { type TemplateConfig, TemplateSource } from "./template/template-source.js";

/** Every serialisable source configuration (what the ledger stores as the job's source). */
export type SourceConfig = CutoutSourceConfig | ProductsConfig;

/** Sources whose products are image stamps with a common geometry. */
export type CutoutSourceConfig = Hips2fitsConfig | TemplateConfig | HipsConfig | SiaConfig | ImagesConfig;

/** Build a source from its stored configuration. Throws a usage error on invalid settings. */
export function createSource(config: SourceConfig): Source {
  switch (config.kind) {
    case "hips2fits":
      return new Hips2fitsSource(config);
    case "template":
      return new TemplateSource(config);
    case "hips":
      return new HipsSource(config);
    case "sia":
      return new SiaSource(config);
    case "products":
      return new ProductsSource(config);
    case "images":
      return new ImagesSource(config);
  }
}
