/**
 * The inspector's one HTML page. Shipped as a string so the build needs
 * nothing but tsc and the package needs no asset copying; the script and
 * style are separate files (ui/script.ts, ui/style.ts) so a strict CSP with
 * no inline code applies.
 */
export const inspectorPage = String.raw`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>adit inspector</title>
<link rel="stylesheet" href="/ui/app.css">
<script type="module" src="/ui/app.js"></script>
</head>
<body>
<a class="skip" href="#requests">Skip to requests</a>
<header class="bar">
  <h1>adit inspector</h1>
  <p class="tunnel"><span id="tunnel-url"></span></p>
  <p id="live" class="live" role="status" aria-live="polite" data-state="connecting">connecting…</p>
  <div class="bar-actions">
    <a id="export-har" class="button" href="/api/requests.har" download>Export HAR</a>
    <button id="clear" type="button">Clear</button>
  </div>
</header>
<main class="layout">
  <section class="list-pane" aria-labelledby="list-title">
    <h2 id="list-title" class="visually-hidden">Requests</h2>
    <form id="filters" class="filters" role="search" aria-label="Filter requests">
      <label>Status
        <select id="filter-status" name="status">
          <option value="">any</option>
          <option value="2xx">2xx</option>
          <option value="3xx">3xx</option>
          <option value="4xx">4xx</option>
          <option value="5xx">5xx</option>
          <option value="error">errors</option>
          <option value="pending">in flight</option>
        </select>
      </label>
      <label>Method
        <select id="filter-method" name="method">
          <option value="">any</option>
          <option>GET</option><option>POST</option><option>PUT</option><option>PATCH</option>
          <option>DELETE</option><option>HEAD</option><option>OPTIONS</option>
        </select>
      </label>
      <label class="grow">Path
        <input id="filter-q" name="q" type="search" placeholder="contains…" autocomplete="off">
      </label>
    </form>
    <p id="counts" class="counts" aria-live="polite"></p>
    <div class="table-wrap">
      <table id="requests" aria-label="Requests, newest first" aria-describedby="list-help">
        <thead>
          <tr><th scope="col">Method</th><th scope="col">Path</th><th scope="col" class="num">Status</th><th scope="col" class="num">Duration</th><th scope="col" class="num">Size</th></tr>
        </thead>
        <tbody id="rows"></tbody>
      </table>
    </div>
    <p id="list-help" class="help">Arrow keys move between requests; Enter opens one.</p>
    <p id="empty" class="empty">No requests yet. Send one through the tunnel and it shows up here.</p>
  </section>
  <section id="detail" class="detail-pane" aria-labelledby="detail-title" tabindex="-1">
    <h2 id="detail-title">Details</h2>
    <p class="empty">Select a request to see its headers and bodies.</p>
  </section>
</main>
</body>
</html>
`
