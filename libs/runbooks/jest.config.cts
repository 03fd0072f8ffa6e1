module.exports = {
  displayName: 'runbooks',
  preset: '../../jest.preset.js',
  coverageDirectory: '../../coverage/libs/runbooks',
};
