import { formatBytes, type Report } from './report.js';

const escape = (text: string): string =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** A self-contained page (no scripts, no external assets) with a bar chart of reclaimable bytes per schema and table. */
export function renderReportHtml(report: Report): string {
  const rows = Object.entries(report.by_schema)
    .flatMap(([schema, entry]) => Object.entries(entry.tables).map(([table, t]) => ({ schema, table, t })))
    .sort((a, b) => b.t.orphanedBytes - a.t.orphanedBytes || `${a.schema}.${a.table}`.localeCompare(`${b.schema}.${b.table}`));
  const max = Math.max(1, ...rows.map((r) => r.t.orphanedBytes));
  const barHeight = 22;
  const labelWidth = 260;
  const chartWidth = 460;
  const chart = rows
    .map((r, i) => {
      const width = Math.round((r.t.orphanedBytes / max) * chartWidth);
      const y = i * (barHeight + 6);
      return (
        `<text x="${labelWidth - 8}" y="${y + 15}" text-anchor="end">${escape(`${r.schema}.${r.table}`)}</text>` +
        `<rect x="${labelWidth}" y="${y}" width="${Math.max(width, 1)}" height="${barHeight}" fill="#c0392b"><title>${escape(
          `${r.schema}.${r.table}: ${r.t.orphaned} objects, ${formatBytes(r.t.orphanedBytes)}`,
        )}</title></rect>` +
        `<text x="${labelWidth + Math.max(width, 1) + 6}" y="${y + 15}">${escape(formatBytes(r.t.orphanedBytes))}</text>`
      );
    })
    .join('\n');
  const height = Math.max(1, rows.length) * (barHeight + 6);
  const status = !report.complete ? 'PARTIAL' : report.errors > 0 ? 'ERRORS' : 'OK';
  const n = (v: number): string => v.toLocaleString('en-US');
  const headline: [string, string][] = [
    ['Mode', report.dry_run ? 'dry run (nothing deleted)' : 'collect'],
    ['Status', status],
    ['Stored objects', n(report.stored)],
    ['Referenced', n(report.referenced)],
    ['Protected by the grace period', n(report.protected)],
    ['Orphaned', `${n(report.orphaned)} (${formatBytes(report.orphaned_bytes)})`],
    ['Saved by the re-check', n(report.saved_by_recheck)],
    ['Deleted', `${n(report.deleted)} (${formatBytes(report.bytes_freed)})`],
  ];
  const table = rows
    .map(
      (r) =>
        `<tr><td>${escape(r.schema)}</td><td>${escape(r.table)}</td><td>${n(r.t.stored)}</td><td>${n(r.t.referenced)}</td><td>${n(r.t.protected)}</td><td>${n(
          r.t.orphaned,
        )}</td><td>${formatBytes(r.t.orphanedBytes)}</td><td>${n(r.t.deleted)}</td></tr>`,
    )
    .join('\n');
  const errors = report.errors === 0 ? '<p>None.</p>' : `<ul>${report.scan_errors.map((e) => `<li>${escape(e)}</li>`).join('')}</ul>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>djgc report ${escape(report.run_id)}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2rem;color:#222;max-width:960px}
table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:right}
td:first-child,td:nth-child(2),th{text-align:left}.status-OK{color:#1e7e34}.status-ERRORS,.status-PARTIAL{color:#c0392b}
svg text{font-size:12px}
</style></head><body>
<h1>djgc report</h1>
<p>Run <code>${escape(report.run_id)}</code>, ${escape(report.started_at)} → ${escape(report.finished_at)}.
Schemas: ${escape(report.scope.schemas.join(', ') || 'none')}. Grace period: ${report.scope.grace_hours} h.${
    report.approved_run ? ` Approves dry run <code>${escape(report.approved_run)}</code>.` : ''
  }</p>
<table>${headline.map(([k, v]) => `<tr><th>${k}</th><td class="${k === 'Status' ? `status-${status}` : ''}">${escape(v)}</td></tr>`).join('')}</table>
<h2>Reclaimable bytes by schema and table</h2>
<svg role="img" aria-label="reclaimable bytes per schema and table" width="${labelWidth + chartWidth + 120}" height="${height}">
${chart}
</svg>
<table><tr><th>schema</th><th>table</th><th>stored</th><th>referenced</th><th>protected</th><th>orphaned</th><th>reclaimable</th><th>deleted</th></tr>
${table}
</table>
<h2>Errors</h2>
${errors}
${report.complete ? '' : `<p class="status-PARTIAL">Shards without a result: ${report.failed_shards.map(escape).join(', ')}</p>`}
</body></html>
`;
}
