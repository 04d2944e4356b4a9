// Runs inside a lab host's namespace to check what the network lets through, with plain TCP:
//   node net-probe.js connect ADDR PORT TIMEOUT_MS   -> prints connected | refused | timeout | error CODE
//   node net-probe.js sink ADDR PORT                 -> prints "listening", then "BYTES MS" for the
//                                                      first connection's data (first byte to end)
//   node net-probe.js send ADDR PORT BYTES           -> sends BYTES zero bytes, then exits
// The lab uses it to prove a fault is really in place (a blackhole refuses nothing: EINVAL) and
// to measure a slow link's rate.
import net from 'node:net'

const [mode, addr, portText, arg] = process.argv.slice(2)
const port = Number(portText)
const done = (line, code = 0) => { process.stdout.write(`${line}\n`); process.exit(code) }

if (mode === 'connect') {
  const timeoutMs = Number(arg ?? 2000)
  const socket = net.connect(port, addr)
  const timer = setTimeout(() => done('timeout'), timeoutMs)
  socket.on('connect', () => { clearTimeout(timer); socket.destroy(); done('connected') })
  socket.on('error', (err) => {
    clearTimeout(timer)
    done(err.code === 'ECONNREFUSED' ? 'refused' : `error ${err.code ?? err.message}`)
  })
} else if (mode === 'sink') {
  const server = net.createServer((c) => {
    let bytes = 0
    let first = 0
    c.on('data', (d) => { if (first === 0) first = Date.now(); bytes += d.length })
    c.on('end', () => done(`${bytes} ${first === 0 ? 0 : Date.now() - first}`))
    c.on('error', (err) => done(`error ${err.code ?? err.message}`, 1))
  })
  server.listen(port, addr, () => process.stdout.write('listening\n'))
} else if (mode === 'send') {
  const socket = net.connect(port, addr, () => socket.end(Buffer.alloc(Number(arg))))
  socket.on('close', () => process.exit(0))
  socket.on('error', (err) => done(`error ${err.code ?? err.message}`, 1))
} else {
  done('usage: node net-probe.js connect|sink|send ...', 2)
}
