/**
 * Interactions the server has created, and Discord's rules on their tokens: one initial callback, within
 * the response deadline (3 s); webhook routes only after it and until the token expires (15 min).
 */
import type { APIModalInteractionResponseCallbackData } from 'discord.js';
import { Errors } from '../errors.ts';
import type { InteractionState, OpenedModal, WireInteractionMetadata } from '../types.ts';

export const InteractionType = { Ping: 1, ApplicationCommand: 2, MessageComponent: 3, Autocomplete: 4, ModalSubmit: 5 } as const;

export interface InteractionRecord {
  id: string;
  token: string;
  type: number;
  guildId: string;
  channelId: string;
  userId: string;
  commandName: string | null;
  customId: string | null;
  sourceMessageId: string | null;
  /** For a modal submit: the interaction whose type-9 response opened the modal. */
  openerId: string | null;
  createdAt: number;
  tokenExpiresAt: number;
  attachmentSizeLimit: number;
  response: { type: number; at: number } | null;
  deferred: boolean;
  ephemeral: boolean;
  modal: APIModalInteractionResponseCallbackData | null;
  originalMessageId: string | null;
  followUpIds: string[];
  autocompleteChoices: unknown[] | null;
  /** For an autocomplete: the type of the option being typed (its choices must be of that type). */
  focusedOptionType: number | null;
  metadata: WireInteractionMetadata;
}

export interface RegistryOptions {
  applicationId: string;
  responseDeadlineMs: number;
  now: () => number;
}

export class InteractionRegistry {
  readonly #byId = new Map<string, InteractionRecord>();
  readonly #byToken = new Map<string, InteractionRecord>();
  /** Modals opened by type-9 responses, oldest first. */
  readonly modals: OpenedModal[] = [];

  constructor(private readonly options: RegistryOptions) {}

  add(record: InteractionRecord): void {
    this.#byId.set(record.id, record);
    this.#byToken.set(record.token, record);
  }

  get(id: string): InteractionRecord | undefined {
    return this.#byId.get(id);
  }

  /** The interaction a `POST /interactions/{id}/{token}/callback` may answer. */
  forCallback(id: string, token: string): InteractionRecord {
    const record = this.#byId.get(id);
    if (!record || record.token !== token) throw Errors.unknownInteraction();
    if (record.response) throw Errors.alreadyAcknowledged();
    // Past the deadline Discord has already shown "This interaction failed" and forgotten it.
    if (this.options.now() - record.createdAt > this.options.responseDeadlineMs) throw Errors.unknownInteraction();
    return record;
  }

  /** The interaction behind `/webhooks/{application}/{token}/...`. */
  forWebhook(applicationId: string, token: string): InteractionRecord {
    if (applicationId !== this.options.applicationId) throw Errors.unknownWebhook();
    const record = this.#byToken.get(token);
    if (!record) throw Errors.invalidWebhookToken();
    const now = this.options.now();
    if (now >= record.tokenExpiresAt) throw Errors.invalidWebhookToken();
    if (!record.response) {
      // A missed deadline invalidates the token; before it, there is simply no webhook message yet.
      if (now - record.createdAt > this.options.responseDeadlineMs) throw Errors.invalidWebhookToken();
      throw Errors.unknownWebhook();
    }
    if (record.type === 4) throw Errors.unknownWebhook();
    return record;
  }

  state(record: InteractionRecord): InteractionState {
    return {
      id: record.id,
      token: record.token,
      type: record.type,
      guildId: record.guildId,
      channelId: record.channelId,
      userId: record.userId,
      commandName: record.commandName,
      customId: record.customId,
      sourceMessageId: record.sourceMessageId,
      createdAt: record.createdAt,
      tokenExpiresAt: record.tokenExpiresAt,
      acknowledged: record.response !== null,
      acknowledgedAfterMs: record.response ? record.response.at - record.createdAt : null,
      responseType: record.response?.type ?? null,
      deferred: record.deferred,
      ephemeral: record.ephemeral,
      modalShown: record.modal !== null,
      modal: record.modal ? structuredClone(record.modal) : null,
      originalMessageId: record.originalMessageId,
      followUpIds: [...record.followUpIds],
      autocompleteChoices: record.autocompleteChoices ? structuredClone(record.autocompleteChoices) : null,
    };
  }
}
