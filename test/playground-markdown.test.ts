/**
 * The playground's markdown renders backslash escapes as Discord does: `\*` shows `*` and formats nothing,
 * code keeps its backslashes; so a prompt the bot escaped (safePrompt) shows exactly as it was typed.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { safePrompt } from '../src/bot/replies/text.ts';
import { markdown } from '../src/playground/static/markdown.js';

/** The text a reader sees: tags dropped, entities decoded. */
function shown(html: string): string {
  return html
    .replace(/<[^>]+>/g, '')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&');
}

describe('backslash escapes', () => {
  it('show the character instead of the backslash, and format nothing', () => {
    const html = markdown('\\*not italic\\* \\_nor this\\_ \\~\\~nor strike\\~\\~ \\`not code\\`');
    assert.equal(shown(html), '*not italic* _nor this_ ~~nor strike~~ `not code`');
    assert.ok(!/<em>|<s>|<code/.test(html), html);
  });

  it('defuse mentions, headings, quotes and lists', () => {
    assert.equal(shown(markdown('\\<@123> \\<#456>', { userName: () => 'alice' })), '<@123> <#456>');
    assert.equal(shown(markdown('\\# not a heading')), '# not a heading');
    assert.ok(!markdown('\\# x').includes('md-h1'));
    assert.ok(!markdown('\\> x').includes('md-quote'));
    assert.ok(!markdown('\\- x').includes('md-list'));
  });

  it('leave backslashes in code and before letters alone', () => {
    assert.equal(shown(markdown('`\\*`')), '\\*');
    assert.equal(shown(markdown('a\\b \\\\')), 'a\\b \\');
  });

  it('a prompt escaped by the bot shows as it was typed', () => {
    const typed = '**bold** _it_ ~~s~~ `c` ||spoiler|| # h -# sub > q [x](https://e.x) <:e:1> \\ (a) : 😀';
    assert.equal(shown(markdown(safePrompt(typed, 2000))), typed);
  });
});
