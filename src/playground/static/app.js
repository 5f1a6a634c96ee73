// The playground page: one guild, its channels and members, the messages the bot sends (embeds, files,
// buttons), the modals it opens and a message box for its slash commands. It acts only through the playground's
// HTTP routes (slash / click / modal) and learns everything from its WebSocket; no build step, no framework.
import { markdown, formatTimestamp } from './markdown.js';
import { analyze, ATTACHMENT_PLACEHOLDER, autocompleteQuery, buildCommand, optionHint, visibleCommands } from './slash.js';

const $ = (id) => document.getElementById(id);
const el = (tag, className, text) => {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
};

const MEMBER_COLORS = ['#f47fff', '#43b581', '#faa61a', '#5cb8ff', '#ed4245', '#b9bbbe'];
const EPHEMERAL = 1 << 6;

const state = {
  guild: null,
  bot: null,
  commands: [],
  status: { bot: 'offline', worker: 'starting' },
  me: null,
  channelId: null,
  /** channel id -> Map(message id -> message), in id order */
  channels: new Map(),
  unread: new Set(),
  dismissed: new Set(),
  dismissedModals: new Set(),
  modal: null,
  /** The File picked with 📎 for the next command, or null. */
  attachment: null,
  /** interaction id -> timer that reports "did not respond" */
  pending: new Map(),
  ws: null,
  connected: false,
  popupIndex: 0,
  suggestions: [],
  suggestionRange: [0, 0],
  suggestionKind: null,
  suggestionsFromBot: false,
  /** The bot's autocomplete: the query last sent, the option its choices are for, and the text a pick left. */
  autocomplete: { key: null, option: null, choices: [], timer: null, picked: null },
  stickToBottom: true,
};

// ---- helpers ------------------------------------------------------------------------------------------------

function member(id) {
  return state.guild?.members.find((m) => m.id === id);
}

function displayName(id) {
  if (state.bot && id === state.bot.id) return state.bot.username;
  const m = member(id);
  return m ? (m.globalName ?? m.username) : 'unknown-user';
}

function channelName(id) {
  return state.guild?.channels.find((c) => c.id === id)?.name ?? 'unknown';
}

const mdCtx = { userName: displayName, channelName };

function colorFor(id) {
  const index = state.guild?.members.findIndex((m) => m.id === id) ?? -1;
  return index >= 0 ? MEMBER_COLORS[index % MEMBER_COLORS.length] : '#949ba4';
}

function avatar(id, size = 40) {
  const node = el('div', 'avatar');
  node.style.width = node.style.height = `${size}px`;
  if (state.bot && id === state.bot.id) {
    node.classList.add('avatar-bot');
    node.textContent = 'lw';
  } else {
    node.style.background = colorFor(id);
    node.textContent = displayName(id).slice(0, 1).toUpperCase();
  }
  return node;
}

function compareIds(a, b) {
  return a.length !== b.length ? a.length - b.length : a < b ? -1 : a > b ? 1 : 0;
}

function myPermissions() {
  return member(state.me)?.permissions ?? '0';
}

function myCommands() {
  return visibleCommands(state.commands, myPermissions());
}

// ---- WebSocket ----------------------------------------------------------------------------------------------

let reconnectDelay = 250;

