// Each test file gets its own NATS subject namespace, so files running in parallel never
// answer each other's requests. (The AUDIT stream is shared; tests filter by their run ids.)
const { randomBytes } = require('node:crypto');

process.env.RUNGATE_SUBJECT_PREFIX = `t${randomBytes(5).toString('hex')}`;
