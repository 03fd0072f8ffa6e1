module.exports = {
  displayName: 'git-catalog',
  preset: '../../jest.preset.js',
  coverageDirectory: '../../coverage/libs/git-catalog',
};
