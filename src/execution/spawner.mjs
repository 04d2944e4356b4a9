// The spawner: a small long-lived Node process, one per agent, that forks the job processes on
// the agent's behalf. libuv starts a child with fork(), which copies the page tables of the
// forking process; an agent under load holds ~150 MB, this process ~10 MB of its own, so a spawn
// from here costs a third of the CPU (measured: 0.5 vs 1.4 ms per spawn in the parent alone).
// Plain JavaScript with node:* imports only, so that it starts in ~40 ms without a loader or the
// agent's bundle. The agent talks to it over Node's IPC channel (spawner-client.ts), and does
// everything else itself: signals, cgroups, RSS limits and timeouts need only the pid.
//
// Messages in:  {t: 'start', id, argv, cwd, env, stdoutPath, stderrPath, gated, bootId}
//               {t: 'open', id}   release a gated process (it is in its cgroup now)
// Messages out: {t: 'ready'} once, then per start {t: 'spawned', id, pid} | {t: 'failed', id, message},
//               then {t: 'exit', id, code, signal, at}
//
// When the agent goes away (its end of the channel closes: exit, crash or SIGKILL), this process
// exits at once and leaves the jobs running, exactly as a crashed agent always has: the next
// agent on the data dir finds them through their pid files and reaps them (orphans.ts).
import { spawn } from 'node:child_process'
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs'
import { join } from 'node:path'

/** Same gate as spawn-process.ts: "$@" is exec'd verbatim once a line arrives on fd 3. */
const GATE_SCRIPT = 'read -r _ <&3 || exit 125; exec 3<&-; exec "$@"'
const GATE_SHELL = '/bin/sh'
/** orphans.ts reads this file: {pid, startTime, bootId}. */
const PID_FILE = 'murmur.pid'
/** /proc/<pid>/stat field 22 (starttime), counted after the `(comm)` field as orphans.ts does. */
const STARTTIME_AFTER_COMM = 22 - 3

/**
 * The latency trace (src/node/lat-trace.ts, bench/README.md "Tracing one submit"): with
 * MURMUR_LAT_TRACE set, this process appends its steps to <dir>/<agent pid>.spawner.trace on the
 * same clock (epoch ms read as src/node/epoch-clock.ts does). Off, one test per start.
 */
const TRACE_DIR = process.env.MURMUR_LAT_TRACE
const traceFd = TRACE_DIR ? openSync(join(TRACE_DIR, `${process.ppid}.spawner.trace`), 'a') : -1
const traceOffset = traceFd < 0 ? 0 : epochOffsetMs()

function trace(what) {
  writeSync(traceFd, `${(traceOffset + performance.now()).toFixed(3)} ${what}\n`)
}

function epochOffsetMs() {
  performance.now()
  let best = -Infinity
  for (let i = 0; i < 3; i++) {
    const t = Date.now()
    let d = Date.now()
    while (d === t) d = Date.now()
    best = Math.max(best, d - performance.now())
  }
  return best
}

/** Gates of gated processes not yet released, by allocation id. */
const gates = new Map()

function send(msg) {
  // The agent may be gone already; then this process is about to exit anyway.
  if (process.connected) process.send(msg, undefined, undefined, () => {})
}

function startTime(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const value = Number(text.slice(text.lastIndexOf(')') + 2).split(' ')[STARTTIME_AFTER_COMM])
    return Number.isFinite(value) ? value : -1
  } catch {
    return -1
  }
}

function start(req) {
  if (traceFd >= 0) trace(`spawner start-in ${req.id}`)
  const fds = []
  let child
  try {
    mkdirSync(req.cwd, { recursive: true })
    fds.push(openSync(req.stdoutPath, 'a'), openSync(req.stderrPath, 'a'))
    const argv = req.gated ? [GATE_SHELL, '-c', GATE_SCRIPT, 'murmur-gate', ...req.argv] : req.argv
    if (traceFd >= 0) trace(`spawner files open ${req.id}`)
    // detached: setsid, so kill(-pid) reaches everything the job forks, and no terminal signal
    // meant for the agent does. Output goes straight to the files, so it outlives the agent.
    child = spawn(argv[0] ?? '', argv.slice(1), {
      cwd: req.cwd, env: req.env, detached: true,
      stdio: ['ignore', fds[0], fds[1], ...(req.gated ? ['pipe'] : [])],
    })
  } catch (err) {
    send({ t: 'failed', id: req.id, message: err instanceof Error ? err.message : String(err) })
    return
  } finally {
    for (const fd of fds) closeSync(fd)
  }
  const pid = child.pid
  if (traceFd >= 0) trace(`spawner spawn returned ${req.id}`)
  if (pid === undefined) {
    child.once('error', (err) => send({ t: 'failed', id: req.id, message: err.message }))
    return
  }
  // Written here, in the same tick as the spawn, so that no agent crash can fall between a job's
  // start and the record the next agent needs to reap it.
  try {
    writeFileSync(join(req.cwd, PID_FILE), JSON.stringify({ pid, startTime: startTime(pid), bootId: req.bootId }))
  } catch {
    // The agent hears of the pid below; without a disk there is nothing better to do.
  }
  const gate = req.gated ? child.stdio[3] : null
  if (gate) {
    // The gate dies first if the attempt is stopped at once; its exit is what gets reported.
    gate.on('error', () => {})
    gates.set(req.id, gate)
  }
  child.on('error', () => {})
  child.once('exit', (code, signal) => {
    const at = Date.now()
    gates.delete(req.id)
    child.stdio[3]?.destroy()
    send({ t: 'exit', id: req.id, code, signal, at })
  })
  send({ t: 'spawned', id: req.id, pid })
}

process.on('message', (msg) => {
  if (msg.t === 'start') start(msg)
  else if (msg.t === 'open') {
    gates.get(msg.id)?.end('go\n')
    gates.delete(msg.id)
  }
})
process.on('disconnect', () => process.exit(0))
// Until this arrives the agent forks the jobs itself (spawner-client.ts), so none waits for this boot.
send({ t: 'ready' })
// The agent's terminal (Ctrl-C) or a signal to its process group is the agent's business: it
// stops its jobs through this process, so this process stays until the agent lets it go.
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => {})
