module.exports = {
  displayName: 'service-executor-kubernetes',
  preset: '../../../jest.preset.js',
  coverageDirectory: '../../../coverage/libs/services/executor-kubernetes',
};
