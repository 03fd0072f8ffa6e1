module.exports = {
  displayName: 'policy',
  preset: '../../jest.preset.js',
  coverageDirectory: '../../coverage/apps/policy',
};
