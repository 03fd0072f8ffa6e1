#!/usr/bin/env node
// Container healthcheck without curl or wget in the image: GET the URL (by default this
// service's /readyz), healthy on a 2xx answer within 4 s, unhealthy otherwise.
const port = process.env.HEALTH_PORT || process.env.PORT || '8080';
const url = process.argv[2] || `http://127.0.0.1:${port}/readyz`;

fetch(url, { signal: AbortSignal.timeout(4000) }).then(
  (response) => process.exit(response.ok ? 0 : 1),
  () => process.exit(1),
);
