import { z } from 'zod';

const Expiry = z.object({ exp: z.number().positive() });

/**
 * A JWT's `exp`, read without verifying the signature: the operator only schedules by it, for
 * a token whose server stated no lifetime. Undefined for a token that is no JWT.
 */
export function jwtExpiry(token: string): Date | undefined {
  const payload = token.split('.')[1];
  if (!payload) return undefined;
  try {
    const claims = Expiry.safeParse(JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')));
    return claims.success ? new Date(claims.data.exp * 1000) : undefined;
  } catch {
    return undefined;
  }
}
