/**
 * The dashboard's page, script and style, shipped as strings (no build
 * step, no network at run time). It borrows the inspector's stylesheet so
 * both pages look alike, light and dark; the script polls /dashboard/api
 * once a second and writes data only as text, never as HTML.
 */
import { inspectorStyle } from '../../inspector/ui/style.js'

export const dashboardPage = String.raw`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>adit dashboard</title>
<link rel="stylesheet" href="/dashboard/app.css">
<script type="module" src="/dashboard/app.js"></script>
</head>
<body>
<a class="skip" href="#tunnels">Skip to tunnels</a>
<header class="bar">
  <h1>adit dashboard</h1>
  <p class="tunnel" id="summary"></p>
  <p id="live" class="live" role="status" aria-live="polite" data-state="connecting">connecting…</p>
  <div class="bar-actions">
    <button id="pause" type="button" aria-pressed="false">Pause</button>
  </div>
</header>
<main class="dash">
  <h2 id="tunnels-title" class="visually-hidden">Tunnels</h2>
  <ul id="totals" class="totals" aria-label="Totals on this instance"></ul>
  <p id="notice" class="notice error" role="alert" hidden></p>
  <div class="table-wrap">
    <table id="tunnels" aria-labelledby="tunnels-title">
      <thead>
        <tr><th scope="col">Tunnel</th><th scope="col" class="num">Agents</th><th scope="col">Protocol</th><th scope="col">Connected since</th><th scope="col" class="num">Streams</th><th scope="col" class="num">Req/s</th><th scope="col">Last 60 s</th><th scope="col" class="num">Total</th><th scope="col" class="num">Errors</th></tr>
      </thead>
      <tbody id="rows"></tbody>
    </table>
  </div>
  <p id="empty" class="empty">No agent is connected to this instance and no request went through it in the last minute.</p>
  <h2 id="recent-title" class="section">Recent requests</h2>
  <div class="table-wrap">
    <table id="recent" aria-labelledby="recent-title">
      <thead>
        <tr><th scope="col">Time</th><th scope="col">Tunnel</th><th scope="col">Request</th><th scope="col" class="num">Status</th><th scope="col">Route</th><th scope="col">Answered by</th><th scope="col" class="num">ms</th></tr>
      </thead>
      <tbody id="recent-rows"></tbody>
    </table>
  </div>
  <p id="recent-empty" class="empty">No request has finished on this instance yet.</p>
  <p class="help">Refreshes every second; Pause stops it. Rates and recent requests are this instance's: other instances of a cluster keep their own. Route and Answered by come from the agent (its routes, a webhook check, a status route) or from the server (a rate limit, an access rule); — means the request went to the tunnel's one service.</p>
</main>
</body>
</html>
`

export const dashboardStyle = `${inspectorStyle}
.dash { flex: 1; overflow: auto; padding: 8px 16px; }
.totals { display: flex; gap: 24px; list-style: none; padding: 0; margin: 8px 0 12px; flex-wrap: wrap; }
.totals li { display: flex; flex-direction: column; }
.totals .value { font-size: 22px; font-weight: 600; font-variant-numeric: tabular-nums; }
.totals .label { font-size: 12px; color: var(--muted); }
td.id { font-family: var(--mono); font-size: 12.5px; }
tbody tr { cursor: default; }
tbody tr:focus-visible { outline: 3px solid var(--focus); outline-offset: -3px; }
svg.spark { width: 120px; height: 22px; display: block; }
svg.spark polyline { fill: none; stroke: var(--accent); stroke-width: 1.5; }
.offline { color: var(--muted); }
h2.section { font-size: 15px; margin: 20px 0 8px; }
#recent td.path { max-width: none; width: auto; min-width: 22ch; white-space: normal; overflow-wrap: anywhere; }
#recent td.route { font-family: var(--mono); font-size: 12.5px; }
`

