import nx from '@nx/eslint-plugin';

// Pure logic (runbook language, rules, tickets, audit chain) must stay free of the
// framework, the bus and the database so it is unit-tested fast and reused by the
// all-in-one mode (docs/design.md §1).
const infrastructure = ['@nestjs/*', 'nats', 'typeorm', 'pg', '@electric-sql/*', 'simple-git', 'ssh2', '@kubernetes/*'];

export default [
  ...nx.configs['flat/base'],
  ...nx.configs['flat/typescript'],
  ...nx.configs['flat/javascript'],
  {
    ignores: ['**/dist', '**/out-tsc', '**/node_modules', 'bench/results/**', '.rungate/**', 'tmp/**', 'libs/services/gateway/assets/**'], // assets: vendored htmx (its README),
  },
  {
    files: ['**/*.ts', '**/*.js'],
    rules: {
      '@nx/enforce-module-boundaries': [
        'error',
        {
          enforceBuildableLibDependency: true,
          banTransitiveDependencies: false,
          allow: ['^.*/eslint(\\.base)?\\.config\\.[cm]?[jt]s$'],
          depConstraints: [
            // type:test-util (libs/test-util: `eventually`) depends on nothing, so any project's
            // specs may import it without a cycle; production files may not (below).
            { sourceTag: 'type:test-util', onlyDependOnLibsWithTags: [], bannedExternalImports: infrastructure },
            { sourceTag: 'type:contracts', onlyDependOnLibsWithTags: ['type:test-util'], bannedExternalImports: infrastructure },
            { sourceTag: 'type:util', onlyDependOnLibsWithTags: ['type:test-util', 'type:contracts', 'type:util'], bannedExternalImports: ['@nestjs/*', 'nats', 'typeorm', 'pg'] },
            { sourceTag: 'type:lib', onlyDependOnLibsWithTags: ['type:test-util', 'type:contracts', 'type:util', 'type:lib'], bannedExternalImports: infrastructure },
            { sourceTag: 'type:infra', onlyDependOnLibsWithTags: ['type:test-util', 'type:contracts', 'type:util', 'type:lib', 'type:infra'] },
            { sourceTag: 'type:testing', onlyDependOnLibsWithTags: ['type:test-util', 'type:contracts', 'type:util', 'type:lib', 'type:infra'] },
            { sourceTag: 'type:service', onlyDependOnLibsWithTags: ['type:test-util', 'type:contracts', 'type:util', 'type:lib', 'type:infra', 'type:testing'] },
            { sourceTag: 'type:app', onlyDependOnLibsWithTags: ['type:test-util', 'type:contracts', 'type:util', 'type:lib', 'type:infra', 'type:testing', 'type:service'] },
            { sourceTag: 'scope:shared', onlyDependOnLibsWithTags: ['scope:shared'] },
            { sourceTag: 'scope:gateway', onlyDependOnLibsWithTags: ['scope:shared', 'scope:gateway'] },
            { sourceTag: 'scope:git-sync', onlyDependOnLibsWithTags: ['scope:shared', 'scope:git-sync'] },
            { sourceTag: 'scope:policy', onlyDependOnLibsWithTags: ['scope:shared', 'scope:policy'] },
            { sourceTag: 'scope:executor', onlyDependOnLibsWithTags: ['scope:shared', 'scope:executor'] },
            { sourceTag: 'scope:audit', onlyDependOnLibsWithTags: ['scope:shared', 'scope:audit'] },
            { sourceTag: 'scope:cli', onlyDependOnLibsWithTags: ['scope:shared', 'scope:gateway', 'scope:git-sync', 'scope:policy', 'scope:executor', 'scope:audit'] },
          ],
        },
      ],
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // Production code. Errors keep their code to every edge (ADR 21): it makes a RungateError
    // (its message safe for an agent) or an InternalError (for the log), never a bare Error.
    files: ['apps/**/*.ts', 'libs/**/*.ts'],
    ignores: ['**/*.spec.ts', '**/*.integration-spec.ts', '**/testing/**', 'libs/testing/**'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: "NewExpression[callee.name='Error'], CallExpression[callee.name='Error']",
          message: 'Throw a coded error: RungateError(code, message) when the caller may read it, InternalError(message) when only the log may (ADR 21).',
        },
      ],
      // Test helpers are not part of the build (scripts/build.js): production code never imports them.
      'no-restricted-imports': [
        'error',
        {
          paths: [
            { name: '@rungate/testing', message: 'Test helpers are for specs and testing/ folders only.' },
            { name: '@rungate/test-util', message: 'Test helpers are for specs and testing/ folders only.' },
          ],
        },
      ],
    },
  },
];
