// Unit tests of Accept / Accept-Encoding negotiation: q-values decide, the text format wins ties.

import { describe, expect, it } from 'vitest';
import { negotiateEncoding, negotiateFormat } from '../../src/http/negotiate.js';

describe('negotiateFormat', () => {
  it.each([
    [undefined, 'prometheus'],
    ['', 'prometheus'],
    ['*/*', 'prometheus'],
    ['text/plain', 'prometheus'],
    ['application/openmetrics-text', 'openmetrics'],
    // What Prometheus 2.x sends when it wants OpenMetrics.
    [
      'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1',
      'openmetrics',
    ],
    // The regression: q-values were ignored and this got OpenMetrics.
    ['application/openmetrics-text;q=0.1, text/plain;q=1', 'prometheus'],
    ['application/openmetrics-text;q=0, */*', 'prometheus'],
    ['text/plain;q=0, application/openmetrics-text;q=0.2', 'openmetrics'],
    ['text/plain;q=0.5, application/*;q=0.6', 'openmetrics'],
    // A tie keeps the text format; so does a header that accepts neither.
    ['application/openmetrics-text;q=0.5, text/plain;q=0.5', 'prometheus'],
    ['application/json', 'prometheus'],
    ['APPLICATION/OPENMETRICS-TEXT ; Q=0.9', 'openmetrics'],
    // A malformed q counts as 0.
    ['application/openmetrics-text;q=high', 'prometheus'],
    ['application/openmetrics-text;q=1.5', 'prometheus'],
  ])('%j -> %s', (accept, format) => {
    expect(negotiateFormat(accept)).toBe(format);
  });
});

describe('negotiateEncoding', () => {
  it.each([
    [undefined, 'identity'],
    ['', 'identity'],
    ['gzip', 'gzip'],
    ['gzip, deflate, br', 'gzip'],
    ['br;q=1, gzip;q=0.5', 'gzip'],
    ['gzip;q=0', 'identity'],
    ['*', 'gzip'],
    ['*;q=0', 'identity'],
    ['gzip;q=0, *', 'identity'],
    ['identity', 'identity'],
    ['x-gzip', 'gzip'],
  ])('%j -> %s', (header, encoding) => {
    expect(negotiateEncoding(header)).toBe(encoding);
  });
});
