/** Errors meant for people: one line, naming the file and the problem. The CLI prints `message` and exits 1. */

/** A user-facing error (bad input file, bad argument). `file` is named in the message when given. */
export class UserError extends Error {
  constructor(message: string, readonly file?: string) {
    super(file ? `${file}: ${message}` : message);
    this.name = "UserError";
  }
}
