module.exports = {
  displayName: 'executor-shell',
  preset: '../../jest.preset.js',
  coverageDirectory: '../../coverage/apps/executor-shell',
};