function connect() {
  const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/playground/ws`);
  state.ws = ws;
  ws.addEventListener('open', () => {
    reconnectDelay = 250;
  });
  ws.addEventListener('message', (event) => {
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      return;
    }
    onServerMessage(message);
  });
  ws.addEventListener('close', () => {
    state.connected = false;
    renderConnection();
    setTimeout(connect, reconnectDelay);
    reconnectDelay = Math.min(5000, reconnectDelay * 2);
  });
}

function send(payload) {
  if (state.ws?.readyState === WebSocket.OPEN) state.ws.send(JSON.stringify(payload));
}

function onServerMessage(message) {
  switch (message.t) {
    case 'hello': {
      state.guild = message.guild;
      state.bot = message.bot;
      state.commands = message.commands ?? [];
      state.status = message.status ?? state.status;
      const stored = localStorage.getItem('latentwalk.playground.member');
      const byQuery = new URLSearchParams(location.search).get('as');
      const wanted = state.guild.members.find((m) => m.username === byQuery || m.id === byQuery)?.id ?? stored;
      state.me = state.guild.members.some((m) => m.id === wanted) ? wanted : state.guild.members[0]?.id;
      const storedChannel = localStorage.getItem('latentwalk.playground.channel');
      state.channelId = state.guild.channels.some((c) => c.id === state.channelId)
        ? state.channelId
        : state.guild.channels.some((c) => c.id === storedChannel)
          ? storedChannel
          : state.guild.channels[0]?.id;
      state.connected = true;
      renderShell();
      send({ t: 'viewer', userId: state.me });
      break;
    }
    case 'snapshot': {
      if (message.viewer !== state.me) return;
      state.channels = new Map();
      for (const [channelId, list] of Object.entries(message.channels)) {
        const map = new Map();
        for (const m of list) map.set(m.id, m);
        state.channels.set(channelId, map);
      }
      renderMessages(true);
      const modal = (message.modals ?? []).filter((m) => !state.dismissedModals.has(m.interactionId)).at(-1);
      if (modal) openModal(modal);
      else closeModal(false);
      break;
    }
    case 'message':
      upsertMessage(message.message);
      break;
    case 'delete': {
      state.channels.get(message.channelId)?.delete(message.id);
      document.querySelector(`[data-message-id="${CSS.escape(message.id)}"]`)?.remove();
      break;
    }
    case 'commands':
      state.commands = message.commands ?? [];
      refreshComposer();
      break;
    case 'modal':
      if (message.modal.userId === state.me) openModal(message.modal);
      break;
    case 'ack': {
      const timer = state.pending.get(message.interactionId);
      if (timer) clearTimeout(timer);
      state.pending.delete(message.interactionId);
      for (const button of document.querySelectorAll(`[data-interaction="${CSS.escape(message.interactionId)}"]`)) {
        button.classList.remove('loading');
        button.removeAttribute('data-interaction');
      }
      break;
    }
    case 'status':
      state.status = message.status;
      renderStatus();
      renderMembers();
      break;
  }
}

// ---- the shell: channels, members, switch ----------------------------------------------------------------

function renderShell() {
  $('guild-name').textContent = state.guild.name;
  $('server-icon').textContent = state.guild.name
    .split(/\s+/)
    .map((w) => w[0])
    .join('')
    .slice(0, 3);
  renderChannels();
  renderMemberSwitch();
  renderMembers();
  renderStatus();
  renderConnection();
  renderHeader();
  refreshComposer();
}

function renderConnection() {
  const node = $('connection');
  node.hidden = state.connected;
  node.textContent = 'reconnecting…';
}

function renderChannels() {
  const list = $('channels');
  list.replaceChildren();
  for (const channel of state.guild.channels) {
    const item = el('li');
    const button = el('button', 'channel');
    button.type = 'button';
    button.dataset.channel = channel.name;
    button.append(el('span', 'hash', '#'), el('span', 'channel-label', channel.name));
    if (channel.id === state.channelId) button.classList.add('active');
    if (state.unread.has(channel.id)) button.classList.add('unread');
    button.addEventListener('click', () => selectChannel(channel.id));
    item.append(button);
    list.append(item);
  }
}

function selectChannel(id) {
  if (id === state.channelId) return;
  state.channelId = id;
  state.unread.delete(id);
  localStorage.setItem('latentwalk.playground.channel', id);
  renderChannels();
  renderHeader();
  renderMessages(true);
  refreshComposer();
  $('input').focus();
}

function renderHeader() {
  const channel = state.guild.channels.find((c) => c.id === state.channelId);
  $('channel-name').textContent = channel?.name ?? '';
  $('input').placeholder = `Message #${channel?.name ?? ''} — type / for the bot's commands`;
}

function renderMemberSwitch() {
  const list = $('member-switch');
  list.replaceChildren();
  for (const m of state.guild.members) {
    const button = el('button', 'member-choice');
    button.type = 'button';
    button.dataset.member = m.username;
    button.setAttribute('role', 'radio');
    button.setAttribute('aria-checked', String(m.id === state.me));
    button.title = `Act as ${m.globalName ?? m.username}`;
    if (m.id === state.me) button.classList.add('active');
    button.append(avatar(m.id, 28), el('span', 'member-choice-name', m.globalName ?? m.username));
    button.addEventListener('click', () => switchMember(m.id));
    list.append(button);
  }
}

function switchMember(id) {
  if (id === state.me) return;
  state.me = id;
  localStorage.setItem('latentwalk.playground.member', id);
  // Answers to the previous member's interactions go to that member's view, not this one.
  for (const timer of state.pending.values()) clearTimeout(timer);
  state.pending.clear();
  closeModal(false);
  showError('');
  renderMemberSwitch();
  renderMembers();
  refreshComposer();
  // What this member sees (their ephemeral messages, their open modals) comes with the snapshot.
  send({ t: 'viewer', userId: id });
  $('input').focus();
}

function renderMembers() {
  if (!state.guild) return;
  const list = $('members');
  list.replaceChildren();
  const online = state.status.bot === 'online';
  const rows = [{ id: state.bot.id, name: state.bot.username, bot: true, online }, ...state.guild.members.map((m) => ({ id: m.id, name: m.globalName ?? m.username, bot: false, online: true }))];
  $('members-online-title').textContent = `Members — ${rows.length}`;
  for (const row of rows) {
    const item = el('li', `member${row.online ? '' : ' offline'}${row.id === state.me ? ' me' : ''}`);
    const pic = avatar(row.id, 32);
    pic.append(el('span', `presence ${row.online ? 'online' : 'offline'}`));
    item.append(pic, el('span', 'member-name', row.name));
    if (row.bot) item.append(el('span', 'bot-tag', 'APP'));
    if (row.id === state.me) item.append(el('span', 'you-tag', 'you'));
    list.append(item);
  }
}

function renderStatus() {
  const node = $('status');
  node.replaceChildren();
  const bot = el('div', `status-row ${state.status.bot === 'online' ? 'ok' : 'bad'}`);
  bot.append(el('span', 'dot'), el('span', '', state.status.bot === 'online' ? 'bot online' : 'bot offline'));
  const worker = el('div', `status-row ${state.status.worker === 'ready' ? 'ok' : state.status.worker === 'starting' ? 'wait' : 'bad'}`);
  const workerText = state.status.worker === 'ready' ? `worker ready${state.status.detail ? ` · ${state.status.detail}` : ''}` : state.status.worker === 'starting' ? 'worker loading its model…' : 'worker stopped';
  worker.append(el('span', 'dot'), el('span', '', workerText));
  node.append(bot, worker);
}

