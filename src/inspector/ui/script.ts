/**
 * The inspector page's script, shipped as a string (no bundler, no network at
 * build). Plain browser JavaScript; it must contain no backtick and no
 * dollar-brace, since it lives inside a template literal. Data from the log
 * only ever reaches the page through textContent / attributes, never as HTML.
 *
 * The list holds at most the log's maxExchanges rows; the filter runs in the
 * page so rows hide and show at once, and SSE keeps rows current. When the
 * event stream (re)opens the list is reloaded, so nothing missed while it was
 * down stays missing.
 */
export const inspectorScript = String.raw`
'use strict'
const rowsById = new Map()
const state = { selected: null, info: { replay: false, publicUrl: null, targetUrl: 'http://localhost' }, detail: null }
const el = (id) => document.getElementById(id)
const tbody = el('rows')
const detailPane = el('detail')

function h(tag, attrs, children) {
  const node = document.createElement(tag)
  if (attrs) for (const key of Object.keys(attrs)) {
    const value = attrs[key]
    if (value === undefined || value === null || value === false) continue
    if (key === 'text') node.textContent = value
    else if (key === 'class') node.className = value
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value)
    else node.setAttribute(key, value === true ? '' : String(value))
  }
  if (children) for (const child of children) if (child) node.append(child)
  return node
}

function formatBytes(n) {
  if (n < 1024) return n + ' B'
  if (n < 1024 * 1024) return (n / 1024).toFixed(n < 10240 ? 1 : 0) + ' KiB'
  return (n / 1024 / 1024).toFixed(1) + ' MiB'
}
function formatDuration(ms) {
  if (ms === undefined || ms === null) return '…'
  if (ms < 1000) return Math.round(ms) + ' ms'
  return (ms / 1000).toFixed(2) + ' s'
}
function statusText(row) {
  if (row.state === 'failed') return row.status ? String(row.status) + ' ✕' : 'failed'
  if (row.state === 'pending') return '…'
  return String(row.status)
}
function statusClass(row) {
  if (row.state === 'failed') return 'sfailed'
  if (row.state === 'pending') return 'spending'
  return 's' + String(row.status).charAt(0)
}

// ---- filter -------------------------------------------------------------
function currentFilter() {
  return { status: el('filter-status').value, method: el('filter-method').value, q: el('filter-q').value.trim().toLowerCase() }
}
function matches(row, f) {
  if (f.method && row.method.toUpperCase() !== f.method) return false
  if (f.q && row.path.toLowerCase().indexOf(f.q) < 0) return false
  if (f.status === 'error') return row.state === 'failed' || row.status >= 500
  if (f.status === 'pending') return row.state === 'pending' || row.state === 'responding'
  if (f.status) return Math.floor(row.status / 100) === Number(f.status.charAt(0))
  return true
}
function applyFilter() {
  const f = currentFilter()
  let shown = 0
  for (const entry of rowsById.values()) {
    const visible = matches(entry.row, f)
    entry.tr.hidden = !visible
    if (visible) shown++
  }
  el('empty').hidden = rowsById.size > 0
  el('counts').textContent = rowsById.size === 0 ? '' : (shown === rowsById.size ? rowsById.size + ' requests' : shown + ' of ' + rowsById.size + ' requests match')
}

// ---- list ---------------------------------------------------------------
function fillRow(tr, row) {
  tr.replaceChildren(
    h('td', { class: 'method', text: row.method }),
    h('td', { class: 'path', title: row.path }, [document.createTextNode(row.path), row.replayOf ? h('span', { class: 'replay-tag', text: 'replay of #' + row.replayOf }) : null, row.answeredBy ? h('span', { class: 'replay-tag', title: row.answeredBy, text: row.answeredBy.split(':')[0] }) : null]),
    h('td', { class: 'num ' + statusClass(row), text: statusText(row) }),
    h('td', { class: 'num', text: formatDuration(row.durationMs) }),
    h('td', { class: 'num', text: formatBytes(row.responseBytes) }),
  )
  tr.dataset.status = String(row.status)
  tr.dataset.state = row.state
  tr.setAttribute('aria-label', row.method + ' ' + row.path + ', ' + (row.state === 'pending' ? 'in flight' : 'status ' + statusText(row)) + ', ' + formatDuration(row.durationMs))
}
function upsert(row, atTop) {
  let entry = rowsById.get(row.id)
  if (!entry) {
    const tr = h('tr', { tabindex: '0', 'data-id': row.id, 'aria-selected': 'false' })
    entry = { tr: tr, row: row }
    rowsById.set(row.id, entry)
    if (atTop) tbody.prepend(tr)
    else tbody.append(tr)
  }
  entry.row = row
  fillRow(entry.tr, row)
  entry.tr.hidden = !matches(row, currentFilter())
  if (state.selected === row.id && state.detail && state.detail.state !== row.state) loadDetail(row.id, false)
}
function remove(id) {
  const entry = rowsById.get(id)
  if (!entry) return
  entry.tr.remove()
  rowsById.delete(id)
}
async function reloadList() {
  const res = await fetch('/api/requests')
  const data = await res.json()
  rowsById.clear()
  tbody.replaceChildren()
  for (const row of data.requests) upsert(row, false)
  if (state.selected) {
    const entry = rowsById.get(state.selected)
    if (entry) entry.tr.setAttribute('aria-selected', 'true')
  }
  applyFilter()
}
function select(id, focusDetail) {
  for (const entry of rowsById.values()) entry.tr.setAttribute('aria-selected', entry.row.id === id ? 'true' : 'false')
  state.selected = id
  loadDetail(id, focusDetail)
}
function visibleRows() {
  return Array.from(tbody.children).filter((tr) => !tr.hidden)
}
tbody.addEventListener('click', (event) => {
  const tr = event.target.closest('tr')
  if (tr) select(tr.dataset.id, false)
})
tbody.addEventListener('keydown', (event) => {
  const tr = event.target.closest('tr')
  if (!tr) return
  if (event.key === 'Enter' || event.key === ' ') {
    event.preventDefault()
    select(tr.dataset.id, true)
  } else if (event.key === 'ArrowDown' || event.key === 'ArrowUp' || event.key === 'Home' || event.key === 'End') {
    event.preventDefault()
    const rows = visibleRows()
    const at = rows.indexOf(tr)
    const next = event.key === 'ArrowDown' ? rows[at + 1] : event.key === 'ArrowUp' ? rows[at - 1] : event.key === 'Home' ? rows[0] : rows[rows.length - 1]
    if (next) next.focus()
  }
})

// ---- bodies -------------------------------------------------------------
const displayLimit = 256 * 1024
const hexLimit = 16 * 1024
function base64ToBytes(b64) {
  const bin = atob(b64)
  const bytes = new Uint8Array(bin.length)
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i)
  return bytes
}
function hexDump(bytes) {
  const lines = []
  const end = Math.min(bytes.length, hexLimit)
  for (let off = 0; off < end; off += 16) {
    let hex = ''
    let ascii = ''
    for (let i = 0; i < 16; i++) {
      if (off + i < end) {
        const b = bytes[off + i]
        hex += (b < 16 ? '0' : '') + b.toString(16) + ' '
        ascii += b >= 32 && b < 127 ? String.fromCharCode(b) : '.'
      } else hex += '   '
      if (i === 7) hex += ' '
    }
    lines.push(off.toString(16).padStart(8, '0') + '  ' + hex + ' ' + ascii)
  }
  return lines.join('\n')
}
function isJsonType(type) {
  return !!type && /[/+]json\b/i.test(type)
}
function renderBody(body, label) {
  const parts = []
  const notes = []
  if (body.evicted) {
    return [h('p', { class: 'note', text: 'Body of ' + formatBytes(body.size) + ' was dropped from memory to make room for newer requests.' })]
  }
  if (body.size === 0) return [h('p', { class: 'note', text: 'No body.' })]
  if (body.truncated) notes.push('Truncated: showing the first ' + formatBytes(body.keptBytes) + ' of ' + formatBytes(body.size) + '.')
  if (body.decoded) notes.push('Shown decompressed (' + body.contentEncoding + ').')
  const type = body.contentType ? body.contentType.split(';')[0].trim().toLowerCase() : ''
  if (type.indexOf('image/') === 0 && !body.truncated) {
    const src = body.encoding === 'base64' ? 'data:' + type + ';base64,' + body.data : 'data:' + type + ';charset=utf-8,' + encodeURIComponent(body.data)
    parts.push(h('img', { class: 'body-image', src: src, alt: label + ' image (' + type + ', ' + formatBytes(body.size) + ')' }))
  } else if (body.encoding === 'utf8') {
    let text = body.data
    if (isJsonType(type) && !body.truncated) {
      try { text = JSON.stringify(JSON.parse(text), null, 2) } catch (e) { notes.push('Not valid JSON; shown as sent.') }
    }
    if (text.length > displayLimit) {
      notes.push('Showing the first ' + formatBytes(displayLimit) + ' characters.')
      text = text.slice(0, displayLimit)
    }
    parts.push(h('pre', { class: 'body', tabindex: '0', 'aria-label': label + ' body', text: text }))
  } else {
    const bytes = base64ToBytes(body.data)
    if (bytes.length > hexLimit) notes.push('Hex dump of the first ' + formatBytes(hexLimit) + '.')
    parts.push(h('pre', { class: 'body hex', tabindex: '0', 'aria-label': label + ' body, hex dump', text: hexDump(bytes) }))
  }
  return notes.map((n) => h('p', { class: 'note', text: n })).concat(parts)
}
function renderHeaders(headers) {
  if (!headers.length) return h('p', { class: 'note', text: 'No headers.' })
  const dl = h('dl', { class: 'headers' })
  for (const pair of headers) dl.append(h('dt', { text: pair[0] }), h('dd', { text: pair[1] }))
  return dl
}

// ---- curl ---------------------------------------------------------------
const skipForCurl = ['host', 'content-length', 'connection', 'transfer-encoding', 'keep-alive', 'accept-encoding']
function shellQuote(s) {
  return "'" + String(s).split("'").join("'\\''") + "'"
}
function baseUrl() {
  const base = state.info.publicUrl || state.info.targetUrl || 'http://localhost'
  return base.replace(/\/+$/, '')
}
function curlFor(d) {
  const args = ['curl']
  if (d.method !== 'GET' || d.requestBody.size > 0) args.push('-X', d.method)
  args.push(shellQuote(baseUrl() + d.path))
  for (const pair of d.requestHeaders) {
    if (skipForCurl.indexOf(pair[0].toLowerCase()) >= 0 || pair[0].toLowerCase().indexOf('x-forwarded-') === 0) continue
    args.push('-H', shellQuote(pair[0] + ': ' + pair[1]))
  }
  const b = d.requestBody
  if (b.size > 0 && !b.evicted) {
    if (b.encoding === 'utf8') args.push('--data-binary', shellQuote(b.data))
    else return 'printf %s ' + shellQuote(b.data) + ' | base64 -d | ' + args.join(' ') + ' --data-binary @-'
  }
  return args.join(' ')
}

// ---- detail -------------------------------------------------------------
function announce(text) {
  el('live-announce').textContent = text
}
async function loadDetail(id, focusDetail) {
  const res = await fetch('/api/requests/' + encodeURIComponent(id))
  if (!res.ok) {
    detailPane.replaceChildren(h('h2', { id: 'detail-title', text: 'Details' }), h('p', { class: 'notice error', text: 'Request #' + id + ' is no longer in the inspector.' }))
    return
  }
  const d = await res.json()
  if (state.selected !== id) return
  state.detail = d
  renderDetail(d)
  if (focusDetail) detailPane.focus()
}
function renderDetail(d) {
  const replayButton = h('button', { type: 'button', id: 'replay', class: 'primary', disabled: !state.info.replay, onclick: () => replay(d, undefined) , text: 'Replay' })
  const editButton = h('button', { type: 'button', id: 'replay-edit', disabled: !state.info.replay, 'aria-expanded': 'false', 'aria-controls': 'edit-form', text: 'Replay with edits…' })
  const curlButton = h('button', { type: 'button', id: 'copy-curl', text: 'Copy as curl' })
  const result = h('div', { id: 'replay-result', role: 'status', 'aria-live': 'polite' })
  const form = editForm(d, result)
  editButton.addEventListener('click', () => {
    form.hidden = !form.hidden
    editButton.setAttribute('aria-expanded', form.hidden ? 'false' : 'true')
    if (!form.hidden) form.querySelector('input').focus()
  })
  const curlBox = h('div', { id: 'curl-box' })
  curlButton.addEventListener('click', async () => {
    const text = curlFor(d)
    const box = h('textarea', { class: 'curl', readonly: true, 'aria-label': 'curl command', rows: '3' })
    box.value = text
    curlBox.replaceChildren(box)
    try {
      await navigator.clipboard.writeText(text)
      announce('curl command copied to the clipboard')
      curlButton.textContent = 'Copied ✓'
      setTimeout(() => { curlButton.textContent = 'Copy as curl' }, 1500)
    } catch (e) {
      box.select()
      announce('Select and copy the curl command below')
    }
  })
  const meta = [statusText(d), formatDuration(d.durationMs), new Date(d.startedAt).toLocaleTimeString(), '#' + d.id]
  if (d.replayOf) meta.push('replay of #' + d.replayOf)
  if (d.route) meta.push('route ' + d.route)
  const children = [
    h('h2', { id: 'detail-title', text: d.method + ' ' + d.path }),
    h('p', { class: 'meta ' + statusClass(d), text: meta.join(' · ') }),
    d.error ? h('p', { class: 'notice error', text: 'Failed: ' + d.error }) : null,
    d.answeredBy ? h('p', { class: 'notice answered', text: 'Answered by the agent: ' + d.answeredBy }) : null,
    h('div', { class: 'actions' }, [replayButton, editButton, curlButton]),
    state.info.replay ? null : h('p', { class: 'note', text: 'Replay is not available: the agent started this inspector without a replay function.' }),
    form, result, curlBox,
    h('h3', { text: 'Request headers' }), renderHeaders(d.requestHeaders),
    h('h3', { text: 'Request body' }),
  ].concat(renderBody(d.requestBody, 'Request'), [
    h('h3', { text: 'Response headers' }), renderHeaders(d.responseHeaders),
    h('h3', { text: 'Response body' }),
  ], renderBody(d.responseBody, 'Response'))
  detailPane.replaceChildren.apply(detailPane, children.filter(Boolean))
}
function editForm(d, result) {
  const method = h('input', { name: 'method', value: d.method, required: true, autocomplete: 'off', spellcheck: 'false' })
  const path = h('input', { name: 'path', value: d.path, required: true, autocomplete: 'off', spellcheck: 'false' })
  const headers = h('textarea', { name: 'headers', spellcheck: 'false' })
  headers.value = d.requestHeaders.map((p) => p[0] + ': ' + p[1]).join('\n')
  const body = h('textarea', { name: 'body', spellcheck: 'false' })
  const bodyIsText = d.requestBody.encoding === 'utf8' && !d.requestBody.truncated && !d.requestBody.evicted
  body.value = bodyIsText ? d.requestBody.data : ''
  const bodyNote = bodyIsText ? null : h('p', { class: 'note', text: d.requestBody.size === 0 ? 'No body; type one to send it.' : 'The original body is binary or incomplete; leave this empty to send it unchanged, or type a new one.' })
  const form = h('form', { id: 'edit-form', class: 'edit-form', 'aria-label': 'Replay with edits', hidden: true }, [
    h('div', { class: 'row' }, [h('label', {}, [document.createTextNode('Method'), method]), h('label', {}, [document.createTextNode('Path'), path])]),
    h('label', {}, [document.createTextNode('Headers (one "Name: value" per line)'), headers]),
    h('label', {}, [document.createTextNode('Body'), body]),
    bodyNote,
    h('div', { class: 'actions' }, [h('button', { type: 'submit', class: 'primary', text: 'Send' }), h('button', { type: 'button', text: 'Cancel', onclick: () => { form.hidden = true; el('replay-edit').setAttribute('aria-expanded', 'false'); el('replay-edit').focus() } })]),
  ])
  form.addEventListener('submit', (event) => {
    event.preventDefault()
    const edits = { method: method.value.trim(), path: path.value.trim(), headers: [] }
    for (const line of headers.value.split('\n')) {
      const at = line.indexOf(':')
      if (at > 0) edits.headers.push([line.slice(0, at).trim(), line.slice(at + 1).trim()])
    }
    if (bodyIsText || body.value !== '') edits.body = body.value
    replay(d, edits)
  })
  return form
}
async function replay(d, edits) {
  const result = el('replay-result')
  result.replaceChildren(h('p', { class: 'note', text: 'Replaying…' }))
  const res = await fetch('/api/requests/' + encodeURIComponent(d.id) + '/replay', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: edits ? JSON.stringify(edits) : '',
  })
  const data = await res.json()
  if (!res.ok) {
    result.replaceChildren(h('p', { class: 'notice error', text: 'Replay failed: ' + data.error.message + ' (' + data.error.code + ')' }))
    return
  }
  upsert(data, true)
  applyFilter()
  const open = h('button', { type: 'button', id: 'open-replay', text: 'Open #' + data.id, onclick: () => { select(data.id, true) } })
  result.replaceChildren(h('p', { class: 'notice' }, [
    document.createTextNode('Replayed as #' + data.id + ': ' + statusText(data) + ' in ' + formatDuration(data.durationMs) + ', ' + formatBytes(data.responseBytes) + ' '),
    open,
  ]))
}

// ---- live updates ---------------------------------------------------------
function connect() {
  const live = el('live')
  const source = new EventSource('/api/events')
  source.addEventListener('open', () => {
    live.dataset.state = 'live'
    live.textContent = 'live'
    reloadList()
  })
  source.addEventListener('error', () => {
    live.dataset.state = 'offline'
    live.textContent = 'reconnecting…'
  })
  source.addEventListener('added', (event) => { upsert(JSON.parse(event.data), true); applyFilter() })
  source.addEventListener('updated', (event) => { upsert(JSON.parse(event.data), true); applyFilter() })
  source.addEventListener('removed', (event) => { remove(JSON.parse(event.data).id); applyFilter() })
}

async function start() {
  document.body.append(h('p', { id: 'live-announce', class: 'visually-hidden', role: 'status', 'aria-live': 'polite' }))
  for (const id of ['filter-status', 'filter-method']) el(id).addEventListener('change', applyFilter)
  el('filter-q').addEventListener('input', applyFilter)
  el('filters').addEventListener('submit', (event) => event.preventDefault())
  el('clear').addEventListener('click', async () => {
    await fetch('/api/requests', { method: 'DELETE' })
    state.selected = null
    detailPane.replaceChildren(h('h2', { id: 'detail-title', text: 'Details' }), h('p', { class: 'empty', text: 'Select a request to see its headers and bodies.' }))
    await reloadList()
  })
  try {
    state.info = await (await fetch('/api/info')).json()
  } catch (e) { /* keep defaults; the list still works */ }
  el('tunnel-url').textContent = state.info.publicUrl ? state.info.publicUrl + ' → ' + state.info.targetUrl : state.info.targetUrl
  applyFilter()
  connect()
}
start()
`
