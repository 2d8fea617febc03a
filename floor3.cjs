const http = require('node:http');
setInterval(()=>{},1000)
