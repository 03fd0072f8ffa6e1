module.exports = require('../../webpack.app.config')('git-sync');
