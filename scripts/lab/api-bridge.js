// Runs inside a lab host's namespace: accepts connections on a Unix socket (a file, which every
// namespace can reach) and pipes each to the agent's API on the host's own address. So the lab's
// owner, in the machine's namespace, talks to every agent without any address or route into the
// lab: nothing outside the run can reach the lab's agents, and their mDNS stays inside it.
// Usage: node api-bridge.js SOCKET_PATH HOST PORT   (prints "ready" once it listens)
import { rmSync } from 'node:fs'
import net from 'node:net'

const [socketPath, host, portText] = process.argv.slice(2)
const port = Number(portText)
if (socketPath === undefined || host === undefined || !Number.isInteger(port)) {
  process.stderr.write('usage: node api-bridge.js SOCKET_PATH HOST PORT\n')
  process.exit(2)
}

// A socket file left by an earlier bridge of this host would make listen() fail.
rmSync(socketPath, { force: true })
const server = net.createServer((client) => {
  const upstream = net.connect(port, host)
  client.pipe(upstream)
  upstream.pipe(client)
  // Either side failing (the agent is down or frozen and the caller gave up) ends both.
  client.on('error', () => upstream.destroy())
  upstream.on('error', () => client.destroy())
  client.on('close', () => upstream.destroy())
  upstream.on('close', () => client.destroy())
})
server.listen(socketPath, () => process.stdout.write('ready\n'))
server.on('error', (err) => {
  process.stderr.write(`api-bridge: ${err.message}\n`)
  process.exit(1)
})
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => server.close(() => process.exit(0)))
