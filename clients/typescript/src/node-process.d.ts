// The two members of Node's `process` the smoke program uses, declared here so that the
// project type-checks with `typescript` alone (no @types/node in tools/node).
declare const process: {
  readonly env: Readonly<Record<string, string | undefined>>;
  exitCode: number | undefined;
};
