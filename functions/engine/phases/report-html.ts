import { formatBytes, type Report } from './report.js';
import { formatUsd } from './cost.js';
import { escapeHtml as escape, PAGE_STYLE } from './html.js';

/**
 * A self-contained page (no scripts, no external assets) with a bar chart of reclaimable bytes per
 * schema and table, the cost lines, and a link to the run history (`historyHref`, relative to the page).
 */
export function renderReportHtml(report: Report, historyHref?: string): string {
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
    ['Deleted', `${n(report.deleted)} (${formatBytes(report.bytes_deleted)})`],
    ['Freed', formatBytes(report.bytes_freed)],
    ...(report.noncurrent_version_bytes > 0 ? ([['Still stored as noncurrent versions', formatBytes(report.noncurrent_version_bytes)]] as [string, string][]) : []),
  ];
  const c = report.cost;
  const r = c.requests;
  const costRows = c.by_store
    .map(
      (s) =>
        `<tr><td>${escape(s.store)}</td><td>${escape(s.root)}</td><td>${formatUsd(s.price_per_gb_month)}</td><td>${formatBytes(s.orphaned_bytes)}</td><td>${formatUsd(
          s.orphaned_per_month,
        )}</td><td>${formatBytes(s.freed_bytes)}</td><td>${formatUsd(s.freed_per_month)}</td></tr>`,
    )
    .join('\n');
  const warnings = report.warnings.length === 0 ? '' : `<h2>Warnings</h2><ul>${report.warnings.map((w) => `<li>${escape(w)}</li>`).join('')}</ul>`;
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
<style>${PAGE_STYLE}</style></head><body>
<h1>djgc report</h1>
${historyHref ? `<nav><a href="${escape(historyHref)}">Run history</a></nav>` : ''}
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
<h2>Cost</h2>
<table class="cost">
<tr><th>Orphaned bytes, per month</th><td>${formatUsd(c.orphaned_per_month)}</td></tr>
<tr><th>Freed by this run, per month</th><td>${formatUsd(c.freed_per_month)}</td></tr>
${c.noncurrent_per_month > 0 ? `<tr><th>Still billed as noncurrent versions, per month</th><td>${formatUsd(c.noncurrent_per_month)}</td></tr>` : ''}
<tr><th>This run's store requests</th><td>${formatUsd(c.requests_total)}</td></tr>
</table>
<table><tr><th>store</th><th>root</th><th>price per GB-month</th><th>orphaned</th><th>per month</th><th>freed</th><th>per month</th></tr>
${costRows}
</table>
<p class="note">Requests: ${r.list} LIST, ${r.put} PUT, ${r.copy} COPY, ${r.get} GET, ${r.head} HEAD, ${r.delete} DELETE. Prices in USD; a GB is 2<sup>30</sup> bytes.</p>
${warnings}
<h2>Errors</h2>
${errors}
${report.complete ? '' : `<p class="status-PARTIAL">Shards without a result: ${report.failed_shards.map(escape).join(', ')}</p>`}
</body></html>
`;
}
