module.exports = {
  displayName: 'service-git-sync',
  preset: '../../../jest.preset.js',
  coverageDirectory: '../../../coverage/libs/services/git-sync',
};
