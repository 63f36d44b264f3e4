/** @module drover's version. */
/** drover's version, shown by --version and in JSON events. */
export const DROVER_VERSION = "0.1.0";
