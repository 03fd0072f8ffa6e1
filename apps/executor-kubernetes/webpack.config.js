module.exports = require('../../webpack.app.config')('executor-kubernetes');
