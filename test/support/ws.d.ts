// The few members of the `ws` client the tests use (the package ships no types, and @types/ws is
// not a dependency).
declare module 'ws' {
  import { EventEmitter } from 'node:events';
  export default class WebSocket extends EventEmitter {
    constructor(url: string, options?: { headers?: Record<string, string> });
    readonly readyState: number;
    send(data: string): void;
    close(): void;
  }
}
