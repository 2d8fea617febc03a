import {createRequire} from 'node:module'; const http = createRequire(import.meta.url)('node:http');
setInterval(()=>{},1000)
