// Placeholder until this role is built (see the open issues); it refuses loudly rather than pretend.
export async function main(_argv: readonly string[]): Promise<number> {
  process.stderr.write("weft: this role is not built yet\n");
  return 1;
}
