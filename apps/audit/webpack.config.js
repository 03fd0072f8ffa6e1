module.exports = require('../../webpack.app.config')('audit');
