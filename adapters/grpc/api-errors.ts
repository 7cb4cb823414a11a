// Failures of the client API and their gRPC status codes. On the server, a failure is a value
// (ApiFailure) until the edge turns it into a status with trailers (api-service.ts names them); the
// store's stable error codes map one to one (invalid-argument, not-found, already-exists,
// failed-precondition), overload becomes RESOURCE_EXHAUSTED with a retry hint, and lost leadership
// becomes UNAVAILABLE with the outcome stated, since a write may or may not have been applied.
// On the client, every failure is an ApiError carrying the same facts.

import * as grpc from '@grpc/grpc-js';
import type { ProposeOutcome } from '../../core/manager/manager.ts';
import {
  METADATA_LEADER, METADATA_LEADER_ADDRESS, METADATA_OUTCOME, METADATA_RETRY_AFTER_MS, METADATA_SERVED_BY, metadataValue, statusName,
  type CallOutcome,
} from './api-service.ts';
import type { ManagerAddress } from './api-types.ts';

export interface ApiFailure {
  readonly code: grpc.status;
  readonly message: string;
  /** UNAVAILABLE only: whether the request may have been applied. */
  readonly outcome?: CallOutcome;
  readonly retryAfterMs?: number;
  readonly leader?: ManagerAddress | null;
}

export const invalidRequest = (message: string): ApiFailure => ({ code: grpc.status.INVALID_ARGUMENT, message });

/** Retry hint when the refusal did not carry one (Raft's own bound on uncommitted entries). */
export const defaultRetryAfterMs = 100;

const storeCodes: Readonly<Record<string, grpc.status>> = {
  'invalid-argument': grpc.status.INVALID_ARGUMENT,
  'not-found': grpc.status.NOT_FOUND,
  'already-exists': grpc.status.ALREADY_EXISTS,
  'failed-precondition': grpc.status.FAILED_PRECONDITION,
};

/**
 * The failure for a refused proposal, other than 'not-leader' (which the server forwards).
 * `self` is the manager that proposed; `leader` who it thinks leads now.
 */
export function proposalFailure(outcome: Extract<ProposeOutcome, { ok: false }>, self: string, leader: ManagerAddress | null): ApiFailure {
  const store = storeCodes[outcome.code];
  if (store !== undefined) return { code: store, message: outcome.error };
  switch (outcome.code) {
    case 'overloaded': {
      const retryAfterMs = outcome.retryAfterUs === undefined ? defaultRetryAfterMs : Math.max(1, Math.ceil(outcome.retryAfterUs / 1000));
      const message = /retry after/.test(outcome.error) ? outcome.error : `${outcome.error} (retry after ${retryAfterMs} ms)`;
      return { code: grpc.status.RESOURCE_EXHAUSTED, message, retryAfterMs };
    }
    case 'leadership-lost':
      return {
        code: grpc.status.UNAVAILABLE,
        outcome: 'unknown',
        leader,
        message: `outcome unknown; the request may have been applied; check before retrying (manager ${self} lost its leadership before the request committed: ${outcome.error})`,
      };
    case 'overwritten':
      return {
        code: grpc.status.UNAVAILABLE,
        outcome: 'not-applied',
        leader,
        message: `the request was not applied: a new leader replaced its log entry (${outcome.error}); retry`,
      };
    case 'not-ready':
    case 'transfer-in-progress':
    case 'conf-change-pending':
      return { code: grpc.status.UNAVAILABLE, outcome: 'not-applied', leader, message: `manager ${self} cannot take writes right now: ${outcome.error}; retry` };
    default:
      return { code: grpc.status.UNKNOWN, message: `manager ${self} refused the request with an unexpected code ${outcome.code}: ${outcome.error}` };
  }
}

/** The status (with trailers) a server sends for `failure`. */
export function toStatus(failure: ApiFailure, servedBy: string): Partial<grpc.StatusObject> {
  const metadata = new grpc.Metadata();
  metadata.set(METADATA_SERVED_BY, servedBy);
  if (failure.outcome !== undefined) metadata.set(METADATA_OUTCOME, failure.outcome);
  if (failure.retryAfterMs !== undefined) metadata.set(METADATA_RETRY_AFTER_MS, String(failure.retryAfterMs));
  if (failure.leader) {
    metadata.set(METADATA_LEADER, failure.leader.id);
    if (failure.leader.apiAddress !== null) metadata.set(METADATA_LEADER_ADDRESS, failure.leader.apiAddress);
  }
  return { code: failure.code, details: failure.message, metadata };
}

/** A failed call as the client sees it. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  /** e.g. 'NOT_FOUND'. */
  readonly codeName: string;

  constructor(
    readonly code: grpc.status,
    message: string,
    /** The manager whose server produced the status; null when the transport failed. */
    readonly servedBy: string | null,
    /** What a failed write did; null when not said (every status but UNAVAILABLE). */
    readonly outcome: CallOutcome | null,
    readonly retryAfterMs: number | null,
    readonly leader: ManagerAddress | null,
    /** The address the call went to. */
    readonly address: string,
  ) {
    super(message);
    this.codeName = statusName(code);
  }

  /** The facts of a gRPC failure of a call to `address`. */
  static fromStatus(error: Partial<grpc.StatusObject>, address: string): ApiError {
    const metadata = error.metadata ?? null;
    const outcome = metadataValue(metadata, METADATA_OUTCOME);
    const retry = Number(metadataValue(metadata, METADATA_RETRY_AFTER_MS));
    const leaderId = metadataValue(metadata, METADATA_LEADER);
    const leader = leaderId === null ? null : { id: leaderId as ManagerAddress['id'], apiAddress: metadataValue(metadata, METADATA_LEADER_ADDRESS) };
    return new ApiError(
      error.code ?? grpc.status.UNKNOWN,
      error.details ?? 'no details',
      metadataValue(metadata, METADATA_SERVED_BY),
      outcome === 'not-applied' || outcome === 'unknown' ? outcome : null,
      Number.isFinite(retry) && retry > 0 ? retry : null,
      leader,
      address,
    );
  }
}
