module.exports = {
  displayName: 'service-executor-postgres',
  preset: '../../../jest.preset.js',
  coverageDirectory: '../../../coverage/libs/services/executor-postgres',
};
