/**
 * What the bot does about each error Discord can answer while it posts a result (or edits the message that
 * shows it). Every code the bot can meet there is listed with the one thing to do about it; a code not listed
 * is tried again later and, after the result's last try, given up: never "try the same thing first, forever".
 *
 * Codes: discord-api-docs developers/topics/opcodes-and-status-codes.mdx (JSON error codes).
 */
import { DiscordAPIError, HTTPError, RateLimitError } from 'discord.js';

export type PostErrorAction =
  /** A passing problem (Discord overloaded, rate limits, the network): the same request later. */
  | 'retry'
  /** The interaction token cannot be used (expired, unknown): post with the bot token instead. */
  | 'token-gone'
  /** The message to edit is gone, or can no longer be edited: post a new one (not a reply to it). */
  | 'message-gone'
  /** The reply itself was refused (no Read Message History): post without referencing the request. */
  | 'no-reply'
  /** The body was refused (50035): the same result without the embed's long fields, then plain text. */
  | 'compact'
  /** The file was refused (too large, no Attach Files): text saying how to get the file instead. */
  | 'no-file'
  /** Missing permissions; what was refused depends on the request (a reply, a file, or the send itself). */
  | 'forbidden'
  /** The channel cannot take our message at all (deleted, hidden from us, archived and locked...): give up. */
  | 'give-up'
  /** Not a code we know: try again later, give up after the last try. */
  | 'unknown';

/** JSON error code → action. */
export const POST_ERROR_CODES: ReadonlyMap<number, PostErrorAction> = new Map<number, PostErrorAction>([
  // The interaction token.
  [10015, 'token-gone'], // Unknown webhook
  [10062, 'token-gone'], // Unknown interaction
  [50027, 'token-gone'], // Invalid webhook token (expired after 15 minutes)
  // The message to edit.
  [10008, 'message-gone'], // Unknown message (deleted)
  [30046, 'message-gone'], // Maximum number of edits to messages older than 1 hour reached
  [50005, 'message-gone'], // Cannot edit a message authored by another user
  [50021, 'message-gone'], // Cannot execute action on a system message
  // Replies.
  [160002, 'no-reply'], // Cannot reply without permission to read message history
  // The body and the file.
  [50035, 'compact'], // Invalid form body
  [50006, 'compact'], // Cannot send an empty message
  [50109, 'compact'], // The request body contains invalid JSON
  [40005, 'no-file'], // Request entity too large
  [50045, 'no-file'], // File uploaded exceeds the maximum size
  [50046, 'no-file'], // Invalid file uploaded
  [30015, 'no-file'], // Maximum number of attachments in a message reached
  [50013, 'forbidden'], // Missing permissions
  // The channel, for good.
  [10003, 'give-up'], // Unknown channel (deleted)
  [10004, 'give-up'], // Unknown guild (the bot was removed)
  [50001, 'give-up'], // Missing access
  [50008, 'give-up'], // Cannot send messages in a non-text channel
  [50024, 'give-up'], // Cannot execute action on this channel type
  [40058, 'give-up'], // Cannot send a message in a forum channel
  [50083, 'give-up'], // Operation on an archived thread (a send only fails there when it is also locked)
  [160005, 'give-up'], // Thread is locked
  [20009, 'give-up'], // Explicit content cannot be sent to the desired recipient(s)
  [40004, 'give-up'], // Send messages has been temporarily disabled
  // Passing.
  [20016, 'retry'], // Slowmode rate limit
  [20028, 'retry'], // Channel write rate limit
  [20029, 'retry'], // Server write rate limit
  [40062, 'retry'], // Service resource is being rate limited
  [130000, 'retry'], // API resource is currently overloaded
]);

export interface ClassifiedPostError {
  action: PostErrorAction;
  /** Discord's JSON code, or the HTTP status for errors without one; undefined for network errors. */
  code: number | undefined;
}

/** What to do about an error thrown by a discord.js REST call (or by building the message). */
export function classifyPostError(error: unknown): ClassifiedPostError {
  if (error instanceof DiscordAPIError) {
    const code = typeof error.code === 'number' ? error.code : undefined;
    const known = code !== undefined ? POST_ERROR_CODES.get(code) : undefined;
    if (known) return { action: known, code };
    if (error.status === 401) return { action: 'token-gone', code: code || 401 };
    if (error.status === 413) return { action: 'no-file', code: code || 413 };
    if (error.status === 429 || error.status >= 500) return { action: 'retry', code: code || error.status };
    return { action: 'unknown', code: code || error.status };
  }
  if (error instanceof RateLimitError) return { action: 'retry', code: 429 };
  if (error instanceof HTTPError) return { action: error.status >= 500 || error.status === 429 ? 'retry' : 'unknown', code: error.status };
  // Building the message failed (a discord.js builder refused a value): like a refused body.
  if (isBuilderError(error)) return { action: 'compact', code: undefined };
  // Timeouts, resets, DNS: the request may not have reached Discord.
  return { action: 'retry', code: undefined };
}

/** The validation errors of discord.js's builders (@sapphire/shapeshift) and of discord.js itself. */
function isBuilderError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const names = `${error.name} ${error.constructor?.name ?? ''}`;
  return /ValidationError|CombinedPropertyError|CombinedError|ExpectedConstraintError|ExpectedValidationError|MissingPropertyError|DiscordjsRangeError|DiscordjsTypeError|DiscordjsError/.test(names);
}

/** One sentence for the requester about why their result could not be posted here. */
export function undeliverableReason(code: number | undefined): string {
  switch (code) {
    case 10003:
      return 'this channel was deleted';
    case 10004:
      return 'I am no longer in this server';
    case 50001:
      return 'I can no longer see this channel';
    case 50013:
      return 'I am not allowed to post here (Send Messages, Embed Links or Attach Files was taken away)';
    case 50083:
    case 160005:
      return 'this thread is archived and locked';
    case 50008:
    case 50024:
    case 40058:
      return 'this kind of channel does not take my messages';
    case 50035:
      return 'Discord refused the message';
    case 40005:
    case 413:
      return 'Discord refused the file';
    case undefined:
      return 'Discord could not be reached';
    default:
      return `Discord kept refusing it (error ${code})`;
  }
}
