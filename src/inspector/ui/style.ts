/** The inspector's stylesheet: system colours, light and dark via prefers-color-scheme, a visible focus ring. */
export const inspectorStyle = String.raw`
:root {
  --bg: #ffffff; --fg: #1b1f24; --muted: #59636e; --line: #d1d9e0; --panel: #f6f8fa;
  --accent: #0b5cad; --focus: #0b5cad; --row-hover: #eef3f8; --row-selected: #dbe9f7;
  --ok: #1a7f37; --redirect: #6f42c1; --client: #9a6700; --server: #cf222e; --pending: #59636e;
  --mono: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace;
  color-scheme: light dark;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #0d1117; --fg: #e6edf3; --muted: #9198a1; --line: #30363d; --panel: #151b23;
    --accent: #4493f8; --focus: #79c0ff; --row-hover: #1c2430; --row-selected: #1f3550;
    --ok: #3fb950; --redirect: #bc8cff; --client: #d29922; --server: #f85149; --pending: #9198a1;
  }
}
* { box-sizing: border-box; }
/* Components set display: grid/flex; the hidden attribute must still win. */
[hidden] { display: none !important; }
html, body { margin: 0; height: 100%; }
body { background: var(--bg); color: var(--fg); font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; display: flex; flex-direction: column; }
:focus-visible { outline: 3px solid var(--focus); outline-offset: 1px; }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
.skip { position: absolute; left: -999px; }
.skip:focus { left: 8px; top: 8px; background: var(--bg); padding: 4px 8px; z-index: 2; }
.bar { display: flex; align-items: center; gap: 16px; padding: 8px 16px; border-bottom: 1px solid var(--line); background: var(--panel); flex-wrap: wrap; }
.bar h1 { font-size: 16px; margin: 0; }
.bar p { margin: 0; }
.tunnel { color: var(--muted); font-family: var(--mono); font-size: 12px; flex: 1; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.live { font-size: 12px; color: var(--muted); }
.live[data-state="live"]::before { content: "● "; color: var(--ok); }
.live[data-state="offline"]::before { content: "● "; color: var(--server); }
.bar-actions { display: flex; gap: 8px; }
button, .button, input, select, textarea { font: inherit; color: inherit; }
button, .button { background: var(--bg); border: 1px solid var(--line); border-radius: 6px; padding: 4px 10px; cursor: pointer; text-decoration: none; display: inline-block; }
button:hover, .button:hover { border-color: var(--accent); }
button[disabled] { opacity: 0.5; cursor: not-allowed; }
button.primary { background: var(--accent); border-color: var(--accent); color: #fff; }
input, select, textarea { background: var(--bg); border: 1px solid var(--line); border-radius: 6px; padding: 3px 6px; }
.layout { flex: 1; display: grid; grid-template-columns: minmax(340px, 1fr) minmax(360px, 1.2fr); min-height: 0; }
.list-pane { display: flex; flex-direction: column; border-right: 1px solid var(--line); min-height: 0; }
.filters { display: flex; gap: 12px; padding: 8px 12px; border-bottom: 1px solid var(--line); align-items: end; flex-wrap: wrap; }
.filters label { display: flex; flex-direction: column; font-size: 12px; color: var(--muted); gap: 2px; }
.filters label.grow { flex: 1; min-width: 120px; }
.counts { margin: 4px 12px; font-size: 12px; color: var(--muted); }
.table-wrap { flex: 1; overflow: auto; }
table { border-collapse: collapse; width: 100%; }
th { position: sticky; top: 0; background: var(--panel); text-align: left; font-weight: 600; font-size: 12px; color: var(--muted); border-bottom: 1px solid var(--line); padding: 4px 8px; }
td { padding: 4px 8px; border-bottom: 1px solid var(--line); white-space: nowrap; }
td.path { font-family: var(--mono); font-size: 12.5px; max-width: 0; width: 100%; overflow: hidden; text-overflow: ellipsis; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
tbody tr { cursor: pointer; }
tbody tr:hover { background: var(--row-hover); }
tbody tr[aria-selected="true"] { background: var(--row-selected); }
tbody tr:focus-visible { outline: 3px solid var(--focus); outline-offset: -3px; }
.method { font-weight: 600; font-family: var(--mono); font-size: 12.5px; }
.s2 { color: var(--ok); } .s3 { color: var(--redirect); } .s4 { color: var(--client); } .s5, .sfailed { color: var(--server); } .spending { color: var(--pending); }
.replay-tag { font-size: 11px; color: var(--muted); border: 1px solid var(--line); border-radius: 4px; padding: 0 4px; margin-left: 6px; }
.help { margin: 4px 12px; font-size: 12px; color: var(--muted); }
.empty { color: var(--muted); padding: 12px; }
.detail-pane { overflow: auto; padding: 12px 16px; min-height: 0; }
.detail-pane:focus { outline: none; }
.detail-pane h2 { font-size: 15px; margin: 0 0 4px; font-family: var(--mono); word-break: break-all; }
.detail-pane h3 { font-size: 13px; margin: 16px 0 6px; text-transform: uppercase; letter-spacing: 0.04em; color: var(--muted); }
.meta { color: var(--muted); margin: 0 0 8px; }
.actions { display: flex; gap: 8px; flex-wrap: wrap; margin: 8px 0; }
.notice { border: 1px solid var(--line); border-left: 4px solid var(--accent); padding: 6px 10px; margin: 8px 0; background: var(--panel); }
.notice.error { border-left-color: var(--server); }
.headers { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 0; font-family: var(--mono); font-size: 12.5px; }
.headers dt { color: var(--muted); }
.headers dd { margin: 0; word-break: break-all; }
pre.body { font-family: var(--mono); font-size: 12.5px; background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 8px; overflow: auto; max-height: 480px; margin: 0; white-space: pre-wrap; word-break: break-all; }
pre.hex { white-space: pre; word-break: normal; }
img.body-image { max-width: 100%; max-height: 360px; border: 1px solid var(--line); border-radius: 6px; background: repeating-conic-gradient(#8883 0% 25%, transparent 0% 50%) 0 0 / 16px 16px; }
.note { font-size: 12px; color: var(--muted); margin: 4px 0; }
.edit-form { display: grid; gap: 8px; border: 1px solid var(--line); border-radius: 6px; padding: 10px; margin: 8px 0; }
.edit-form label { display: flex; flex-direction: column; gap: 2px; font-size: 12px; color: var(--muted); }
.edit-form .row { display: grid; grid-template-columns: 120px 1fr; gap: 8px; }
.edit-form textarea { font-family: var(--mono); font-size: 12.5px; min-height: 80px; resize: vertical; }
textarea.curl { width: 100%; font-family: var(--mono); font-size: 12px; min-height: 60px; }
@media (max-width: 800px) { .layout { grid-template-columns: 1fr; } .list-pane { border-right: 0; border-bottom: 1px solid var(--line); max-height: 50vh; } }
`
