const nxPreset = require('@nx/jest/preset').default;

// swc strips types without checking them; `npm run typecheck` does the checking once for
// the whole tree, which keeps every jest run fast on two cores.
const swc = {
  jsc: {
    parser: { syntax: 'typescript', decorators: true },
    transform: { legacyDecorator: true, decoratorMetadata: true },
    target: 'es2022',
    keepClassNames: true,
  },
  module: { type: 'commonjs' },
  sourceMaps: 'inline',
};

module.exports = {
  ...nxPreset,
  testEnvironment: 'node',
  moduleFileExtensions: ['ts', 'js', 'mjs', 'json'],
  // ESM-only packages are compiled to CommonJS for jest like our own sources (jest's module
  // system cannot require() ESM the way Node 20.19+ does; @kubernetes/client-node 1.x and its
  // openid-client/oauth4webapi are ESM-only).
  transform: { '^.+\\.[tj]s$': ['@swc/jest', swc], '^.+\\.mjs$': ['@swc/jest', swc] },
  transformIgnorePatterns: ['/node_modules/(?!(jose|pkce-challenge|@kubernetes/client-node|openid-client|oauth4webapi)/)'],
};
