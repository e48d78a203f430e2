import { describe, expect, it } from 'vitest';
import { generateKey, hashKey } from '../../../../shared/domain/keys/format.js';
import {
  answerItem,
  MAX_REPORT_DETAILS,
  MAX_REPORTED_TOKENS,
  parseLeakReport,
} from '../../../../shared/domain/leaks/report.js';

const item = (token: string) => ({
  token,
  type: 'keygate_api_key',
  url: 'https://github.com/octo/repo/blob/abc/config.env',
  source: 'content',
});

describe('parseLeakReport', () => {
  it('accepts GitHub documented body', () => {
    const parsed = parseLeakReport([item('kg_test_x'), item('anything')]);
    expect(parsed).toEqual({ ok: true, report: [item('kg_test_x'), item('anything')] });
  });

  it('accepts an empty array (nothing reported, nothing to refuse)', () => {
    expect(parseLeakReport([])).toEqual({ ok: true, report: [] });
  });

  it('accepts 1,000 items and refuses 1,001', () => {
    const thousand = Array.from({ length: MAX_REPORTED_TOKENS }, (_, index) => item(`t${index}`));
    expect(parseLeakReport(thousand).ok).toBe(true);
    const parsed = parseLeakReport([...thousand, item('one more')]);
    expect(parsed.ok).toBe(false);
  });

  it('accepts and drops fields GitHub may add to an item', () => {
    const parsed = parseLeakReport([{ ...item('t'), repository: 'octo/repo', created_at: 'now' }]);
    expect(parsed).toEqual({ ok: true, report: [item('t')] });
  });

  it('refuses what is not an array of {token, type, url, source} strings, naming the path', () => {
    const notArrays = [null, 'tokens', 42, { token: 't', type: 'x', url: 'u', source: 's' }, {}];
    for (const body of notArrays) expect(parseLeakReport(body).ok).toBe(false);

    const { token: _token, ...withoutToken } = item('t');
    const missing = parseLeakReport([item('a'), withoutToken]);
    expect(missing).toEqual({ ok: false, details: [{ path: '1.token', message: expect.any(String) }] });

    for (const field of ['token', 'type', 'url', 'source'] as const) {
      for (const value of [1, null, true, ['x'], { x: 1 }]) {
        const parsed = parseLeakReport([{ ...item('t'), [field]: value }]);
        expect(parsed.ok ? [] : parsed.details.map((detail) => detail.path)).toEqual([`0.${field}`]);
      }
    }
    expect(parseLeakReport([null]).ok).toBe(false);
    expect(parseLeakReport(['kg_test_x']).ok).toBe(false);
  });

  it('keeps the details short and never echoes a token', () => {
    const { key } = generateKey('test');
    const bad = Array.from({ length: 500 }, () => ({ token: key, type: 1, url: 2, source: 3 }));
    const parsed = parseLeakReport(bad);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) {
      expect(parsed.details.length).toBe(MAX_REPORT_DETAILS);
      expect(JSON.stringify(parsed.details).includes(key)).toBe(false);
    }
  });
});

describe('answerItem', () => {
  it('answers the hex SHA-256 of the token, the reported type and the label', () => {
    const { key } = generateKey('test');
    const answer = answerItem(item(key), 'true_positive');
    expect(answer).toEqual({
      token_hash: hashKey(key),
      token_type: 'keygate_api_key',
      label: 'true_positive',
    });
    expect(answer.token_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(answerItem(item('whatever'), 'false_positive').label).toBe('false_positive');
  });
});
