/** Public entry point of the HEALPix (NESTED) module: see ./healpix.ts. */
export * from "./healpix.js";
