// The web dashboard: one self-contained page (no external assets, works offline) that polls the
// API every second and renders nodes and, once job routes exist, jobs.

const STYLE = `
body{font:14px/1.4 system-ui,sans-serif;margin:1.5rem;color:#222;background:#fafafa}
h1{font-size:1.3rem;margin:0 0 .2rem}h2{font-size:1.05rem;margin:1.5rem 0 .4rem}
#status{color:#666;font-size:.85rem}#status.err{color:#b00}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{text-align:left;padding:.3rem .6rem;border-bottom:1px solid #e4e4e4;white-space:nowrap}
th{background:#f0f0f0;font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums}
.mono{font-family:ui-monospace,monospace;font-size:.85rem}
.s-alive,.s-running,.s-succeeded{color:#17803d}.s-suspect,.s-pending,.s-draining,.s-claimed{color:#b36b00}
.s-dead,.s-failed,.s-lost{color:#b00}.s-left,.s-cancelled{color:#777}
.empty{color:#888;font-style:italic}`

const SCRIPT = `
'use strict';
const $ = (id) => document.getElementById(id);
const esc = (v) => String(v ?? '').replace(/[&<>"']/g, (c) => '&#' + c.charCodeAt(0) + ';');
const short = (id) => { id = String(id ?? ''); return id.length > 12 ? '\\u2026' + id.slice(-8) : id; };
const state = (s) => '<span class="s-' + esc(s) + '">' + esc(s) + '</span>';
const ago = (ms) => ms < 1000 ? ms + 'ms' : ms < 60000 ? (ms / 1000).toFixed(1) + 's' : Math.round(ms / 60000) + 'm';
function table(head, rows, empty) {
  if (rows.length === 0) return '<p class="empty">' + esc(empty) + '</p>';
  return '<table><thead><tr>' + head.map((h) => '<th>' + esc(h) + '</th>').join('') +
    '</tr></thead><tbody>' + rows.map((r) => '<tr>' + r.join('') + '</tr>').join('') + '</tbody></table>';
}
const td = (v, cls) => '<td' + (cls ? ' class="' + cls + '"' : '') + '>' + v + '</td>';
function renderNodes(nodes) {
  nodes.sort((a, b) => String(a.name).localeCompare(String(b.name)));
  $('nodes').innerHTML = table(['name', 'state', 'id', 'cpu free/total', 'mem MB free/total', 'allocs', 'last seen', 'api'],
    nodes.map((n) => [td(esc(n.name)), td(state(n.state)), td(esc(short(n.id)), 'mono'),
      td(esc(n.resources.free.cpu) + ' / ' + esc(n.resources.total.cpu), 'num'),
      td(esc(n.resources.free.memoryMb) + ' / ' + esc(n.resources.total.memoryMb), 'num'),
      td(esc(n.allocations), 'num'), td(esc(ago(n.lastSeenMs)), 'num'),
      td('<a href="' + esc(n.api) + '/">' + esc(n.api) + '</a>', 'mono')]), 'no nodes');
}
function renderJobs(jobs) {
  $('jobs-section').hidden = false;
  jobs.sort((a, b) => String(b.submittedAt).localeCompare(String(a.submittedAt)));
  $('jobs').innerHTML = table(['id', 'name', 'type', 'state', 'instances', 'submitted', 'why pending'],
    jobs.map((j) => {
      // Each instance's latest attempt only; earlier attempts are history (murmur status JOB).
      const latest = new Map();
      for (const a of j.allocations || []) if (!latest.has(a.index) || latest.get(a.index).attempt < a.attempt) latest.set(a.index, a);
      const where = [...latest.values()].map((a) => esc(a.index) + ':' + esc(a.nodeName || short(a.nodeId)) + ' ' + state(a.state) +
        (a.attempt > 1 ? ' (attempt ' + esc(a.attempt) + ')' : '')).join(', ');
      // Job ids are short and users copy them into the CLI: shown whole.
      return [td(esc(j.id), 'mono'), td(esc(j.name)), td(esc(j.type)), td(state(j.state)),
        td(where), td(esc(j.submittedAt)), td(esc(j.pendingReason))];
    }), 'no jobs');
}
async function get(path) {
  const res = await fetch(path, { headers: { accept: 'application/json' }, cache: 'no-store' });
  if (res.status === 404) return null;
  if (!res.ok) throw new Error(path + ': HTTP ' + res.status);
  return res.json();
}
let jobsMissing = false;
async function poll() {
  try {
    const nodes = await get('/v1/nodes');
    if (nodes) renderNodes(nodes.nodes);
    if (!jobsMissing) {
      const jobs = await get('/v1/jobs');
      if (jobs) renderJobs(jobs.jobs); else jobsMissing = true;
    }
    $('status').className = '';
    $('status').textContent = 'updated ' + new Date().toLocaleTimeString();
  } catch (err) {
    $('status').className = 'err';
    $('status').textContent = 'cannot reach the API: ' + err.message;
  } finally {
    setTimeout(poll, 1000);
  }
}
poll();`

/** The page's HTML; `title` names the node serving it. */
export function dashboardHtml(title: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>murmur · ${escapeHtml(title)}</title><style>${STYLE}</style></head>
<body><h1>murmur</h1><div id="status">loading…</div>
<h2>Nodes</h2><div id="nodes"></div>
<section id="jobs-section" hidden><h2>Jobs</h2><div id="jobs"></div></section>
<script>${SCRIPT}</script></body></html>
`
}

/** The inline script and style, for a Content-Security-Policy that allows nothing else. */
export const DASHBOARD_SCRIPT = SCRIPT
export const DASHBOARD_STYLE = STYLE

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}
