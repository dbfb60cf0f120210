/** The shape of an ajv standalone validator, as far as libcni/validate uses it. */
export interface ValidationError {
  readonly instancePath: string;
  readonly keyword: string;
  readonly params: Readonly<Record<string, unknown>>;
  readonly message?: string;
}

export interface ValidateFunction {
  (data: unknown): boolean;
  errors?: readonly ValidationError[] | null;
}

/** Canonical key names of a schema: `p` the properties of an object, `i` the items of an array. */
export interface KeyNode {
  readonly p?: Readonly<Record<string, KeyNode>>;
  readonly i?: KeyNode;
}
