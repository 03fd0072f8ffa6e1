module.exports = {
  displayName: 'executor-kubernetes',
  preset: '../../jest.preset.js',
  coverageDirectory: '../../coverage/apps/executor-kubernetes',
};
