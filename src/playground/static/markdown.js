// Discord's markdown subset, to HTML, for message content, embed text and modal text displays. Everything
// from a message is escaped first; only the tags made here reach the page. Mentions show names, not ids.
//
//   **bold** *italic* _italic_ __underline__ ~~strike~~ ||spoiler|| `code` ```blocks```
//   > quote, # / ## / ### headings, -# subtext, - lists, [masked](https://links), bare https:// links
//   <@user> <#channel> <@&role> <t:unix:style> <:custom:emoji>, and backslash escapes (\* shows *)

const ESC = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export const escapeHtml = (s) => String(s).replace(/[&<>"']/g, (c) => ESC[c]);

/**
 * @param {string} text
 * @param {{ userName?: (id: string) => string, channelName?: (id: string) => string, links?: boolean }} ctx
 */
export function markdown(text, ctx = {}) {
  const slots = [];
  const hold = (html) => `\u0000${slots.push(html) - 1}\u0001`;
  let s = String(text ?? '');

  // One left-to-right pass, as Discord's parser reads: code keeps its backslashes (`\*` shows \*), and
  // elsewhere a backslash before any symbol shows the symbol as typed (\* shows *, \<@1> shows <@1>).
  s = s.replace(/```(?:([a-z0-9_+-]+)\n)?\n?([\s\S]*?)```|``([^`]+?)``|`([^`\n]+?)`|\\([^0-9A-Za-z\s])/gi, (_, _lang, block, a, b, escaped) => {
    if (block !== undefined) return hold(`<pre class="md-codeblock"><code>${escapeHtml(block.replace(/\n$/, ''))}</code></pre>`);
    if (escaped !== undefined) return hold(escapeHtml(escaped));
    return hold(`<code class="md-code">${escapeHtml(a ?? b)}</code>`);
  });
  s = s.replace(/<@!?(\d{1,25})>/g, (_, id) => hold(`<span class="mention" data-user-id="${id}">@${escapeHtml(ctx.userName?.(id) ?? 'unknown-user')}</span>`));
  s = s.replace(/<#(\d{1,25})>/g, (_, id) => hold(`<span class="mention channel-mention">#${escapeHtml(ctx.channelName?.(id) ?? 'unknown')}</span>`));
  s = s.replace(/<@&(\d{1,25})>/g, () => hold('<span class="mention">@role</span>'));
  s = s.replace(/<t:(-?\d{1,13})(?::([tTdDfFR]))?>/g, (_, unix, style) => hold(timestampHtml(Number(unix), style ?? 'f')));
  s = s.replace(/<a?:(\w{1,32}):\d{1,25}>/g, (_, name) => hold(`<span class="custom-emoji">:${escapeHtml(name)}:</span>`));
  s = s.replace(/@(everyone|here)\b/g, (_, who) => hold(`<span class="mention">@${who}</span>`));
  if (ctx.links !== false) {
    s = s.replace(/\[([^\]\n]{1,256})\]\(<?(https?:\/\/[^\s)<>]+)>?\)/g, (_, label, url) => hold(link(url, escapeHtml(label))));
    s = s.replace(/<?(https?:\/\/[^\s<>]*[^\s<>.,;:!?)"'\]])>?/g, (_, url) => hold(link(url, escapeHtml(url))));
  }
  s = escapeHtml(s);

  const out = [];
  let list = null;
  let quote = null;
  const flush = () => {
    if (list) out.push(`<ul class="md-list">${list.join('')}</ul>`);
    if (quote) out.push(`<blockquote class="md-quote">${quote.join('<br>')}</blockquote>`);
    list = null;
    quote = null;
  };
  for (const line of s.split('\n')) {
    let m;
    if ((m = /^&gt;\s(.*)$/.exec(line)) || line === '&gt;') {
      if (list) flush();
      quote ??= [];
      quote.push(inline(m ? m[1] : ''));
      continue;
    }
    if ((m = /^\s*[-*]\s+(.*)$/.exec(line)) && !/^-#\s/.test(line)) {
      if (quote) flush();
      list ??= [];
      list.push(`<li>${inline(m[1])}</li>`);
      continue;
    }
    flush();
    if ((m = /^(#{1,3})\s+(.*)$/.exec(line))) out.push(`<div class="md-h${m[1].length}">${inline(m[2])}</div>`);
    else if ((m = /^-#\s+(.*)$/.exec(line))) out.push(`<div class="md-subtext">${inline(m[1])}</div>`);
    else out.push(`<div class="md-line">${inline(line) || '<br>'}</div>`);
  }
  flush();
  let html = out.join('');
  // Slots can hold slots (a masked link's label); a few passes resolve them.
  for (let i = 0; i < 3 && html.includes('\u0000'); i++) html = html.replace(/\u0000(\d+)\u0001/g, (_, n) => slots[Number(n)] ?? '');
  return html;
}

function inline(s) {
  return s
    .replace(/\*\*\*(.+?)\*\*\*/g, '<strong><em>$1</em></strong>')
    .replace(/\*\*(.+?)\*\*/g, '<strong>$1</strong>')
    .replace(/__(.+?)__/g, '<u>$1</u>')
    .replace(/(^|[^*\w])\*(?!\s)([^*]+?)\*(?![*\w])/g, '$1<em>$2</em>')
    .replace(/(^|[^\w])_(?!\s)([^_]+?)_(?!\w)/g, '$1<em>$2</em>')
    .replace(/~~(.+?)~~/g, '<s>$1</s>')
    .replace(/\|\|(.+?)\|\|/g, '<span class="spoiler" tabindex="0">$1</span>');
}

function link(url, label) {
  return `<a href="${escapeHtml(url)}" target="_blank" rel="noopener noreferrer">${label}</a>`;
}

function timestampHtml(unix, style) {
  const date = new Date(unix * 1000);
  if (Number.isNaN(date.getTime())) return '<span class="timestamp">invalid date</span>';
  return `<time class="timestamp" data-ts="${unix}" data-style="${style}" datetime="${date.toISOString()}" title="${escapeHtml(formatTimestamp(unix, 'F'))}">${escapeHtml(formatTimestamp(unix, style))}</time>`;
}

/** Discord's timestamp styles: t T d D f F R. */
export function formatTimestamp(unix, style = 'f', now = Date.now()) {
  const date = new Date(unix * 1000);
  switch (style) {
    case 't':
      return date.toLocaleTimeString(undefined, { hour: 'numeric', minute: '2-digit' });
    case 'T':
      return date.toLocaleTimeString(undefined, { hour: 'numeric', minute: '2-digit', second: '2-digit' });
    case 'd':
      return date.toLocaleDateString(undefined, { year: 'numeric', month: '2-digit', day: '2-digit' });
    case 'D':
      return date.toLocaleDateString(undefined, { year: 'numeric', month: 'long', day: 'numeric' });
    case 'F':
      return date.toLocaleString(undefined, { weekday: 'long', year: 'numeric', month: 'long', day: 'numeric', hour: 'numeric', minute: '2-digit' });
    case 'R':
      return relative(date.getTime() - now);
    default:
      return date.toLocaleString(undefined, { year: 'numeric', month: 'long', day: 'numeric', hour: 'numeric', minute: '2-digit' });
  }
}

function relative(ms) {
  const units = [
    ['year', 365 * 24 * 3600e3],
    ['month', 30 * 24 * 3600e3],
    ['day', 24 * 3600e3],
    ['hour', 3600e3],
    ['minute', 60e3],
    ['second', 1e3],
  ];
  const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
  for (const [unit, size] of units) {
    if (Math.abs(ms) >= size || unit === 'second') return rtf.format(Math.round(ms / size), unit);
  }
  return '';
}
