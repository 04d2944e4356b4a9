// Entry point of the `murmur` command (bin/murmur.js runs it through tsx).
import '../node/polyfill.js'
import { runCli } from './cli.js'

const code = await runCli(process.argv.slice(2), process.env)
// Exit explicitly: an agent's libp2p or a stray socket must not keep a finished command alive.
// stdout/stderr writes to pipes and files are synchronous on Linux, so nothing is lost.
process.exit(code)
