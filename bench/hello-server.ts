// Baseline for the HTTP benchmark: a plain Fastify hello-world, same Node, same machine, same run.
import Fastify from 'fastify';
const app = Fastify({ logger: false });
app.post('/hello', async () => ({ hello: 'world' }));
const address = await app.listen({ host: '127.0.0.1', port: 0 });
console.log(`listening on ${address}`);
