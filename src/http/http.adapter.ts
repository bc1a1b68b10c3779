/**
 * The few HTTP operations the module needs, on the objects that NestJS middleware sees. Everything
 * platform-specific lives behind this interface; the rest of the module never asks which platform
 * it runs on.
 */
export interface SessionHttpAdapter {
  header(req: unknown, name: string): string | string[] | undefined;
  method(req: unknown): string;
  /** Adds one Set-Cookie line, keeping any the application set. */
  addSetCookie(res: unknown, line: string): void;
  setHeader(res: unknown, name: string, value: string): void;
  /** Adds a field to Vary without repeating it. */
  addVary(res: unknown, field: string): void;
}
