module.exports = {
  displayName: 'executor-postgres',
  preset: '../../jest.preset.js',
  coverageDirectory: '../../coverage/apps/executor-postgres',
};
