// Prints the figures every reliability suite recorded (figures.ts) as one JSON line, after the
// run: the line the README's reliability section quotes. Totals first, then each suite's own.
const { readdirSync, readFileSync, rmSync } = require('node:fs');
const { join } = require('node:path');

const TOTALS = ['calls', 'restarts', 'lost', 'double', 'unaudited', 'injectionsTried', 'injectionsSucceeded'];

class ReliabilitySummaryReporter {
  onRunComplete(_contexts, results) {
    const dir = process.env.RUNGATE_RELIABILITY_FIGURES;
    if (!dir) return;
    const suites = {};
    for (const file of readdirSync(dir).filter((name) => name.endsWith('.json')).sort()) {
      suites[file.replace(/\.json$/, '')] = JSON.parse(readFileSync(join(dir, file), 'utf8'));
    }
    rmSync(dir, { recursive: true, force: true });
    const totals = {};
    for (const key of TOTALS) totals[key] = Object.values(suites).reduce((sum, figures) => sum + (typeof figures[key] === 'number' ? figures[key] : 0), 0);
    const summary = { reliability: { profile: process.env.RELIABILITY_PROFILE === 'full' ? 'full' : 'slice', passed: results.numFailedTests === 0 && results.numRuntimeErrorTestSuites === 0, ...totals, suites } };
    process.stdout.write(`${JSON.stringify(summary)}\n`);
  }
}

module.exports = ReliabilitySummaryReporter;
