import type { KindName } from '../api/index.js';
import { accessTokenKind } from './accesstoken/kind.js';
import { dataTokenKind } from './datatoken/kind.js';
import { deltaShareTokenKind } from './deltasharetoken/kind.js';
import type { AnyResource, TokenKind } from './shared/kind.js';

export interface KindSettings {
  /** DeltaShareToken: the smallest overlap accepted (config minOverlapSeconds) */
  minOverlapSeconds?: number;
}

/** Every kind's plan and status facts (the skeleton runs them all the same way), by kind name. */
export function tokenKinds(settings: KindSettings = {}): { [K in KindName]: TokenKind<AnyResource> } {
  return {
    DeltaShareToken: deltaShareTokenKind(settings) as unknown as TokenKind<AnyResource>,
    AccessToken: accessTokenKind() as unknown as TokenKind<AnyResource>,
    DataToken: dataTokenKind() as unknown as TokenKind<AnyResource>,
  };
}
