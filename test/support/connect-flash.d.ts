// connect-flash ships no types and @types/connect-flash is not a dependency: the one call the tests make.
declare module 'connect-flash' {
  export default function flash(options?: { unsafe?: boolean }): (req: object, res: object, next: () => void) => void;
}
