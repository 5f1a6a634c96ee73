/**
 * Discord's JSON errors: `{ message, code, errors? }` with the HTTP status Discord uses for each, so that
 * @discordjs/rest raises a DiscordAPIError with the same `code` and `status` as against Discord itself.
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: number,
    message: string,
    readonly errors?: Record<string, unknown>,
  ) {
    super(message);
  }

  toJSON(): Record<string, unknown> {
    return { message: this.message, code: this.code, ...(this.errors ? { errors: this.errors } : {}) };
  }
}

export const Errors = {
  unauthorized: () => new ApiError(401, 0, '401: Unauthorized'),
  notFound: () => new ApiError(404, 0, '404: Not Found'),
  methodNotAllowed: () => new ApiError(405, 0, '405: Method Not Allowed'),
  unknownApplication: () => new ApiError(404, 10002, 'Unknown Application'),
  unknownChannel: () => new ApiError(404, 10003, 'Unknown Channel'),
  unknownGuild: () => new ApiError(404, 10004, 'Unknown Guild'),
  unknownMember: () => new ApiError(404, 10007, 'Unknown Member'),
  unknownMessage: () => new ApiError(404, 10008, 'Unknown Message'),
  unknownUser: () => new ApiError(404, 10013, 'Unknown User'),
  unknownWebhook: () => new ApiError(404, 10015, 'Unknown Webhook'),
  unknownCommand: () => new ApiError(404, 10063, 'Unknown application command'),
  unknownInteraction: () => new ApiError(404, 10062, 'Unknown interaction'),
  tooLarge: () => new ApiError(413, 40005, 'Request entity too large'),
  alreadyAcknowledged: () => new ApiError(400, 40060, 'Interaction has already been acknowledged'),
  cannotEditOthers: () => new ApiError(403, 50005, 'Cannot edit a message authored by another user'),
  emptyMessage: () => new ApiError(400, 50006, 'Cannot send an empty message'),
  missingAccess: () => new ApiError(403, 50001, 'Missing Access'),
  missingPermissions: () => new ApiError(403, 50013, 'Missing Permissions'),
  invalidWebhookToken: () => new ApiError(401, 50027, 'Invalid Webhook Token'),
  threadArchived: () => new ApiError(400, 50083, 'Thread is archived'),
  cannotReplyWithoutHistory: () => new ApiError(403, 160002, 'Cannot reply without permission to read message history'),
  invalidJson: () => new ApiError(400, 50109, 'The request body contains invalid JSON.'),
};

/** One entry of a 50035 "Invalid Form Body" error, addressed by a path such as `embeds.0.title`. */
export interface FieldProblem {
  path: string;
  code: string;
  message: string;
}

/** Builds Discord's nested `errors` object: `{ embeds: { 0: { title: { _errors: [...] } } } }`. */
export function invalidFormBody(problems: FieldProblem[]): ApiError {
  const errors: Record<string, unknown> = {};
  for (const p of problems) {
    let node = errors;
    for (const key of p.path.split('.')) {
      node[key] ??= {};
      node = node[key] as Record<string, unknown>;
    }
    const list = (node._errors ??= []) as unknown[];
    list.push({ code: p.code, message: p.message });
  }
  return new ApiError(400, 50035, 'Invalid Form Body', errors);
}

/**
 * A user-side action (slash command, click, modal submit) that Discord's own client would not allow, such
 * as an unregistered command or a click on a button that is not there. Thrown to the caller, not the bot.
 */
export class UserActionError extends Error {
  override name = 'UserActionError';
}
