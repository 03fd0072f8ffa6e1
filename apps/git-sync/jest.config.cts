module.exports = {
  displayName: 'git-sync',
  preset: '../../jest.preset.js',
  coverageDirectory: '../../coverage/apps/git-sync',
};
