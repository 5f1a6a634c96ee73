// Types of markdown.js (plain JS, loaded by the page as is) for the TypeScript tests.

export interface MarkdownContext {
  userName?: (id: string) => string;
  channelName?: (id: string) => string;
  links?: boolean;
}

export function escapeHtml(text: string): string;
export function markdown(text: string, ctx?: MarkdownContext): string;
export function formatTimestamp(unix: number, style?: string, now?: number): string;
