import { describe, expect, it } from 'vitest';
import { extractApiKey } from '../../../../functions/authorizer/credentials.js';

const KEY = 'kg_test_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
const OTHER = 'kg_test_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB';

describe('extractApiKey', () => {
  it.each([
    ['Authorization: Bearer', { Authorization: `Bearer ${KEY}` }],
    ['a lower-case scheme and header name', { authorization: `bearer ${KEY}` }],
    ['an upper-case header name', { AUTHORIZATION: `BEARER ${KEY}` }],
    ['X-API-Key', { 'X-API-Key': KEY }],
    ['x-api-key as HTTP/2 clients spell it', { 'x-api-key': KEY }],
    ['both headers with the same key', { Authorization: `Bearer ${KEY}`, 'X-API-Key': KEY }],
    ['extra spaces around the Bearer value', { Authorization: `  Bearer   ${KEY}  ` }],
    ['a tab after Bearer', { Authorization: `Bearer\t${KEY}` }],
    ['spaces around the X-API-Key value', { 'X-API-Key': `  ${KEY} ` }],
  ])('reads the key from %s', (_case, headers) => {
    expect(extractApiKey(headers)).toEqual({ ok: true, key: KEY });
  });

  it.each([
    ['headers: null (the console Test button)', null, 'missing'],
    ['no headers at all', undefined, 'missing'],
    ['neither header', { Accept: 'application/json' }, 'missing'],
    ['two different keys', { Authorization: `Bearer ${KEY}`, 'X-API-Key': OTHER }, 'conflicting'],
    ['another scheme', { Authorization: 'Basic dXNlcjpwYXNz' }, 'malformed'],
    ['a bare key without scheme', { Authorization: KEY }, 'malformed'],
    ['Bearer without a value', { Authorization: 'Bearer' }, 'malformed'],
    ['Bearer with two values', { Authorization: `Bearer ${KEY} ${KEY}` }, 'malformed'],
    ['an empty X-API-Key', { 'X-API-Key': '' }, 'malformed'],
    ['an X-API-Key of spaces', { 'X-API-Key': '   ' }, 'malformed'],
    ['an empty Authorization', { Authorization: '' }, 'malformed'],
  ] as const)('refuses %s as %s', (_case, headers, reason) => {
    expect(extractApiKey(headers)).toEqual({ ok: false, reason });
  });

  it('passes a garbage Bearer value on, for the checksum to refuse without a database call', () => {
    expect(extractApiKey({ Authorization: 'Bearer garbage' })).toEqual({ ok: true, key: 'garbage' });
  });

  it('reads multi-value headers and refuses two different values of one header', () => {
    expect(extractApiKey({}, { 'X-API-Key': [KEY] })).toEqual({ ok: true, key: KEY });
    expect(extractApiKey({ 'X-API-Key': KEY }, { 'x-api-key': [KEY] })).toEqual({ ok: true, key: KEY });
    expect(extractApiKey(null, { 'X-API-Key': [KEY, OTHER] })).toEqual({ ok: false, reason: 'conflicting' });
  });

  it('ignores header values that are not strings', () => {
    const headers = { Authorization: undefined, 'X-API-Key': KEY } as Record<string, string | undefined>;

    expect(extractApiKey(headers)).toEqual({ ok: true, key: KEY });
  });
});
