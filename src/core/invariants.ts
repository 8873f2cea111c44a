/**
 * Whether internal invariants are asserted as the code runs: in test and development builds
 * (`NODE_ENV` `test`, which Jest sets, or `development`), or when `ATHENA_RX_CHECK_INVARIANTS=1`.
 * Off in production and by default: a check costs a walk over the state it guards.
 */
export function invariantChecksOn(): boolean {
  const env = typeof process === 'undefined' ? undefined : process.env;
  return env?.ATHENA_RX_CHECK_INVARIANTS === '1' || env?.NODE_ENV === 'test' || env?.NODE_ENV === 'development';
}
