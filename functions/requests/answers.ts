/** Header lookup as API Gateway delivers headers (the answers themselves: shared/adapters/http/proxy-answers.ts). */
/** Case-insensitive header lookup: API Gateway passes names as the client spelled them. */
export function getHeader(
  headers: Record<string, string | undefined> | null | undefined,
  name: string,
): string | undefined {
  if (!headers) return undefined;
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === wanted) return value;
  }
  return undefined;
}
