// Makes the directory where each reliability suite leaves its figures (figures.ts) for the
// summary reporter; jest's workers inherit the variable.
const { mkdtempSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');

module.exports = async () => {
  process.env.RUNGATE_RELIABILITY_FIGURES = mkdtempSync(join(tmpdir(), 'rg-reliability-'));
};