export const dashboardScript = String.raw`
const $ = (id) => document.getElementById(id)
const rows = $('rows')
let paused = false
let timer

function text(tag, value, className) {
  const el = document.createElement(tag)
  el.textContent = value
  if (className) el.className = className
  return el
}

function ago(iso) {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000))
  if (s < 60) return s + ' s ago'
  if (s < 3600) return Math.floor(s / 60) + ' min ago'
  if (s < 86400) return Math.floor(s / 3600) + ' h ' + Math.floor((s % 3600) / 60) + ' min ago'
  return Math.floor(s / 86400) + ' d ago'
}

function spark(values) {
  const ns = 'http://www.w3.org/2000/svg'
  const svg = document.createElementNS(ns, 'svg')
  svg.setAttribute('class', 'spark')
  svg.setAttribute('viewBox', '0 0 ' + (values.length - 1) + ' 20')
  svg.setAttribute('preserveAspectRatio', 'none')
  svg.setAttribute('role', 'img')
  const max = Math.max(1, ...values)
  const sum = values.reduce((a, b) => a + b, 0)
  svg.setAttribute('aria-label', sum + ' requests in the last ' + values.length + ' seconds, at most ' + Math.max(...values) + ' in one second')
  const line = document.createElementNS(ns, 'polyline')
  line.setAttribute('points', values.map((v, i) => i + ',' + (20 - (v / max) * 19).toFixed(2)).join(' '))
  svg.append(line)
  return svg
}

function total(label, value) {
  const li = document.createElement('li')
  li.append(text('span', String(value), 'value'), text('span', label, 'label'))
  return li
}

function render(data) {
  $('totals').replaceChildren(
    total('tunnels online', data.totals.tunnels),
    total('agent connections', data.totals.connections),
    total('streams in flight', data.totals.activeStreams),
    total('requests / s', data.totals.ratePerSecond),
  )
  $('summary').textContent = 'updated ' + new Date(data.generatedAt).toLocaleTimeString()
  $('empty').hidden = data.tunnels.length > 0
  const out = []
  for (const t of data.tunnels) {
    const tr = document.createElement('tr')
    tr.tabIndex = 0
    tr.dataset.tunnel = t.id
    const since = t.connections.length ? t.connections.map((c) => c.connectedAt).sort()[0] : undefined
    const protocols = [...new Set(t.connections.map((c) => c.protocol))].join(', ')
    const sinceCell = text('td', since ? ago(since) : 'offline', since ? '' : 'offline')
    if (since) sinceCell.title = new Date(since).toLocaleString()
    const sparkCell = document.createElement('td')
    sparkCell.append(spark(t.perSecond))
    tr.append(
      text('td', t.id, 'id'),
      text('td', String(t.connections.length), 'num agents'),
      text('td', protocols || '—'),
      sinceCell,
      text('td', String(t.activeStreams), 'num'),
      text('td', t.ratePerSecond.toFixed(1), 'num rate'),
      sparkCell,
      text('td', String(t.total), 'num total'),
      text('td', String(t.errors), 'num'),
    )
    out.push(tr)
  }
  renderRecent(data.recent || [])
  // Keep keyboard focus on the same tunnel across refreshes.
  const focused = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.tunnel : undefined
  rows.replaceChildren(...out)
  if (focused) for (const tr of out) if (tr.dataset.tunnel === focused) tr.focus()
}

function renderRecent(recent) {
  $('recent-empty').hidden = recent.length > 0
  const out = []
  for (const r of recent) {
    const tr = document.createElement('tr')
    tr.dataset.requestId = r.requestId
    const time = text('td', new Date(r.at).toLocaleTimeString())
    time.title = r.at
    const status = text('td', String(r.status), 'num status')
    if (r.error) status.title = r.error
    tr.append(
      time,
      text('td', r.tunnelId, 'id'),
      text('td', r.method + ' ' + r.path, 'path'),
      status,
      text('td', r.route || '—', 'route'),
      text('td', r.answeredBy || '—', 'answered'),
      text('td', String(r.durationMs), 'num'),
    )
    out.push(tr)
  }
  $('recent-rows').replaceChildren(...out)
}

async function refresh() {
  try {
    const res = await fetch('/dashboard/api', { credentials: 'same-origin', cache: 'no-store' })
    if (res.status === 401) {
      $('notice').textContent = 'Not signed in: open /dashboard?token=<ADIT_ADMIN_TOKEN> once, or send Authorization: Bearer <token>.'
      $('notice').hidden = false
      setLive('offline', 'signed out')
      return
    }
    if (!res.ok) throw new Error('HTTP ' + res.status)
    $('notice').hidden = true
    render(await res.json())
    setLive('live', 'live')
  } catch (error) {
    setLive('offline', 'offline — retrying')
  } finally {
    if (!paused) timer = setTimeout(refresh, 1000)
  }
}

function setLive(state, label) {
  const live = $('live')
  if (live.dataset.state === state && live.textContent === label) return
  live.dataset.state = state
  live.textContent = label
}

rows.addEventListener('keydown', (event) => {
  const row = event.target.closest('tr')
  if (!row) return
  const next = event.key === 'ArrowDown' ? row.nextElementSibling : event.key === 'ArrowUp' ? row.previousElementSibling : null
  if (next) {
    event.preventDefault()
    next.focus()
  }
})

$('pause').addEventListener('click', () => {
  paused = !paused
  $('pause').setAttribute('aria-pressed', String(paused))
  $('pause').textContent = paused ? 'Resume' : 'Pause'
  clearTimeout(timer)
  if (paused) setLive('offline', 'paused')
  else refresh()
})

refresh()
`
