import { formatBytes } from './report.js';
import { formatUsd } from './cost.js';
import { escapeHtml as escape, PAGE_STYLE, STATUS_COLORS } from './html.js';
import type { IndexEntry } from './history.js';

const CHART = { left: 70, top: 16, width: 760, height: 200, bottom: 46 };

/** Orphaned and freed bytes per run as paired bars, oldest run on the left; each run's status as a dot under its bars. */
function bytesChart(entries: IndexEntry[]): string {
  const max = Math.max(1, ...entries.flatMap((e) => [e.orphaned_bytes, e.bytes_freed]));
  const slot = CHART.width / Math.max(1, entries.length);
  const bar = Math.max(2, Math.min(18, slot / 2 - 2));
  const y = (bytes: number): number => CHART.top + CHART.height - (bytes / max) * CHART.height;
  const parts: string[] = [];
  for (const fraction of [0, 0.5, 1]) {
    const at = y(max * fraction);
    parts.push(`<line x1="${CHART.left}" x2="${CHART.left + CHART.width}" y1="${at}" y2="${at}" stroke="#ddd"/>`);
    parts.push(`<text x="${CHART.left - 6}" y="${at + 4}" text-anchor="end">${escape(formatBytes(Math.round(max * fraction)))}</text>`);
  }
  entries.forEach((e, i) => {
    const x = CHART.left + i * slot + slot / 2;
    const heightOf = (bytes: number): number => Math.max(bytes > 0 ? 1 : 0, CHART.top + CHART.height - y(bytes));
    const orphanedHeight = heightOf(e.orphaned_bytes);
    const freedHeight = heightOf(e.bytes_freed);
    const base = CHART.top + CHART.height;
    parts.push(
      `<rect x="${x - bar - 1}" y="${base - orphanedHeight}" width="${bar}" height="${orphanedHeight}" fill="#c0392b"><title>${escape(
        `${e.run_id}: ${e.orphaned} orphaned, ${formatBytes(e.orphaned_bytes)}`,
      )}</title></rect>`,
      `<rect x="${x + 1}" y="${base - freedHeight}" width="${bar}" height="${freedHeight}" fill="#2e86c1"><title>${escape(
        `${e.run_id}: ${e.deleted} deleted, ${formatBytes(e.bytes_freed)} freed`,
      )}</title></rect>`,
      `<circle cx="${x}" cy="${base + 12}" r="5" fill="${STATUS_COLORS[e.status]}"><title>${escape(`${e.run_id}: ${e.status}`)}</title></circle>`,
    );
    if (entries.length <= 12 || i % Math.ceil(entries.length / 12) === 0) {
      parts.push(`<text x="${x}" y="${base + 34}" text-anchor="middle">${escape(e.finished_at.slice(5, 19).replace('T', ' '))}</text>`);
    }
  });
  parts.push(`<line x1="${CHART.left}" x2="${CHART.left + CHART.width}" y1="${CHART.top + CHART.height}" y2="${CHART.top + CHART.height}" stroke="#888"/>`);
  const legendY = CHART.top + CHART.height + CHART.bottom + 8;
  parts.push(
    `<rect x="${CHART.left}" y="${legendY - 10}" width="12" height="12" fill="#c0392b"/><text x="${CHART.left + 18}" y="${legendY}">orphaned bytes</text>`,
    `<rect x="${CHART.left + 130}" y="${legendY - 10}" width="12" height="12" fill="#2e86c1"/><text x="${CHART.left + 148}" y="${legendY}">freed bytes</text>`,
    ...Object.entries(STATUS_COLORS).map(
      ([status, color], k) => `<circle cx="${CHART.left + 260 + k * 100}" cy="${legendY - 4}" r="5" fill="${color}"/><text x="${CHART.left + 270 + k * 100}" y="${legendY}">${status}</text>`,
    ),
  );
  const height = legendY + 10;
  return `<svg role="img" aria-label="orphaned and freed bytes per run" width="${CHART.left + CHART.width + 20}" height="${height}">\n${parts.join('\n')}\n</svg>`;
}

/**
 * The run-history page (`history.html`, next to `latest.json`): the last runs of the run index
 * with their orphaned and freed bytes over time, their status and cost. Links to each run's report
 * are relative to the run folder's root, where this page lives.
 */
export function renderHistoryHtml(entries: IndexEntry[], where: string): string {
  const n = (v: number): string => v.toLocaleString('en-US');
  const newestFirst = [...entries].reverse();
  const rows = newestFirst
    .map(
      (e) =>
        `<tr><td>${escape(e.finished_at.replace('T', ' ').slice(0, 19))}</td><td><a href="${escape(e.report)}"><code>${escape(e.run_id)}</code></a></td>` +
        `<td class="status-${e.status}">${e.status}</td><td>${e.dry_run ? 'dry run' : 'collect'}</td><td>${n(e.orphaned)}</td><td>${formatBytes(e.orphaned_bytes)}</td>` +
        `<td>${n(e.deleted)}</td><td>${formatBytes(e.bytes_freed)}</td><td>${formatUsd(e.orphaned_cost_per_month)}</td><td>${formatUsd(e.freed_cost_per_month)}</td>` +
        `<td>${formatUsd(e.request_cost)}</td><td>${n(e.errors)}</td></tr>`,
    )
    .join('\n');
  const latest = newestFirst[0];
  const summary = latest
    ? `Latest run <a href="${escape(latest.report)}">${escape(latest.run_id)}</a>: <span class="status-${latest.status}">${latest.status}</span>, ` +
      `${n(latest.orphaned)} orphaned (${formatBytes(latest.orphaned_bytes)}, ${formatUsd(latest.orphaned_cost_per_month)}/month).`
    : 'No run has finished yet.';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>djgc run history</title>
<style>${PAGE_STYLE}</style></head><body>
<h1>djgc run history</h1>
<p>The last ${entries.length} finished run(s) in <code>${escape(where)}</code>. ${summary}</p>
<h2>Orphaned and freed bytes per run</h2>
${entries.length > 0 ? bytesChart(entries) : '<p>Nothing to show.</p>'}
<table><tr><th>finished (UTC)</th><th>run</th><th>status</th><th>mode</th><th>orphaned</th><th>bytes</th><th>deleted</th><th>freed</th><th>orphaned $/month</th><th>freed $/month</th><th>request cost</th><th>errors</th></tr>
${rows}
</table>
<p class="note">complete: every shard reported, no errors; partial: a shard failed or the run timed out; failed: the run reported errors, and the scope they name removed nothing. Costs in USD at the configured prices.</p>
</body></html>
`;
}
