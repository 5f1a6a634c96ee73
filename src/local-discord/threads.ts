/**
 * Discord's rules for messages in threads (developers/topics/threads.mdx, "Active & Archived Threads"): an
 * archived thread takes no edits (400/50083 "Thread is archived"); sending a message unarchives it, unless a
 * moderator also locked it, in which case the send is refused the same way.
 */
import { Errors } from './errors.ts';
import type { ChannelState } from './store.ts';

/** Before editing a message in `channel`. */
export function assertEditable(channel: ChannelState): void {
  if (channel.thread?.archived) throw Errors.threadArchived();
}

/** Before sending a message to `channel`; returns true when the send unarchived it (tell the clients). */
export function prepareSend(channel: ChannelState, now: () => number): boolean {
  const thread = channel.thread;
  if (!thread?.archived) return false;
  if (thread.locked) throw Errors.threadArchived();
  thread.archived = false;
  thread.archiveTimestamp = new Date(now()).toISOString();
  return true;
}
