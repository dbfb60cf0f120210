/** Weft's own version, printed by `weft --version` and in each plugin's about string. */
export const VERSION = "0.1.0";
