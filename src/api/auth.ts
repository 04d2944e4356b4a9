// Bearer-token check for every request (CONTRACT: with --api-token set, anything without
// `Authorization: Bearer <token>` gets 401). Comparison is constant-time.
import { createHash, timingSafeEqual } from 'node:crypto'
import { ApiError } from './errors.js'

/**
 * Returns a checker for the Authorization header. Both sides are hashed first so the comparison
 * takes the same time whatever the length of the presented token.
 */
export function bearerChecker(token: string): (authorization: string | undefined) => void {
  const expected = digest(token)
  return (authorization) => {
    const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization ?? '')
    const presented = match?.[1]
    if (presented === undefined || !timingSafeEqual(digest(presented), expected)) {
      throw new ApiError(401, 'unauthorized', presented === undefined
        ? 'missing bearer token (Authorization: Bearer <token>)'
        : 'invalid bearer token')
    }
  }
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest()
}
