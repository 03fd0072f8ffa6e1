module.exports = {
  displayName: 'policy-engine',
  preset: '../../jest.preset.js',
  coverageDirectory: '../../coverage/libs/policy',
};
