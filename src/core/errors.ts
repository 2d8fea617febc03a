/**
 * Errors a user can cause or meet. Each carries the HTTP status, the stable `error` code of the JSON
 * body and the WebSocket close code it maps to, so every layer answers the same way.
 */

/** WebSocket close codes Keel uses (RFC 6455 §7.4 and the IANA registry). */
export const CloseCode = {
  normal: 1000,
  goingAway: 1001,
  protocolError: 1002,
  unsupportedData: 1003,
  policyViolation: 1008,
  messageTooBig: 1009,
  internalError: 1011,
  tryAgainLater: 1013,
} as const;

export class KeelError extends Error {
  readonly status: number;
  readonly code: string;
  readonly closeCode: number;
  readonly details: Record<string, unknown> | undefined;

  constructor(status: number, code: string, message: string, opts: { closeCode?: number; details?: Record<string, unknown> } = {}) {
    super(message);
    this.name = 'KeelError';
    this.status = status;
    this.code = code;
    this.closeCode = opts.closeCode ?? (status >= 500 ? CloseCode.internalError : CloseCode.policyViolation);
    this.details = opts.details;
  }

  toJSON(): Record<string, unknown> {
    return { error: this.code, message: this.message, ...this.details };
  }
}

/** A connection cap is reached. HTTP 503, WebSocket 1013 ("try again later"). */
export class TooManyConnectionsError extends KeelError {
  readonly kind: string;
  readonly limit: number;
  constructor(kind: string, limit: number, option?: string) {
    super(
      503,
      'too_many_connections',
      `Too many connections: ${kind} is at its limit of ${limit}${option ? ` (option ${option})` : ''}. Close another one or try again later.`,
      { closeCode: CloseCode.tryAgainLater, details: { kind, limit } },
    );
    this.kind = kind;
    this.limit = limit;
  }
}

/** Memory is past the critical threshold: new connections are shed until it recovers. */
export class OverloadedError extends KeelError {
  constructor(rssMb: number, criticalMb: number) {
    super(
      503,
      'overloaded',
      `Keel is shedding load: memory (${Math.round(rssMb)} MB RSS) is past the critical threshold of ${criticalMb} MB. New connections are refused until it is back under the warning line; try again shortly.`,
      { closeCode: CloseCode.tryAgainLater },
    );
  }
}
