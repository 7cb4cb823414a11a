// Explicit bounds on everything the cluster store accepts (TIGER_STYLE: put a limit on everything).
// A command beyond a bound is refused with an error naming the bound, never truncated silently,
// except free-text messages from agents, which are cut to `messageChars` inside apply so that a
// long error text can never make a terminal report be refused.

import { constraintLimits } from '../scheduler/constraints.ts';

export const stateLimits = {
  idChars: 64,
  /** Secret and volume names. Service, ingress and certificate names are DNS labels (63). */
  objectNameChars: 64,
  dnsLabelChars: 63,
  hostnameChars: 253,
  addressChars: 256,
  replicas: 10_000,
  imageChars: 512,
  commandArgs: 256,
  argChars: 4096,
  envEntries: 256,
  envValueChars: 32_768,
  labels: 64,
  /** Label keys and constraint texts are bounded by the constraint language they are named in. */
  labelKeyChars: constraintLimits.labelKeyChars,
  labelValueChars: 256,
  constraints: 32,
  constraintChars: constraintLimits.textChars,
  preferences: 8,
  ports: 64,
  mounts: 32,
  secretReferences: 64,
  pathChars: 1024,
  /** Delays, intervals, timeouts, monitor periods, start periods, restart windows. */
  durationMs: 7 * 24 * 3_600_000,
  stopGracePeriodMs: 3_600_000,
  healthRetries: 100,
  restartAttempts: 10_000,
  /** Items in one batch command (task-create, task-assign, ...). */
  batchItems: 10_000,
  messageChars: 1024,
  ciphertextChars: 1_000_000,
  digestChars: 256,
  ingressRules: 256,
  certificateDomains: 100,
} as const;