// ---- messages -----------------------------------------------------------------------------------------------

function visible(message) {
  return message.meta.visibleTo === null || message.meta.visibleTo === state.me;
}

function upsertMessage(message) {
  if (!visible(message)) return;
  let map = state.channels.get(message.channel_id);
  if (!map) state.channels.set(message.channel_id, (map = new Map()));
  const isNew = !map.has(message.id);
  map.set(message.id, message);
  if (message.channel_id !== state.channelId) {
    if (isNew) {
      state.unread.add(message.channel_id);
      renderChannels();
    }
    return;
  }
  const container = $('messages-inner');
  const node = renderMessage(message);
  const existing = container.querySelector(`[data-message-id="${CSS.escape(message.id)}"]`);
  const stick = state.stickToBottom;
  if (existing) existing.replaceWith(node);
  else {
    // Insert in id order (an older message can arrive late).
    const after = [...container.querySelectorAll('[data-message-id]')].find((child) => compareIds(child.dataset.messageId, message.id) > 0);
    container.insertBefore(node, after ?? null);
  }
  if (stick) scrollToBottom();
}

function renderMessages(jump) {
  const container = $('messages-inner');
  container.replaceChildren();
  const map = state.channels.get(state.channelId) ?? new Map();
  const list = [...map.values()].filter((m) => visible(m) && !state.dismissed.has(m.id)).sort((a, b) => compareIds(a.id, b.id));
  const channel = state.guild.channels.find((c) => c.id === state.channelId);
  const welcome = el('div', 'welcome');
  welcome.append(el('div', 'welcome-hash', '#'), el('h2', '', `Welcome to #${channel?.name ?? ''}!`));
  const hint = el('p');
  hint.innerHTML = markdown('Type `/` to see what the bot can do, e.g. `/morph from:a red circle to:a blue square`, or start a `/grid` or `/chain` board and fill it as different members.', mdCtx);
  welcome.append(hint);
  container.append(welcome);
  for (const message of list) container.append(renderMessage(message));
  if (jump) {
    state.stickToBottom = true;
    scrollToBottom();
  }
}

function scrollToBottom() {
  const box = $('messages');
  box.scrollTop = box.scrollHeight;
}

function renderMessage(message) {
  const article = el('article', 'message');
  article.dataset.messageId = message.id;
  const ephemeral = message.meta.visibleTo !== null || (message.flags & EPHEMERAL) !== 0;
  if (ephemeral) article.classList.add('ephemeral');
  // Highlighted only when it pinged this member (the bot allows no pings, so its mentions never do).
  if (message.mentions?.some((u) => u.id === state.me)) article.classList.add('mentioned');

  const meta = message.interaction_metadata;
  if (meta && meta.type === 2 && meta.name) {
    const context = el('div', 'reply-context');
    context.append(el('span', 'reply-spine'), avatar(meta.user.id, 16), el('span', 'reply-name', displayName(meta.user.id)), el('span', 'reply-used', ' used '), el('span', 'reply-command', `/${meta.name}`));
    article.append(context);
  } else if (message.referenced_message) {
    const context = el('div', 'reply-context');
    const ref = message.referenced_message;
    context.append(el('span', 'reply-spine'), avatar(ref.author.id, 16), el('span', 'reply-name', displayName(ref.author.id)), el('span', 'reply-used', ` ${stripMarkdown(ref.content).slice(0, 80)}`));
    article.append(context);
  }

  const row = el('div', 'message-row');
  row.append(avatar(message.author.id));
  const body = el('div', 'message-body');
  const header = el('header', 'message-header');
  header.append(el('span', 'author', displayName(message.author.id)));
  if (message.author.bot || message.author.id === state.bot?.id) header.append(el('span', 'bot-tag', 'APP'));
  const time = el('time', 'message-time', formatTime(message.timestamp));
  time.dateTime = message.timestamp;
  time.title = new Date(message.timestamp).toLocaleString();
  header.append(time);
  body.append(header);

  if (message.meta.loading) {
    body.append($('thinking-template').content.cloneNode(true));
  } else if (message.content) {
    const content = el('div', 'message-content markdown');
    content.innerHTML = markdown(message.content, mdCtx);
    body.append(content);
  }

  // Files an embed shows as its image are not shown twice.
  const usedByEmbeds = new Set();
  for (const embed of message.embeds ?? []) {
    if (embed.image?.url) usedByEmbeds.add(embed.image.url);
    if (embed.thumbnail?.url) usedByEmbeds.add(embed.thumbnail.url);
  }
  const files = (message.attachments ?? []).filter((a) => !usedByEmbeds.has(a.url));
  if (files.length) body.append(renderAttachments(files));
  if (!(message.flags & 4)) for (const embed of message.embeds ?? []) body.append(renderEmbed(embed, message));
  if (message.components?.length) body.append(renderComponents(message.components, message));
  if (ephemeral) {
    const note = el('div', 'ephemeral-note');
    note.append(el('span', 'eye', '👁'), el('span', '', ' Only you can see this • '));
    const dismiss = el('button', 'link-button', 'Dismiss message');
    dismiss.type = 'button';
    dismiss.addEventListener('click', () => {
      state.dismissed.add(message.id);
      article.remove();
    });
    note.append(dismiss);
    body.append(note);
  }
  row.append(body);
  article.append(row);
  return article;
}

