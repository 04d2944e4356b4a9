// Entry point of the `murmur` command (bin/murmur.js runs its bundle, or tsx runs it).
import '../node/polyfill.js'
import { runCli } from './cli.js'

// Exit explicitly: an agent's libp2p or a stray socket must not keep a finished command alive.
// stdout/stderr writes to pipes and files are synchronous on Linux, so nothing is lost. No
// top-level await: bin/murmur.js runs the bundle as a CommonJS script.
void runCli(process.argv.slice(2), process.env).then((code) => process.exit(code))
