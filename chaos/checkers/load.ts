// The load checker: what the managers answered to client requests sent beyond their admission
// limits (sim/orchestration/load.ts), held against the store once the cluster has converged.
// - Acknowledged requests were applied and never lost: the secret each one created exists.
// - Shed requests changed nothing (no secret) and said so clearly: code 'overloaded', a message that
//   names the overload and the wait, and a retry hint in the answer.
// - Requests refused for a certain reason (not the leader, invalid) changed nothing either.
// - Requests whose outcome is unknown (leadership lost, no answer) may or may not have applied.
// The input is plain data, so the check also serves records gathered from a real cluster.

export interface LoadRequestRecord {
  readonly name: string;
  readonly sentAtUs: number;
  readonly to: string;
  readonly outcome: 'pending' | 'ok' | 'shed' | 'refused' | 'unknown';
  readonly code: string;
  readonly error: string;
  readonly retryAfterUs: number;
}

/** Every way the answers disagree with the store; empty when they agree. At most `limit` problems. */
export function loadProblems(records: readonly LoadRequestRecord[], secretExists: (name: string) => boolean, limit = 20): string[] {
  const problems: string[] = [];
  const at = (r: LoadRequestRecord) => `request ${r.name} sent to ${r.to} at ${r.sentAtUs / 1e6} s`;
  for (const r of records) {
    if (problems.length >= limit) break;
    switch (r.outcome) {
      case 'ok':
        if (!secretExists(r.name)) problems.push(`${at(r)} was acknowledged but its secret is not in the store: an acknowledged write was lost`);
        break;
      case 'shed':
        if (secretExists(r.name)) problems.push(`${at(r)} was shed as overloaded but its secret is in the store: a shed request changed the cluster`);
        else if (!/overloaded/.test(r.error) || !/retry after/.test(r.error)) problems.push(`${at(r)} was shed with an unclear error: "${r.error}" (expected it to say overloaded and when to retry)`);
        else if (!(r.retryAfterUs > 0)) problems.push(`${at(r)} was shed without a retry hint (retryAfterUs ${r.retryAfterUs})`);
        break;
      case 'refused':
        if (secretExists(r.name)) problems.push(`${at(r)} was refused (${r.code}: ${r.error}) but its secret is in the store`);
        break;
      case 'unknown':
      case 'pending':
        break;
    }
  }
  return problems;
}
