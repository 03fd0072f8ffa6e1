module.exports = {
  displayName: 'service-audit',
  preset: '../../../jest.preset.js',
  coverageDirectory: '../../../coverage/libs/services/audit',
};
