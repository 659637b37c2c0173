/** What the report page and the history page share: escaping and one stylesheet (no scripts, no external assets). */
export const escapeHtml = (text: string): string =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

export const PAGE_STYLE = `
body{font-family:system-ui,sans-serif;margin:2rem;color:#222;max-width:1200px}
table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:right}
td:first-child,td:nth-child(2),th{text-align:left}td{white-space:nowrap}td code{font-size:.85em}
.status-OK,.status-complete{color:#1e7e34}.status-ERRORS,.status-PARTIAL,.status-failed{color:#c0392b}.status-partial{color:#b9770e}
svg text{font-size:12px}nav{margin:.5rem 0 1rem}nav a{margin-right:1rem}
.note{color:#555;font-size:.9rem}
`;

export const STATUS_COLORS: Record<string, string> = { complete: '#1e7e34', partial: '#e67e22', failed: '#c0392b' };
