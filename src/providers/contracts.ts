/**
 * What a kind's plan hands its provider beyond "issue" or "revoke", when a decision is the
 * kind's (src/controllers/<kind>/plan.ts) rather than the vendor's. A second vendor for a kind
 * implements the same contract. AccessToken providers need nothing: their calls take none.
 */

/** DeltaShareToken: how to get the next token. */
export interface ShareTokenIssue {
  /** a new token is wanted: rotate, unless an unconsumed activation link is already listed */
  rotate: boolean;
  /** break the two-token ceiling first by revoking every token of the account (downtime) */
  revokeAllFirst: boolean;
  /** how long the replaced token keeps working */
  overlapSeconds: number;
  /** token ids whose credential this resource already downloaded: never downloaded again */
  downloaded: readonly string[];
}

/** DataToken: what to exchange. */
export type DataTokenIssue =
  /** exchange data for a new data token, tagged so a crash orphan can be found again */
  | { mode: 'tokenize'; data: Buffer; context: string; tag: string }
  /** download the data behind an existing token */
  | { mode: 'resolve'; token: string };

/** DataToken: what to delete at the provider. */
export interface DataTokenRevoke {
  /** data tokens this resource created and no longer needs */
  tokens: readonly string[];
  /** also every token carrying this tag (crash orphans), except `keep` */
  sweep?: { tag: string; keep: readonly string[] };
}
