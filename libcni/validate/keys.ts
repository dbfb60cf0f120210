/**
 * Reading a key of a decoded JSON object the way Go decodes it into a struct field: case-insensitive,
 * the last match in document order wins. No dependencies: the flannel exec's relay path uses it.
 */

/** Plain JSON object (not null, not an array). */
export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The key as Go compares field names: lower case, with the long s folded too. */
export function fold(k: string): string {
  // Go also folds the long s and the Kelvin sign (which toLowerCase already maps to "k").
  return k.toLowerCase().replaceAll("ſ", "s");
}

/**
 * The key of obj that Go would decode into a field named `name`. Go decodes every key that matches
 * the field (exactly or ignoring case) in document order, so the last one wins: with "ranges" and
 * "Ranges" both present, the later one is read. undefined when none.
 */
export function findKey(obj: Readonly<Record<string, unknown>>, name: string): string | undefined {
  const want = fold(name);
  let found: string | undefined;
  for (const k of Object.keys(obj)) if (fold(k) === want) found = k;
  return found;
}

/** Value of the field `name` looked up as Go does (see findKey). */
export function getField(obj: Readonly<Record<string, unknown>>, name: string): unknown {
  const k = findKey(obj, name);
  return k === undefined ? undefined : obj[k];
}
