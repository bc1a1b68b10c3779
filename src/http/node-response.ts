interface ReplyLike {
  statusCode: number;
  code(status: number): unknown;
  header(name: string, value: unknown): unknown;
  getHeader(name: string): unknown;
  send(payload?: unknown): unknown;
}

/** The part of Node's response API that Passport writes with (its redirect, and its default failure). */
export interface NodeStyleResponse {
  statusCode: number;
  setHeader(name: string, value: unknown): unknown;
  getHeader(name: string): unknown;
  end(body?: unknown): unknown;
}

function isReply(res: unknown): res is ReplyLike {
  const r = res as Partial<Record<keyof ReplyLike, unknown>> | null;
  return !!r && typeof r === 'object' && typeof r.code === 'function' && typeof r.header === 'function' && typeof r.send === 'function';
}

/**
 * The response as Passport can write it. Express's response is Node's own, extended: returned as it
 * is. Fastify's reply has no setHeader/end, and writing to its raw response would skip Fastify's
 * onSend hook, where the session is stored: so Passport gets those calls made through the reply, and a
 * redirect (an OAuth 2.0 strategy sending the user to the provider) leaves with the session stored
 * and its cookie set.
 */
export function nodeStyleResponse(res: unknown): unknown {
  if (!res || typeof res !== 'object' || typeof (res as { setHeader?: unknown }).setHeader === 'function' || !isReply(res)) return res;
  const reply = res;
  const view: NodeStyleResponse = {
    get statusCode() {
      return reply.statusCode;
    },
    set statusCode(status: number) {
      reply.code(status);
    },
    setHeader: (name, value) => reply.header(name, value),
    getHeader: (name) => reply.getHeader(name),
    end: (body) => reply.send(body ?? ''),
  };
  return view;
}