function stripMarkdown(text) {
  return String(text ?? '')
    .replace(/<@!?(\d+)>/g, (_, id) => `@${displayName(id)}`)
    .replace(/[*_`~|]/g, '');
}

function formatTime(iso) {
  const date = new Date(iso);
  const today = new Date();
  const time = date.toLocaleTimeString(undefined, { hour: 'numeric', minute: '2-digit' });
  return date.toDateString() === today.toDateString() ? `Today at ${time}` : `${date.toLocaleDateString()} ${time}`;
}

/** Small renders are shown larger (the model makes 64×64 pictures), never larger than the column. */
function displaySize(width, height, max = 400) {
  if (!width || !height) return null;
  let scale = width < 256 ? Math.min(4, 256 / width) : 1;
  if (width * scale > max) scale = max / width;
  return { width: Math.round(width * scale), height: Math.round(height * scale) };
}

function image(url, width, height, alt, max) {
  const img = el('img', 'media');
  img.src = url;
  img.alt = alt ?? '';
  img.loading = 'eager';
  img.decoding = 'async';
  const size = displaySize(width, height, max);
  if (size) {
    img.width = size.width;
    img.height = size.height;
  }
  img.addEventListener('load', () => {
    if (state.stickToBottom) scrollToBottom();
  });
  return img;
}

function video(url, width, height, label) {
  const node = el('video', 'media attachment-video');
  node.src = url;
  node.muted = true;
  node.loop = true;
  node.autoplay = true;
  node.controls = true;
  node.playsInline = true;
  node.preload = 'auto';
  node.setAttribute('aria-label', label ?? 'video');
  const size = displaySize(width, height, 400);
  if (size) {
    node.width = size.width;
    node.height = size.height;
  }
  node.addEventListener('loadeddata', () => {
    if (state.stickToBottom) scrollToBottom();
  });
  return node;
}

function renderAttachments(files) {
  const box = el('div', 'attachments');
  for (const file of files) {
    if ((file.content_type ?? '').startsWith('video/')) {
      // Discord plays a video attachment inline; our results loop by their own frames (ping-pong), so loop here.
      box.append(video(file.url, file.width, file.height, file.description ?? file.filename));
    } else if ((file.content_type ?? '').startsWith('image/')) {
      const link = el('a', 'attachment-image');
      link.href = file.url;
      link.target = '_blank';
      link.rel = 'noopener';
      link.append(image(file.url, file.width, file.height, file.description ?? file.filename));
      box.append(link);
    } else {
      const card = el('a', 'attachment-file');
      card.href = file.url;
      card.download = file.filename;
      card.append(el('span', 'file-icon', '📄'), el('span', 'file-name', file.filename), el('span', 'file-size', formatBytes(file.size)));
      box.append(card);
    }
  }
  return box;
}

function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(2)} MB`;
}

function renderEmbed(embed, message) {
  const box = el('div', 'embed');
  if (typeof embed.color === 'number') box.style.borderLeftColor = `#${embed.color.toString(16).padStart(6, '0')}`;
  const grid = el('div', 'embed-grid');
  if (embed.author?.name) {
    const author = el('div', 'embed-author');
    author.textContent = embed.author.name;
    grid.append(author);
  }
  if (embed.title) {
    const title = el(embed.url ? 'a' : 'div', 'embed-title');
    title.innerHTML = markdown(embed.title, { ...mdCtx, links: false });
    if (embed.url && /^https?:/.test(embed.url)) {
      title.href = embed.url;
      title.target = '_blank';
      title.rel = 'noopener noreferrer';
    }
    grid.append(title);
  }
  if (embed.description) {
    const description = el('div', 'embed-description markdown');
    description.innerHTML = markdown(embed.description, mdCtx);
    grid.append(description);
  }
  if (embed.fields?.length) {
    const fields = el('div', 'embed-fields');
    // Discord's layout: up to three inline fields share a row; a non-inline field takes a row of its own.
    let rowCount = 0;
    for (const field of embed.fields) {
      const node = el('div', 'embed-field');
      node.dataset.field = field.name;
      if (field.inline) {
        node.classList.add('inline');
        rowCount = (rowCount % 3) + 1;
      } else rowCount = 0;
      const name = el('div', 'embed-field-name');
      name.innerHTML = markdown(field.name, { ...mdCtx, links: false });
      const value = el('div', 'embed-field-value markdown');
      value.innerHTML = markdown(field.value, mdCtx);
      node.append(name, value);
      fields.append(node);
    }
    grid.append(fields);
  }
  if (embed.image?.url) {
    const attachment = message.attachments?.find((a) => a.url === embed.image.url);
    const wrap = el('a', 'embed-image');
    wrap.href = embed.image.url;
    wrap.target = '_blank';
    wrap.rel = 'noopener';
    wrap.append(image(embed.image.url, embed.image.width ?? attachment?.width, embed.image.height ?? attachment?.height, attachment?.filename ?? 'image', 400));
    grid.append(wrap);
  }
  if (embed.thumbnail?.url) {
    box.classList.add('has-thumbnail');
    const thumb = el('div', 'embed-thumbnail');
    thumb.append(image(embed.thumbnail.url, embed.thumbnail.width, embed.thumbnail.height, 'thumbnail', 80));
    box.append(thumb);
  }
  if (embed.footer?.text || embed.timestamp) {
    const footer = el('div', 'embed-footer');
    const parts = [embed.footer?.text, embed.timestamp ? formatTime(embed.timestamp) : undefined].filter(Boolean);
    footer.textContent = parts.join(' • ');
    grid.append(footer);
  }
  box.prepend(grid);
  return box;
}

const BUTTON_STYLES = { 1: 'primary', 2: 'secondary', 3: 'success', 4: 'danger', 5: 'link', 6: 'premium' };

function renderComponents(components, message) {
  const box = el('div', 'components');
  const walk = (list, parent) => {
    for (const c of list) {
      switch (c.type) {
        case 1: {
          const row = el('div', 'action-row');
          walk(c.components ?? [], row);
          parent.append(row);
          break;
        }
        case 2:
          parent.append(renderButton(c, message));
          break;
        case 3:
        case 5:
        case 6:
        case 7:
        case 8: {
          const select = el('div', 'select-menu', c.placeholder ?? 'Make a selection');
          select.title = 'Select menus are not supported in the playground yet';
          parent.append(select);
          break;
        }
        case 9: {
          const section = el('div', 'cv2-section');
          const texts = el('div', 'cv2-section-text');
          walk(c.components ?? [], texts);
          section.append(texts);
          if (c.accessory) walk([c.accessory], section);
          parent.append(section);
          break;
        }
        case 10: {
          const text = el('div', 'cv2-text markdown');
          text.innerHTML = markdown(c.content ?? '', mdCtx);
          parent.append(text);
          break;
        }
        case 11:
          parent.append(image(c.media?.url, c.media?.width, c.media?.height, c.description ?? '', 80));
          break;
        case 12: {
          const gallery = el('div', 'cv2-gallery');
          for (const item of c.items ?? []) gallery.append(image(item.media?.url, item.media?.width, item.media?.height, item.description ?? '', 400));
          parent.append(gallery);
          break;
        }
        case 14:
          parent.append(el('hr', `cv2-separator${c.divider === false ? ' invisible' : ''}`));
          break;
        case 17: {
          const container = el('div', 'cv2-container');
          if (typeof c.accent_color === 'number') container.style.borderLeftColor = `#${c.accent_color.toString(16).padStart(6, '0')}`;
          walk(c.components ?? [], container);
          parent.append(container);
          break;
        }
        default:
          break;
      }
    }
  };
  walk(components, box);
  return box;
}

function renderButton(c, message) {
  const style = BUTTON_STYLES[c.style] ?? 'secondary';
  if (style === 'link' && c.url) {
    const a = el('a', 'button button-link');
    a.href = c.url;
    a.target = '_blank';
    a.rel = 'noopener noreferrer';
    a.append(buttonLabel(c), el('span', 'external', '↗'));
    return a;
  }
  const button = el('button', `button button-${style}`);
  button.type = 'button';
  button.disabled = c.disabled === true || !c.custom_id;
  if (c.custom_id) button.dataset.customId = c.custom_id;
  button.append(buttonLabel(c));
  button.addEventListener('click', () => clickButton(message, c.custom_id, button));
  return button;
}

function buttonLabel(c) {
  const span = el('span', 'button-label');
  if (c.emoji?.name && !c.emoji.id) span.append(el('span', 'button-emoji', c.emoji.name));
  else if (c.emoji?.name) span.append(el('span', 'button-emoji', `:${c.emoji.name}:`));
  if (c.label) span.append(el('span', '', c.label));
  return span;
}

// ---- acting: buttons, modals, commands --------------------------------------------------------------------

async function post(route, body) {
  const response = await fetch(`/playground/api/${route}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ userId: state.me, ...body }),
  });
  const data = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
  if (!response.ok) throw new Error(data.error ?? `HTTP ${response.status}`);
  return data;
}

/** Discord says "The application did not respond" when the bot does not answer within 3 seconds. */
function expectResponse(result, onTimeout) {
  if (result.delivered === 0) {
    onTimeout('latentwalk is offline: the bot is not connected.');
    return;
  }
  const timer = setTimeout(() => {
    state.pending.delete(result.interactionId);
    onTimeout('The application did not respond.');
  }, 3500);
  state.pending.set(result.interactionId, timer);
}

async function clickButton(message, customId, button) {
  if (!customId) return;
  button.classList.add('loading');
  try {
    const result = await post('click', { messageId: message.id, customId });
    button.dataset.interaction = result.interactionId;
    expectResponse(result, (text) => {
      button.classList.remove('loading');
      flashInteractionError(message.id, text);
    });
  } catch (error) {
    button.classList.remove('loading');
    flashInteractionError(message.id, `This interaction failed: ${error.message}`);
  }
}

function flashInteractionError(messageId, text) {
  const article = document.querySelector(`[data-message-id="${CSS.escape(messageId)}"]`);
  if (!article) return showError(text);
  article.querySelector('.interaction-failed')?.remove();
  const note = el('div', 'interaction-failed', text);
  article.querySelector('.message-body')?.append(note);
  setTimeout(() => note.remove(), 6000);
}

function openModal(modal) {
  state.modal = modal;
  const backdrop = $('modal');
  backdrop.replaceChildren();
  const form = el('form', 'modal');
  form.setAttribute('role', 'dialog');
  form.setAttribute('aria-modal', 'true');
  form.dataset.customId = modal.modal.custom_id;
  const header = el('header', 'modal-header');
  const title = el('h2', 'modal-title', modal.modal.title ?? '');
  title.id = 'modal-title';
  form.setAttribute('aria-labelledby', 'modal-title');
  const close = el('button', 'modal-close', '×');
  close.type = 'button';
  close.setAttribute('aria-label', 'Close');
  close.addEventListener('click', () => closeModal(true));
  const who = el('div', 'modal-app');
  who.append(avatar(state.bot.id, 20), el('span', '', state.bot.username));
  header.append(who, title, close);
  const body = el('div', 'modal-body');
  let first = null;
  const field = (input, label, description) => {
    const wrap = el('label', 'modal-field');
    const name = el('span', 'modal-label', label ?? '');
    if (input.required) name.append(el('span', 'required', ' *'));
    wrap.append(name);
    if (description) wrap.append(el('span', 'modal-description', description));
    const control = input.style === 2 ? el('textarea', 'modal-input paragraph') : el('input', 'modal-input');
    control.name = input.custom_id;
    if (input.placeholder) control.placeholder = input.placeholder;
    if (input.value) control.value = input.value;
    if (input.required !== false) control.required = true;
    // Discord counts code points; the browser's minLength/maxLength count UTF-16 units (an emoji is two), so
    // the limits are kept here: past max_length the text is cut at a code point.
    const length = () => Array.from(control.value).length;
    wrap.append(control);
    if (input.max_length) {
      const counter = el('span', 'modal-counter', `${length()}/${input.max_length}`);
      control.addEventListener('input', () => {
        if (length() > input.max_length) control.value = Array.from(control.value).slice(0, input.max_length).join('');
        counter.textContent = `${length()}/${input.max_length}`;
      });
      wrap.append(counter);
    }
    first ??= control;
    return wrap;
  };
  for (const c of modal.modal.components ?? []) {
    if (c.type === 18 && c.component?.type === 4) {
      body.append(field(c.component, c.label, c.description));
    } else if (c.type === 1) {
      for (const input of c.components ?? []) {
        if (input.type === 4) body.append(field(input, input.label));
      }
    } else if (c.type === 10) {
      const text = el('div', 'cv2-text markdown');
      text.innerHTML = markdown(c.content ?? '', mdCtx);
      body.append(text);
    } else if (c.type === 18 && c.component?.type === 19) {
      // A file upload: the files are uploaded on submit, as Discord's client does, and their ids sent.
      const wrap = el('label', 'modal-field');
      wrap.append(el('span', 'modal-label', c.label ?? ''));
      if (c.description) wrap.append(el('span', 'modal-description', c.description));
      const control = el('input', 'modal-file');
      control.type = 'file';
      control.name = c.component.custom_id;
      if ((c.component.max_values ?? 1) > 1) control.multiple = true;
      if (c.component.required !== false) control.required = true;
      wrap.append(control);
      body.append(wrap);
    } else if (c.type === 18) {
      body.append(el('div', 'modal-unsupported', `${c.label ?? 'A field'}: not supported in the playground yet`));
    }
  }
  const error = el('div', 'modal-error');
  error.hidden = true;
  const footer = el('footer', 'modal-footer');
  const cancel = el('button', 'button-plain', 'Cancel');
  cancel.type = 'button';
  cancel.addEventListener('click', () => closeModal(true));
  const submit = el('button', 'button button-primary modal-submit', 'Submit');
  submit.type = 'submit';
  footer.append(cancel, submit);
  form.append(header, body, error, footer);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const fields = {};
    for (const control of form.querySelectorAll('.modal-input')) fields[control.name] = control.value;
    submit.disabled = true;
    try {
      for (const control of form.querySelectorAll('.modal-file')) {
        const ids = [];
        for (const file of control.files ?? []) {
          const uploaded = await post('upload', { channelId: state.channelId, filename: file.name, contentType: file.type, data: await base64Of(file) });
          ids.push(uploaded.id);
        }
        if (ids.length) fields[control.name] = ids;
      }
      const result = await post('modal', { customId: modal.modal.custom_id, fields });
      const sourceId = modal.messageId;
      state.dismissedModals.add(modal.interactionId);
      closeModal(false);
      expectResponse(result, (text) => (sourceId ? flashInteractionError(sourceId, text) : showError(text)));
    } catch (err) {
      error.hidden = false;
      error.textContent = err.message;
      submit.disabled = false;
    }
  });
  form.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') closeModal(true);
  });
  backdrop.append(form);
  backdrop.hidden = false;
  first?.focus();
}

function closeModal(dismiss) {
  if (dismiss && state.modal) state.dismissedModals.add(state.modal.interactionId);
  state.modal = null;
  $('modal').hidden = true;
  $('modal').replaceChildren();
}

async function sendCommand() {
  const input = $('input');
  const text = input.value;
  if (!text.trim()) return;
  const ctx = { channels: state.guild.channels, members: state.guild.members, attachment: state.attachment?.name };
  const built = buildCommand(text, myCommands(), ctx);
  if (!built.ok) {
    showError(built.errors[0]);
    return;
  }
  showError('');
  try {
    // A picked file is uploaded first, as Discord's client does, and the option carries its attachment id.
    const file = state.attachment;
    const placeholders = flatOptions(built.options).filter((o) => o.value === ATTACHMENT_PLACEHOLDER);
    if (file && placeholders.length) {
      const uploaded = await post('upload', { channelId: state.channelId, filename: file.name, contentType: file.type, data: await base64Of(file) });
      for (const o of placeholders) o.value = uploaded.id;
    }
    const result = await post('slash', { channelId: state.channelId, name: built.name, options: built.options });
    setAttachment(null);
    input.value = '';
    autosize();
    refreshComposer();
    expectResponse(result, (message) => showError(message));
  } catch (error) {
    showError(error.message);
  }
}

function flatOptions(options) {
  return (options ?? []).flatMap((o) => [o, ...flatOptions(o.options)]);
}

async function base64Of(file) {
  const bytes = new Uint8Array(await file.arrayBuffer());
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

/** The file picked with 📎 for the next command (null: none), shown under the message box. */
function setAttachment(file) {
  state.attachment = file;
  $('attached').hidden = !file;
  $('attached-name').textContent = file ? `📎 ${file.name} (${Math.ceil(file.size / 1024)} KiB)` : '';
  if (!file) $('attach-file').value = '';
}

function showError(text) {
  const node = $('composer-error');
  node.hidden = !text;
  node.textContent = text;
}

// ---- the message box ---------------------------------------------------------------------------------------

function ctxForSlash() {
  return { channels: state.guild?.channels ?? [], members: state.guild?.members ?? [] };
}

function refreshComposer() {
  if (!state.guild) return;
  const input = $('input');
  const caret = input.selectionStart ?? input.value.length;
  const analysis = analyze(input.value, caret, myCommands(), ctxForSlash());
  withBotChoices(analysis, input.value, caret);
  renderPopup(analysis);
  renderOptionBar(analysis);
}

/**
 * Options the bot completes (registered with autocomplete): after a short pause in typing, ask the bot (an
 * autocomplete interaction, as Discord's client sends) and show its choices in the list; the last choices for
 * the same option stay up until the new ones come. Picking one ends it until the member types again.
 */
function withBotChoices(analysis, text, caret) {
  const ac = state.autocomplete;
  const query = analysis.kind === 'options' && analysis.autocomplete ? autocompleteQuery(text, caret, myCommands(), ctxForSlash()) : null;
  if (!query || text === ac.picked) {
    clearTimeout(ac.timer);
    ac.key = null;
    if (!query) ac.option = null;
    return;
  }
  ac.picked = null;
  const option = `${query.name} ${query.option}`;
  if (ac.option === option && ac.choices.length) {
    analysis.suggestions = ac.choices.map((c) => ({ insert: `${c.value} `, label: c.name, description: '', value: c.value }));
    analysis.range = query.range;
    analysis.fromBot = true;
  }
  const key = JSON.stringify([state.me, state.channelId, query.name, query.options]);
  if (ac.key === key) return;
  ac.key = key;
  clearTimeout(ac.timer);
  ac.timer = setTimeout(async () => {
    try {
      const result = await post('autocomplete', { channelId: state.channelId, name: query.name, options: query.options });
      if (ac.key !== key) return;
      ac.option = option;
      ac.choices = Array.isArray(result.choices) ? result.choices : [];
      refreshComposer();
    } catch {
      // No answer is no list, as in Discord.
    }
  }, 150);
}

function renderPopup(analysis) {
  const popup = $('popup');
  const suggestions = analysis.suggestions ?? [];
  const previous = state.suggestions.map((s) => s.label).join('\n');
  state.suggestions = suggestions;
  state.suggestionRange = analysis.range ?? [0, 0];
  state.suggestionKind = analysis.kind;
  state.suggestionsFromBot = Boolean(analysis.fromBot);
  if (previous !== suggestions.map((s) => s.label).join('\n')) state.popupIndex = 0;
  if (!suggestions.length) {
    popup.hidden = true;
    popup.replaceChildren();
    return;
  }
  popup.replaceChildren();
  const title =
    analysis.kind === 'commands'
      ? `Commands of ${state.bot.username}`
      : analysis.kind === 'subcommands'
        ? `/${analysis.path.join(' ')}`
        : analysis.suggestions[0]?.option
          ? 'Options — Tab to add'
          : analysis.fromBot
            ? `Suggestions from ${state.bot.username} — Tab to pick`
            : 'Values — Tab to pick';
  popup.append(el('div', 'popup-title', title));
  suggestions.forEach((s, i) => {
    const item = el('div', `popup-item${i === state.popupIndex ? ' selected' : ''}`);
    item.setAttribute('role', 'option');
    item.dataset.value = String(s.value);
    if (analysis.kind === 'commands') item.append(avatar(state.bot.id, 20));
    item.append(el('span', 'popup-label', s.label), el('span', 'popup-description', s.description ?? ''));
    if (analysis.kind === 'commands') item.append(el('span', 'popup-app', state.bot.username));
    item.addEventListener('mousedown', (event) => {
      event.preventDefault();
      state.popupIndex = i;
      acceptSuggestion();
    });
    popup.append(item);
  });
  popup.hidden = false;
}

function renderOptionBar(analysis) {
  const bar = $('option-bar');
  if (analysis.kind === 'unknown' || (analysis.kind === 'commands' && analysis.suggestions.length === 0 && analysis.query)) {
    const name = analysis.kind === 'unknown' ? analysis.name : analysis.query;
    const hidden = analysis.kind === 'unknown' && state.commands.some((c) => c.name === name) ? ' (it needs a permission this member does not have)' : '';
    bar.replaceChildren(el('div', 'option-error', `/${name} is not a command you can use here${hidden}. Type / to see the list.`));
    bar.hidden = false;
    return;
  }
  if (analysis.kind !== 'options' || !analysis.options) {
    bar.hidden = true;
    bar.replaceChildren();
    return;
  }
  bar.replaceChildren();
  const head = el('div', 'option-bar-head');
  head.append(el('span', 'option-bar-command', `/${analysis.path.join(' ')}`), el('span', 'option-bar-description', analysis.leaf.description ?? ''));
  bar.append(head);
  if (analysis.options.length) {
    const chips = el('div', 'option-chips');
    const sorted = [...analysis.options].sort((a, b) => Number(Boolean(b.required)) - Number(Boolean(a.required)));
    for (const option of sorted) {
      const given = analysis.given.get(option.name);
      const chip = el('button', `option-chip${option.required ? ' required' : ''}${given && given.raw ? ' given' : ''}${analysis.active === option.name ? ' active' : ''}`);
      chip.type = 'button';
      chip.dataset.option = option.name;
      chip.append(el('span', 'chip-name', option.name));
      if (given && given.raw) chip.append(el('span', 'chip-value', given.raw.length > 24 ? `${given.raw.slice(0, 23)}…` : given.raw));
      chip.title = `${option.description} (${optionHint(option)})`;
      chip.addEventListener('mousedown', (event) => {
        event.preventDefault();
        insertOption(option.name);
      });
      chips.append(chip);
    }
    bar.append(chips);
    const active = analysis.options.find((o) => o.name === analysis.active);
    if (active) {
      const detail = el('div', 'option-detail');
      detail.append(el('span', 'option-detail-name', `${active.name}${active.required ? ' (required)' : ''}`), el('span', 'option-detail-description', active.description), el('span', 'option-detail-hint', optionHint(active)));
      bar.append(detail);
    }
  } else {
    bar.append(el('div', 'option-detail', 'No options: press Enter to send.'));
  }
  if (analysis.errors?.length) bar.append(el('div', 'option-error', analysis.errors[0]));
  bar.hidden = false;
}

function insertOption(name) {
  const input = $('input');
  const value = input.value.replace(/\s*$/, '');
  input.value = `${value} ${name}:`;
  input.setSelectionRange(input.value.length, input.value.length);
  input.focus();
  autosize();
  refreshComposer();
}

function acceptSuggestion() {
  const s = state.suggestions[state.popupIndex];
  if (!s) return false;
  const input = $('input');
  const [start, end] = state.suggestionRange;
  input.value = input.value.slice(0, start) + s.insert + input.value.slice(end);
  if (state.suggestionsFromBot) state.autocomplete.picked = input.value;
  const caret = start + s.insert.length;
  input.setSelectionRange(caret, caret);
  input.focus();
  autosize();
  refreshComposer();
  return true;
}

function autosize() {
  const input = $('input');
  input.style.height = 'auto';
  input.style.height = `${Math.min(200, input.scrollHeight)}px`;
}

function setupComposer() {
  const input = $('input');
  const form = $('composer');
  input.addEventListener('input', () => {
    showError('');
    autosize();
    refreshComposer();
  });
  input.addEventListener('click', refreshComposer);
  input.addEventListener('keyup', (event) => {
    if (event.key === 'ArrowLeft' || event.key === 'ArrowRight' || event.key === 'Home' || event.key === 'End') refreshComposer();
  });
  input.addEventListener('keydown', (event) => {
    const open = !$('popup').hidden && state.suggestions.length > 0;
    if (open && (event.key === 'ArrowDown' || event.key === 'ArrowUp')) {
      event.preventDefault();
      const n = state.suggestions.length;
      state.popupIndex = (state.popupIndex + (event.key === 'ArrowDown' ? 1 : n - 1)) % n;
      refreshComposer();
      return;
    }
    if (open && event.key === 'Tab') {
      event.preventDefault();
      acceptSuggestion();
      return;
    }
    if (event.key === 'Escape' && open) {
      event.preventDefault();
      $('popup').hidden = true;
      return;
    }
    if (event.key === 'Enter' && !event.shiftKey) {
      event.preventDefault();
      // Choosing a command or subcommand from the list is what Enter does while it is open; for options and
      // values Tab picks, so Enter can send.
      if (open && (state.suggestionKind === 'commands' || state.suggestionKind === 'subcommands')) {
        acceptSuggestion();
        return;
      }
      void sendCommand();
    }
  });
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void sendCommand();
  });
  input.addEventListener('blur', () => setTimeout(() => ($('popup').hidden = true), 150));
  input.addEventListener('focus', refreshComposer);
  $('attach-file').addEventListener('change', () => setAttachment($('attach-file').files?.[0] ?? null));
  $('attached-remove').addEventListener('click', () => setAttachment(null));
}

// ---- start --------------------------------------------------------------------------------------------------

function start() {
  setupComposer();
  const box = $('messages');
  box.addEventListener('scroll', () => {
    state.stickToBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
  });
  // Relative timestamps ("closes in 29 minutes") stay current.
  setInterval(() => {
    for (const node of document.querySelectorAll('time.timestamp[data-ts]')) {
      node.textContent = formatTimestamp(Number(node.dataset.ts), node.dataset.style);
    }
  }, 15_000);
  window.addEventListener('resize', () => {
    if (state.stickToBottom) scrollToBottom();
  });
  connect();
  $('input').focus();
}

start();
