/** A bad flag, argument or input file: exit code 2 with one readable line. */
export class UsageError extends Error {
  override readonly name = "UsageError";
  readonly exitCode = 2;
}

/** A command whose issue has not landed yet: exit code 1, never a pretend result. */
export class NotImplementedError extends Error {
  override readonly name = "NotImplementedError";
  readonly exitCode = 1;
  constructor(command: string) {
    super(`mnistctl ${command}: not implemented yet`);
  }
}
